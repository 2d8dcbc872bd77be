"""Deleting a policy someone else deleted first says so, instead of "Applied"."""

from __future__ import annotations

import pytest

from policies.models import AuditEntry
from tests.changes.conftest import resync, shop_mesh

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_on_a_destination_rule(kube, users, client):
    """An admin's client, and the delete form as filled in for a DestinationRule in shop."""
    kube.seed(
        [
            *shop_mesh(),
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"namespace": "shop", "name": "cart-mtls"},
                "spec": {"host": "cart", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
            },
        ]
    )
    resync()
    seen = kube.get("DestinationRule", "shop", "cart-mtls")["metadata"]["resourceVersion"]
    client.force_login(users["admin"])
    form = {"resource_version": seen, "reason": "not needed", "confirm": "1"}
    return client, "/changes/DestinationRule/shop/cart-mtls/delete/", form


def page_after(client, response) -> str:
    assert response.status_code == 302, response.content.decode()[-500:]
    return client.get(response["Location"]).content.decode()


def test_a_delete_that_removed_the_policy_says_applied(admin_on_a_destination_rule):
    client, url, form = admin_on_a_destination_rule
    page = page_after(client, client.post(url, form))
    assert 'class="outcome outcome-applied">Applied</span>' in page
    assert "already gone" not in page


def test_deleting_a_policy_already_gone_says_so_not_applied(admin_on_a_destination_rule):
    client, url, form = admin_on_a_destination_rule
    client.post(url, form)  # the first delete (another admin, another tab)
    page = page_after(client, client.post(url, form))
    assert "Already gone" in page
    assert "Nothing was deleted: DestinationRule shop/cart-mtls was already gone" in page
    assert ">Applied<" not in page and "Applied, waiting" not in page
    latest = AuditEntry.objects.order_by("-id").first()
    assert latest.dry_run_result == "It was already gone."
