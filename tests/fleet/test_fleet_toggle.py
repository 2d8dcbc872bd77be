"""Changes pick their cluster(s): a form names its cluster and its confirm applies there; the
on-call toggle in every cluster where the namespace exists, previewed and applied per
cluster with per-cluster outcomes (partial success said as such, retry per cluster); on-call
scopes limited to clusters; timed restores and retries in the cluster of their change."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from policies.models import AuditEntry, OnCallScope, TimedRestore
from policies.services.changes import timed_restores_sweep
from policies.services.oncall_scopes import oncall_scope_create
from tests.fleet.conftest import sync_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def oncall(client_as) -> Client:
    return client_as("oncall")


def mode_in(double, namespace="payments") -> str | None:
    policy = double.get("PeerAuthentication", namespace, "default")
    return policy["spec"]["mtls"]["mode"] if policy else None


def preview_everywhere(
    client: Client, *, mode="STRICT", clusters=("test-cluster", "west"), **extra
):
    return client.post(
        "/fleet/namespaces/payments/mode/",
        {"mode": mode, "reason": "INC-7: same mode everywhere", "clusters": clusters, **extra},
    )


def confirm_fields(page: str) -> dict:
    """The confirm form's hidden fields, as the browser would post them."""
    import re

    form = page.split('class="confirm-form"')[1].split("</form>")[0]
    fields: dict = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        fields.setdefault(name, []).append(value)
    return {name: values if len(values) > 1 else values[0] for name, values in fields.items()}


def test_toggle_in_every_cluster_previews_each_and_applies_what_each_previewed(fleet, oncall):
    preview = preview_everywhere(oncall)
    page = preview.content.decode()
    assert 'id="preview-test-cluster"' in page and 'id="preview-west"' in page
    assert page.count("The cluster accepted the change") == 2 or page.count("✓") == 2
    assert mode_in(fleet.west) == "PERMISSIVE"  # a preview changes nothing

    outcome = oncall.post("/fleet/namespaces/payments/mode/", confirm_fields(page))
    page = outcome.content.decode()
    assert "Applied in every cluster chosen" in page
    assert mode_in(fleet.west) == "STRICT" and mode_in(fleet.east) == "STRICT"
    entries = AuditEntry.objects.filter(action="namespace_mode_set", outcome="applied")
    assert sorted(entries.values_list("cluster", flat=True)) == ["", "west"]


def test_partial_success_is_reported_per_cluster_with_a_retry_for_the_failed_one(fleet, oncall):
    page = preview_everywhere(oncall).content.decode()
    fleet.west.inject_fault(503, verb="patch", resource="peerauthentications", times=5)
    result = oncall.post("/fleet/namespaces/payments/mode/", confirm_fields(page)).content.decode()
    assert "Partly applied: 1 of 2 clusters" in result
    west_row = result.split('id="outcome-west"')[1].split("</tr>")[0]
    assert "not applied" in west_row
    assert "/namespaces/payments/mode/?cluster=west&amp;mode=STRICT" in west_row
    assert mode_in(fleet.east) == "STRICT" and mode_in(fleet.west) == "PERMISSIVE"


def test_a_cluster_that_changed_since_its_preview_is_refused_there_only(fleet, oncall):
    page = preview_everywhere(oncall).content.decode()
    # Someone changes west's policy after the preview (kubectl, as a person's tool does).
    body = json.dumps({"spec": {"mtls": {"mode": "DISABLE"}}}).encode()
    request = urllib.request.Request(
        f"{fleet.west.url}/apis/security.istio.io/v1/namespaces/payments/peerauthentications/default",
        data=body,
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    urllib.request.urlopen(request).close()
    result = oncall.post("/fleet/namespaces/payments/mode/", confirm_fields(page)).content.decode()
    assert "Partly applied: 1 of 2 clusters" in result
    assert mode_in(fleet.west) == "DISABLE"  # their change stands


def test_a_confirm_without_a_preview_in_a_cluster_applies_nothing_there(fleet, oncall):
    fields = confirm_fields(preview_everywhere(oncall, clusters=("test-cluster",)).content.decode())
    fields["clusters"] = ["test-cluster", "west"]
    result = oncall.post("/fleet/namespaces/payments/mode/", fields).content.decode()
    assert "Not previewed in this cluster" in result
    assert mode_in(fleet.west) == "PERMISSIVE"


def test_oncall_scope_limited_to_one_cluster_refuses_the_others(fleet, users, oncall):
    users["oncall"].groups.create(name="payments-oncall")
    oncall_scope_create(group="payments-oncall", namespace_patterns=["payments"], clusters=["west"])
    page = preview_everywhere(oncall).content.decode()
    east = page.split('id="preview-test-cluster"')[1].split("</article>")[0]
    assert "Refused" in east and "on-call scope" in east
    west = page.split('id="preview-west"')[1].split("</article>")[0]
    assert "Refused" not in west
    result = oncall.post("/fleet/namespaces/payments/mode/", confirm_fields(page)).content.decode()
    assert mode_in(fleet.west) == "STRICT" and mode_in(fleet.east) == "STRICT"  # east: as seeded
    assert 'id="outcome-test-cluster"' not in result  # refused at preview, never applied
    assert OnCallScope.objects.get().clusters == ["west"]


def test_a_change_form_posts_its_cluster_so_the_confirm_goes_where_the_preview_did(fleet, oncall):
    form = oncall.get("/namespaces/payments/mode/?cluster=west").content.decode()
    assert 'name="cluster" value="west"' in form and "Cluster: <strong>west</strong>" in form
    oncall.get("/?cluster=test-cluster")  # another tab switches the session back
    preview = oncall.post(
        "/namespaces/payments/mode/",
        {"mode": "STRICT", "reason": "INC-8", "cluster": "west"},
    ).content.decode()
    fields = confirm_fields(preview)
    assert fields["cluster"] == "west"
    oncall.post("/namespaces/payments/mode/", {**fields, "confirm": "1"})  # the Apply button
    assert mode_in(fleet.west) == "STRICT"
    applied = AuditEntry.objects.filter(action="namespace_mode_set", outcome="applied")
    assert list(applied.values_list("cluster", flat=True)) == ["west"]


def test_a_timed_change_in_one_cluster_is_restored_in_that_cluster(fleet, oncall, settings):
    settings.REDIS_URL = ""
    page = preview_everywhere(oncall, clusters=("west",), duration_minutes="15").content.decode()
    oncall.post("/fleet/namespaces/payments/mode/", confirm_fields(page))
    assert mode_in(fleet.west) == "STRICT"
    restore = TimedRestore.objects.get()
    assert restore.cluster == fleet.west_cluster and restore.restore_mode == "PERMISSIVE"
    sync_member("west")
    timed_restores_sweep(now=timezone.now() + timedelta(minutes=16))
    assert mode_in(fleet.west) == "PERMISSIVE"
    assert mode_in(fleet.east) == "STRICT"  # the configured cluster never touched
    assert AuditEntry.objects.filter(action="restore", cluster="west").exists()
