"""In a real browser, the on-call journey on a cluster like a real one (issue 12): a scoped
on-call engineer switches a namespace whose policy `kubectl apply` made to STRICT for a while
(meshui takes the mode over and says so), sees it STRICT after the sync and back when the
restore runs; is refused on the root namespace; is told before any form that a namespace
Argo CD manages would be reverted; and is offered nothing outside the team's scope."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from policies.models import TimedRestore
from policies.services.changes import timed_restores_sweep
from policies.services.oncall_scopes import oncall_scope_create
from policies.services.sync import cluster_sync
from tests.changes.conftest import argocd_policy, kubectl_applied_policy, shop_mesh
from tests.engine.builders import namespace, peer_auth


@pytest.fixture
def kube(kube):
    """The shop mesh, `shop`'s policy made by client-side kubectl, `payments`' by Argo CD, a
    mesh-wide policy, and `billing` outside the team's scope."""
    kube.seed(shop_mesh())
    kube.seed([namespace("payments"), namespace("billing")])
    kube.seed([peer_auth("istio-system", mode="PERMISSIVE")])
    kubectl_applied_policy(kube, namespace="shop", mode="PERMISSIVE")
    argocd_policy(kube, namespace="payments", mode="PERMISSIVE")
    return kube


def mode_in(kube, namespace_name):
    return kube.get("PeerAuthentication", namespace_name, "default")["spec"]["mtls"]["mode"]


def test_scoped_oncall_toggles_a_kubectl_made_policy_and_meets_the_limits(
    page, log_in, live_server, kube, django_user_model
):
    cluster_sync(trigger="test")
    oncall_scope_create(group="shop-oncall", namespace_patterns=["shop", "payments"])
    log_in(page, "oncall", username="olga")
    olga = django_user_model.objects.get(username="olga")
    olga.groups.add(Group.objects.get_or_create(name="shop-oncall")[0])

    # Out of scope: nothing offered on the list, and the form itself is refused.
    page.goto(f"{live_server.url}/namespaces/")
    billing_row = page.locator("tr", has=page.get_by_role("link", name="billing", exact=True))
    expect(billing_row).to_contain_text("Outside your on-call scope")
    response = page.goto(f"{live_server.url}/namespaces/billing/mode/")
    assert response.status == 403
    expect(page.locator(".denial")).to_contain_text("does not include namespace billing")

    # The root namespace: refused, pointing to the admin's mesh-wide form.
    response = page.goto(f"{live_server.url}/namespaces/istio-system/mode/")
    assert response.status == 403
    expect(page.locator(".denial")).to_contain_text("mesh-wide")
    assert mode_in(kube, "istio-system") == "PERMISSIVE"

    # A reconciler's policy: told before any form that the change would be reverted.
    page.goto(f"{live_server.url}/namespaces/payments/mode/")
    expect(page.locator("#policy-owner")).to_contain_text("argocd-controller")
    expect(page.locator("#policy-owner")).to_contain_text("revert")

    # A person's tool: the mode is taken over, for 15 minutes.
    page.goto(f"{live_server.url}/namespaces/shop/mode/")
    expect(page.locator("#policy-owner")).to_contain_text("kubectl-client-side-apply")
    page.get_by_label("Reason").fill("INC-77: plaintext probe found")
    page.get_by_label("For how long").select_option("15")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.locator("#policy-owner")).to_contain_text(
        "This takes .spec.mtls.mode over from kubectl-client-side-apply"
    )
    page.get_by_role("button", name="Apply to the cluster").click()
    expect(page.locator("#change-synced")).to_contain_text("In the snapshot")
    assert mode_in(kube, "shop") == "STRICT"

    page.goto(f"{live_server.url}/namespaces/")
    shop_row = page.locator("tr", has=page.get_by_role("link", name="shop", exact=True))
    expect(shop_row).to_contain_text("STRICT until")

    # The restore falls due (moved to now rather than waited for; the real-clock tests in
    # tests/changes/test_timed_restore_runs.py wait for it) and the sweep runs it.
    TimedRestore.objects.filter(namespace="shop").update(
        restore_at=timezone.now() - timedelta(seconds=1)
    )
    timed_restores_sweep()
    assert mode_in(kube, "shop") == "PERMISSIVE"
    cluster_sync(trigger="test")
    page.goto(f"{live_server.url}/namespaces/shop/")
    expect(page.locator(".page-head .badge").first).to_have_text("PERMISSIVE")
