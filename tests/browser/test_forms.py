"""In a real browser (issue 15): the new-policy form without JavaScript, a second namespace-wide
policy stopped before the preview, a delete that looks and reads destructive, and exemptions
revoked with a reason and renewed in one step."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from policies.models import AuditEntry, Exemption
from policies.services.sync import cluster_sync
from tests.browser.conftest import LAPTOP_VIEWPORT, TIMEOUT_MS
from tests.changes.conftest import shop_mesh
from tests.engine.builders import peer_auth
from tests.reports.builders import exemption_build

NEW = "/changes/peer-authentication/new/"


@pytest.fixture
def kube(kube):
    kube.seed(shop_mesh())
    return kube


@pytest.fixture
def no_js_page(browser, transactional_db, settings):
    """A tab with JavaScript off: every step must still work with links and plain forms."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    context = browser.new_context(viewport=LAPTOP_VIEWPORT, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_without_javascript_an_admin_picks_scope_namespace_and_workload_step_by_step(
    no_js_page, log_in, live_server, kube
):
    page = no_js_page
    cluster_sync(trigger="test")
    log_in(page, "admin", username="alice")
    page.goto(f"{live_server.url}{NEW}")

    page.get_by_label("Workload (selector)").check()
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"scope=workload"))
    page.locator("#pick-namespace").fill("sh")
    page.get_by_role("button", name="Continue").click()
    page.locator("#namespace-matches").get_by_role("link", name="shop").click()
    # The namespace's workloads, each with its labels, as links.
    expect(page.locator("#workload-matches")).to_contain_text("app=cart")
    page.locator("#workload-matches").get_by_role("link", name=re.compile("batch")).click()
    expect(page.get_by_label("app=batch")).to_be_checked()
    expect(page.locator("#id_match_labels")).to_have_count(0)
    page.get_by_label("Reason").fill("SEC-90 batch talks plaintext to nobody")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.locator("#change-yaml")).to_contain_text("app: batch")
    page.get_by_role("button", name="Apply to the cluster").click()
    expect(page.locator(".outcome")).to_contain_text("Applied")
    applied = kube.get("PeerAuthentication", "shop", "batch")
    assert applied["spec"]["selector"] == {"matchLabels": {"app": "batch"}}


def test_a_second_namespace_wide_policy_is_stopped_before_the_preview(
    page, log_in, live_server, kube, screenshot
):
    kube.seed([peer_auth("shop", name="default", mode="PERMISSIVE")])
    cluster_sync(trigger="test")
    log_in(page, "admin", username="alice")
    page.goto(f"{live_server.url}{NEW}")
    page.get_by_label("Namespace-wide").check()
    page.locator("#pick-namespace").press_sequentially("sho")
    page.locator("#namespace-matches").get_by_role("link", name="shop").click()

    stop = page.locator("#ignored-policy")
    expect(stop).to_contain_text("Istio would ignore a new namespace-wide policy here")
    expect(stop).to_contain_text("shop/default (mode PERMISSIVE")
    expect(page.locator("#step-policy")).to_have_count(0)
    screenshot(page, "change-new-policy-ignored")
    page.get_by_role("link", name="Edit the mode of shop/default…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Edit the mode of PeerAuthentication shop/default"
    )


def test_an_admin_deletes_a_policy_through_a_preview_that_says_what_is_lost(
    page, log_in, live_server, kube, screenshot
):
    kube.seed([peer_auth("shop", name="default", mode="STRICT")])
    cluster_sync(trigger="test")
    log_in(page, "admin", username="alice")
    page.goto(f"{live_server.url}/policies/PeerAuthentication/shop/default/")
    page.get_by_role("link", name="Delete PeerAuthentication…").click()
    page.get_by_label("Reason").fill("INC-77 replaced by the mesh-wide policy")
    page.get_by_role("button", name="Preview the delete").click()

    what = page.locator("section", has=page.get_by_role("heading", name="What is deleted"))
    expect(what.locator("#delete-loss")).to_contain_text("removes mode STRICT for namespace shop")
    expect(what.locator("#change-yaml")).to_contain_text("name: default")
    button = page.get_by_role("button", name="Delete PeerAuthentication shop/default")
    # Red, unlike the blue primary buttons: rgb(161, 38, 27) is --disable.
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(161, 38, 27)"
    screenshot(page, "change-delete-preview")
    button.click()
    expect(page.locator(".outcome")).to_contain_text("Applied")
    assert kube.get("PeerAuthentication", "shop", "default") is None


def test_an_admin_renews_then_revokes_an_exemption_with_reasons(
    logged_in_page, live_server, screenshot
):
    now = timezone.now()
    exemption_build(
        namespace="legacy", created_at=now - timedelta(days=20), expires_at=now + timedelta(days=3)
    )
    page = logged_in_page("admin")
    page.goto(f"{live_server.url}/exemptions/")
    page.get_by_role("link", name="Renew…").click()
    new_expiry = (now + timedelta(days=60)).date()
    page.get_by_label("New expiry date").fill(new_expiry.isoformat())
    page.get_by_label("Reason").fill("RISK-4 the bridge moves in Q2")
    screenshot(page, "exemption-renew")
    page.get_by_role("button", name="Renew the exemption").click()
    expect(page.locator(".messages")).to_contain_text(f"renewed until {new_expiry.isoformat()}")
    expect(page.locator("table.exemptions")).to_contain_text("Renewed")
    assert Exemption.objects.filter(renewed_from__isnull=False).count() == 1

    page.get_by_role("link", name="Revoke…").click()
    expect(page.locator("#revoke-loss")).to_contain_text("count against the coverage score")
    page.get_by_role("button", name="Revoke the exemption for legacy").click()
    # No reason, no revoke: the browser holds the form back (the server would refuse too).
    assert page.get_by_label("Reason").evaluate("el => el.validity.valueMissing")
    assert Exemption.objects.filter(revoked_at__isnull=False, renewal__isnull=True).count() == 0
    page.get_by_label("Reason").fill("RISK-4 closed: the bridge speaks mTLS")
    screenshot(page, "exemption-revoke")
    page.get_by_role("button", name="Revoke the exemption for legacy").click()
    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.locator("table.exemptions")).to_contain_text("Revoked")
    assert list(AuditEntry.objects.filter(outcome="applied").values_list("action", flat=True)) == [
        "exemption_revoke",
        "exemption_renew",
    ]
