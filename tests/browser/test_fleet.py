"""In a real browser: an admin registers a second cluster, sees where the two clusters
disagree about a namespace, and switches it in both clusters with an outcome per cluster."""

from __future__ import annotations

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
    page.get_by_label("Name", exact=True).fill("west")
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
