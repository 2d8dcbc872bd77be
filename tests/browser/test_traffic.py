"""Readiness for STRICT in a real browser: the on-call's work list, then the traffic panel."""

import re

from playwright.sync_api import expect

from policies.services.traffic import traffic_read
from tests.factories import snapshot_with
from tests.traffic import meshes
from tests.traffic.test_pages import NAMESPACES, WORKLOADS


def test_filter_permissive_and_ready_then_read_a_namespaces_plaintext_callers(
    logged_in_page,
    live_server,
    traffic_settings,
    mesh_prometheus,
):
    traffic_settings.MESHUI_PROMETHEUS_URL = mesh_prometheus.url
    snapshot_with(namespaces=NAMESPACES, workloads=WORKLOADS)
    assert traffic_read(now=meshes.END_AT).status == "succeeded"
    page = logged_in_page("oncall")
    expect(page.locator("#ready-to-enforce")).to_contain_text("2 of 6 PERMISSIVE namespaces")

    page.get_by_role("link", name="Namespaces", exact=True).click()
    page.get_by_label("Ready for STRICT").select_option("not_ready")
    expect(page).to_have_url(re.compile(r"readiness=not_ready"))
    expect(page.locator(".result-count")).to_contain_text("of 3 namespaces")

    page.get_by_role("link", name="legacy", exact=True).click()
    panel = page.locator("#traffic")
    expect(panel).to_contain_text("Not ready: 2 plaintext callers")
    expect(panel).to_contain_text("unknown caller (no sidecar or outside the mesh)")
    panel.get_by_text("The PromQL behind these figures").click()
    expect(panel.locator("pre").first).to_contain_text('reporter=~"destination|waypoint"')
