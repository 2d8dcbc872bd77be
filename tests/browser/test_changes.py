"""In a real browser: an on-call engineer switches a namespace to STRICT, reads the preview,
confirms, and sees the namespace STRICT once meshui has synced the cluster."""

import re

import pytest
from playwright.sync_api import expect

from policies.services.sync import cluster_sync
from tests.changes.conftest import shop_mesh


@pytest.fixture
def kube(kube):
    """The shared API server double (tests/conftest.py), seeded with the shop mesh."""
    kube.seed(shop_mesh())
    return kube


def test_oncall_switches_a_namespace_to_strict_with_preview_and_sees_it_after_sync(
    page,
    log_in,
    live_server,
    kube,
    screenshot,
):
    cluster_sync(trigger="test")
    log_in(page, "oncall", username="olga")

    page.goto(f"{live_server.url}/namespaces/shop/")
    expect(page.locator(".page-head .badge").first).to_have_text("PERMISSIVE")
    page.get_by_role("link", name="Switch to STRICT…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Change the mode of namespace shop")
    page.get_by_label("Reason").fill("INC-1234: enforce mTLS after the audit")
    page.get_by_role("button", name="Preview the change").click()

    # The preview: the cluster's dry run, what moves, the exact object and the kubectl command.
    expect(page.locator(".dry-run")).to_contain_text("The cluster accepted the change")
    expect(page.locator(".impact")).to_contain_text("shop/batch")
    expect(page.locator(".impact")).to_contain_text("legacy/mainframe")
    expect(page.locator("#change-yaml")).to_contain_text("mode: STRICT")
    expect(page.locator("#change-kubectl")).to_contain_text("kubectl apply -f - <<'EOF'")
    assert kube.get("PeerAuthentication", "shop", "default") is None
    screenshot(page, "change-preview")

    page.get_by_role("button", name="Apply to the cluster").click()
    expect(page.locator("#change-synced")).to_contain_text("In the snapshot")
    assert kube.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"

    page.get_by_role("link", name="namespace page").click()
    expect(page.locator(".page-head .badge").first).to_have_text("STRICT")
    expect(page.locator("#namespace-changes")).to_contain_text("olga")
    screenshot(page, "namespace-after-change")


def test_admin_creates_a_workload_policy_with_its_destination_rule(
    page, log_in, live_server, kube, screenshot
):
    cluster_sync(trigger="test")
    log_in(page, "admin", username="alice")

    # Scope first; with JavaScript each pick swaps the form in place and the URL follows.
    page.goto(f"{live_server.url}/changes/peer-authentication/new/")
    expect(page.locator("#step-policy")).to_have_count(0)
    page.get_by_label("Workload (selector)").check()
    expect(page.locator("#pick-namespace")).to_be_visible()
    expect(page).to_have_url(re.compile(r"scope=workload"))
    page.locator("#pick-namespace").press_sequentially("sh")
    page.locator("#namespace-matches").get_by_role("link", name="shop").click()
    expect(page).to_have_url(re.compile(r"namespace=shop"))
    page.locator("#pick-workload").press_sequentially("ca")
    expect(page.locator("#workload-matches")).not_to_contain_text("batch")
    page.locator("#workload-matches").get_by_role("link", name=re.compile("cart")).click()
    # Its labels, ticked: matchLabels is picked, not typed.
    expect(page.get_by_label("app=cart")).to_be_checked()
    expect(page.locator("#id_name")).to_have_value("cart")
    expect(
        page.get_by_label("Also apply the matching DestinationRule (ISTIO_MUTUAL)")
    ).to_be_checked()
    page.get_by_label("Per-port modes").fill("8080=PERMISSIVE")
    page.get_by_label("Reason").fill("SEC-88: cart is STRICT, metrics port open")
    screenshot(page, "change-new-policy-form")
    page.get_by_role("button", name="Preview the change").click()

    expect(page.locator("#change-yaml")).to_contain_text("kind: DestinationRule")
    expect(page.locator("#change-yaml")).to_contain_text("host: cart.shop.svc.cluster.local")
    expect(page.locator(".impact-table")).to_contain_text("shop/cart")
    page.get_by_role("button", name="Apply to the cluster").click()

    expect(page.locator("#change-synced")).to_be_visible()
    assert kube.get("PeerAuthentication", "shop", "cart")["spec"]["portLevelMtls"] == {
        "8080": {"mode": "PERMISSIVE"}
    }
    assert kube.get("DestinationRule", "shop", "cart-mtls") is not None

    page.goto(f"{live_server.url}/audit/")
    expect(page.locator("table.audit")).to_contain_text("PeerAuthentication applied")
    screenshot(page, "audit-log")
