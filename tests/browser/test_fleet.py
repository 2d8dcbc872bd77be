"""In a real browser: an admin registers a second cluster, sees where the two clusters
disagree about a namespace, and switches it in both clusters with an outcome per cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from policies.services.sync import cluster_sync
from tests.fleet.conftest import north_server, payments_mesh, sync_member, west, west_server

# The second cluster's API server double (tests/fleet/conftest.py's fixtures).
__all__ = ["north_server", "west", "west_server"]


@pytest.fixture
def two_clusters(kube, west):
    kube.seed(payments_mesh(payments_mode="STRICT"))
    west.seed(payments_mesh(payments_mode="PERMISSIVE"))
    cluster_sync(trigger="test")
    return kube, west


def test_admin_registers_a_second_cluster_and_sees_the_cross_cluster_finding(
    page, log_in, live_server, two_clusters, screenshot
):
    _kube, west = two_clusters
    log_in(page, "admin", username="alice")
    page.goto(f"{live_server.url}/fleet/")
    page.get_by_role("link", name="Register a cluster").click()
    page.get_by_role("textbox", name=re.compile(r"^Name\b")).fill("west")
    page.get_by_label("A kubeconfig file and context").check()
    page.get_by_role("textbox", name="Kubeconfig file").fill(str(west.kubeconfig))
    page.get_by_role("button", name="Register and check the connection").click()
    expect(page.locator(".messages")).to_contain_text("Registered west (Kubernetes v1.32")
    sync_member("west")  # the first sync a worker runs; eager here, and instant

    page.goto(f"{live_server.url}/fleet/")
    expect(page.locator("#cluster-west")).to_contain_text("connected")
    expect(page.locator("#fleet-findings")).to_contain_text(
        "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS"
    )
    expect(page.locator("#fleet-findings")).to_contain_text("PERMISSIVE in west")
    screenshot(page, "fleet-overview")

    page.locator("#fleet-findings").get_by_role("link", name="payments").click()
    expect(page.locator("#in-test-cluster .badge")).to_have_text("STRICT")
    expect(page.locator("#in-west .badge")).to_have_text("PERMISSIVE")
    screenshot(page, "fleet-namespace")

    # The switcher keeps the page: the namespace list filtered to PERMISSIVE, in west.
    page.goto(f"{live_server.url}/namespaces/?mode=PERMISSIVE")
    page.locator(".cluster-switch").click()
    page.get_by_role("link", name="west").click()
    expect(page).to_have_url(f"{live_server.url}/namespaces/?mode=PERMISSIVE&cluster=west")
    expect(page.locator("#namespace-table")).to_contain_text("payments")

    # Switch payments to STRICT in both clusters: a preview per cluster, an outcome per cluster.
    page.goto(f"{live_server.url}/fleet/namespaces/payments/")
    page.get_by_role("link", name="Switch to STRICT in every cluster…").click()
    expect(page.get_by_label("test-cluster")).to_be_checked()
    expect(page.get_by_label("west")).to_be_checked()
    page.get_by_label("Reason").fill("INC-4242: one mode in every cluster")
    page.get_by_role("button", name="Preview in each cluster").click()
    expect(page.locator("#preview-west .dry-run")).to_contain_text("accepted")
    expect(page.locator("#preview-test-cluster .dry-run")).to_contain_text("accepted")
    screenshot(page, "fleet-toggle-preview")
    page.get_by_role("button", name="Apply in test-cluster, west").click()
    expect(page.locator("#fleet-outcomes h2")).to_have_text("Applied in every cluster chosen")
    expect(page.locator("#outcome-west")).to_contain_text("applied")
    expect(page.locator("#outcome-test-cluster")).to_contain_text("applied")
    screenshot(page, "fleet-toggle-outcomes")
    assert west.get("PeerAuthentication", "payments", "default")["spec"]["mtls"]["mode"] == "STRICT"
    assert (
        _kube.get("PeerAuthentication", "payments", "default")["spec"]["mtls"]["mode"] == "STRICT"
    )

    # Once both clusters have synced, the cross-cluster finding is gone.
    cluster_sync(trigger="test")
    sync_member("west")
    page.goto(f"{live_server.url}/fleet/")
    expect(page.locator("#fleet-findings")).to_contain_text("The clusters agree")


@pytest.fixture
def synced_fleet(two_clusters):
    from tests.fleet.conftest import register

    _kube, west = two_clusters
    register("west", west)
    sync_member("west")
    return two_clusters


def test_fleet_report_shows_each_cluster_the_totals_and_the_all_cluster_exports(
    page, log_in, live_server, synced_fleet, screenshot
):
    log_in(page, "auditor", username="erin")
    page.goto(f"{live_server.url}/fleet/")
    page.get_by_role("link", name="Fleet report and exports →").click()
    expect(page.locator("#report-cluster-test-cluster")).to_be_visible()
    expect(page.locator("#report-cluster-west")).to_contain_text("/ 1 / 0")
    expect(page.locator("#report-fleet-totals")).to_contain_text("Fleet")
    expect(page.locator("#fleet-report-findings")).to_contain_text(
        "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS"
    )
    with page.expect_download() as download:
        page.get_by_test_id("fleet-export-namespaces").click()
    assert download.value.suggested_filename.startswith("meshui-all-clusters-namespaces-")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"test-cluster", "west"}
    screenshot(page, "fleet-report")


def test_a_user_limited_to_one_cluster_sees_and_switches_to_that_cluster_only(
    page, log_in, live_server, synced_fleet, screenshot
):
    from policies.services.cluster_limits import cluster_limit_set

    log_in(page, "admin", username="wendy")
    cluster_limit_set(username="wendy", clusters=["west"])
    page.goto(f"{live_server.url}/namespaces/")
    expect(page.locator(".cluster-switch")).to_contain_text("west")
    page.locator(".cluster-switch").click()
    expect(page.get_by_role("link", name="west", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="test-cluster", exact=True)).to_have_count(0)
    page.goto(f"{live_server.url}/fleet/")
    expect(page.locator("#cluster-west")).to_be_visible()
    expect(page.locator("#cluster-test-cluster")).to_have_count(0)
    # Registering holds for every cluster: not offered to an admin with a limit.
    expect(page.get_by_role("link", name="Register a cluster")).to_have_count(0)
    page.goto(f"{live_server.url}/namespaces/?cluster=test-cluster")
    expect(page.locator("main")).to_contain_text("test-cluster is not one of them")
    screenshot(page, "cluster-limit-refused")
