"""The fleet's pages: the overview of every cluster, the switcher keeping the URL's state,
every page in one cluster or all, a namespace side by side, and registering a cluster."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from policies.models import Cluster
from policies.services.sync import cluster_sync
from tests.fleet.conftest import payments_mesh, register, sync_member
from tests.sync.builders import peer_auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(client_as) -> Client:
    return client_as("auditor")


@pytest.fixture
def admin(client_as) -> Client:
    return client_as("admin")


def test_fleet_overview_lists_each_cluster_with_mode_state_and_findings(fleet, auditor):
    page = auditor.get("/fleet/").content.decode()
    assert 'id="cluster-test-cluster"' in page and 'id="cluster-west"' in page
    assert "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS" in page
    assert "STRICT in test-cluster" in page and "PERMISSIVE in west" in page
    assert page.count('class="state state-connected"') == 2


def test_fleet_overview_shows_a_failing_cluster_as_stale_while_the_other_is_current(
    fleet, auditor, settings
):
    fleet.west.inject_fault(401, times=10)
    with pytest.raises(Exception, match="Unauthorized"):
        sync_member("west")
    page = auditor.get("/fleet/").content.decode()
    assert 'id="fleet-stale-banner"' in page
    assert "<strong>west</strong>: The last sync failed (Unauthorized" in page
    assert "test-cluster</strong>:" not in page
    assert 'class="state state-failing"' in page


def test_every_page_shows_the_cluster_the_url_names_and_remembers_it(fleet, auditor):
    configured = auditor.get("/namespaces/payments/").content.decode()
    assert "badge-STRICT" in configured.split("Effective mode")[0] or "STRICT" in configured
    west_page = auditor.get("/namespaces/payments/?cluster=west").content.decode()
    assert '<span class="cluster-name">west</span>' in west_page
    assert "PERMISSIVE" in west_page
    # Later links without ?cluster= stay in west (the session keeps the choice).
    overview = auditor.get("/").content.decode()
    assert '<span class="cluster-name">west</span>' in overview
    assert "Snapshot of <strong>west</strong>" in overview
    back = auditor.get("/?cluster=test-cluster").content.decode()
    assert "Snapshot of <strong>test-cluster</strong>" in back


def test_an_unknown_cluster_in_the_url_is_a_400_that_says_so(fleet, auditor):
    response = auditor.get("/namespaces/?cluster=nowhere")
    assert response.status_code == 400
    assert "No cluster named &quot;nowhere&quot; is in the fleet" in response.content.decode()


def test_all_clusters_sends_list_pages_to_their_fleet_form_keeping_the_filters(fleet, auditor):
    response = auditor.get("/namespaces/?cluster=all&q=pay")
    assert response.status_code == 302 and response["Location"] == "/fleet/namespaces/?q=pay"
    assert auditor.get("/?cluster=all")["Location"] == "/fleet/"
    assert auditor.get("/findings/?cluster=all")["Location"] == "/fleet/findings/"


def test_switcher_links_keep_the_pages_filters_in_each_cluster(fleet, auditor):
    page = auditor.get(
        "/fleet/switch/", {"next": "/namespaces/?mode=STRICT&sort=-name&page=3"}
    ).content.decode()
    assert 'href="/namespaces/?mode=STRICT&amp;sort=-name&amp;cluster=west"' in page
    assert 'href="/namespaces/?mode=STRICT&amp;sort=-name&amp;cluster=all"' in page
    assert "cluster=test-cluster" in page
    elsewhere = auditor.get("/fleet/switch/", {"next": "https://evil.example/"}).content.decode()
    switcher = elsewhere.split('<nav id="cluster-switcher"')[1].split("</nav>")[0]
    assert "evil.example" not in switcher and 'href="/?cluster=west"' in switcher


def test_namespace_side_by_side_lists_its_mode_in_every_cluster(fleet, auditor):
    page = auditor.get("/fleet/namespaces/payments/").content.decode()
    assert 'id="in-test-cluster"' in page and 'id="in-west"' in page
    east_row = page.split('id="in-test-cluster"')[1].split("</tr>")[0]
    west_row = page.split('id="in-west"')[1].split("</tr>")[0]
    assert "badge-STRICT" in east_row and "badge-PERMISSIVE" in west_row
    assert "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS" in page
    assert auditor.get("/fleet/namespaces/nowhere/").status_code == 404


def test_fleet_namespace_list_marks_namespaces_whose_mode_differs(fleet, auditor):
    page = auditor.get("/fleet/namespaces/?differs=on").content.decode()
    assert ">payments</a>" in page and ">shop</a>" not in page
    everything = auditor.get("/fleet/namespaces/").content.decode()
    assert ">shop</a>" in everything
    assert auditor.get("/fleet/namespaces/?q=" + "x" * 64).status_code == 400


def test_fleet_findings_carry_a_cluster_column(fleet, auditor):
    # A selector policy in the root namespace: Istio ignores it, meshui says so (in west).
    fleet.west.seed([peer_auth("istio-system", "selected", selector={"app": "api"})])
    sync_member("west")
    page = auditor.get("/fleet/findings/").content.decode()
    assert '<th scope="col">Cluster</th>' in page
    row = page.split("<code>ROOT_NAMESPACE_SELECTOR_IGNORED</code>")[1].split("</tr>")[0]
    assert row.rstrip().endswith("<td>west</td>")


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/fleet/", "/fleet/namespaces/payments/", "/fleet/namespaces/"])
def test_fleet_pages_query_count_does_not_grow_with_the_number_of_clusters(
    fleet, north, auditor, url
):
    two = _queries(auditor, url)
    north.seed(payments_mesh(payments_mode="DISABLE"))
    register("north", north)
    sync_member("north")
    assert _queries(auditor, url) == two


def test_admin_registers_a_cluster_from_the_form(kube, west, admin, auditor):
    west.seed(payments_mesh())
    response = admin.post(
        "/fleet/clusters/new/",
        {"name": "west", "source": "kubeconfig", "kubeconfig": str(west.kubeconfig)},
    )
    assert response.status_code == 302
    assert Cluster.objects.get(name="west").check_error == ""
    assert auditor.get("/fleet/clusters/new/").status_code == 403
    refused = admin.post(
        "/fleet/clusters/new/", {"name": "east", "source": "kubeconfig", "kubeconfig": "/nope"}
    )
    assert refused.status_code == 400 and "No file at /nope" in refused.content.decode()


def test_the_cluster_form_groups_each_credential_sources_fields_under_its_heading(admin):
    page = admin.get("/fleet/clusters/new/").content.decode()
    groups = {
        "source-kubeconfig": ("For a kubeconfig file", ["kubeconfig", "context"]),
        "source-token": ("For a service-account token", ["server", "token_file", "ca_file"]),
        "source-remote-secret": (
            "For an Istio remote secret",
            ["secret_namespace", "secret_name", "secret_key"],
        ),
    }
    for group, (heading, fields) in groups.items():
        fieldset = page[page.index(f'id="{group}"') :]
        fieldset = fieldset[: fieldset.index("</fieldset>")]
        assert f"<legend>{heading}</legend>" in fieldset
        assert sorted(re.findall(r'name="(\w+)"', fieldset)) == sorted(fields)


def test_removing_the_shown_cluster_sends_the_session_back_to_the_configured_one(fleet, admin):
    admin.get("/?cluster=west")
    admin.post("/fleet/clusters/west/remove/")
    page = admin.get("/").content.decode()
    assert "Snapshot of <strong>test-cluster</strong>" in page


def test_a_services_workloads_differing_across_clusters_is_found_from_the_snapshots(
    kube, west, auditor
):
    kube.seed(payments_mesh(payments_mode="STRICT"))
    # west: the namespace is STRICT too, but a workload policy makes api PERMISSIVE there.
    west.seed(
        [
            *payments_mesh(payments_mode="STRICT"),
            peer_auth("payments", "api-permissive", mode="PERMISSIVE", selector={"app": "api"}),
        ]
    )
    register("west", west)
    cluster_sync(trigger="test")
    sync_member("west")
    page = auditor.get("/fleet/").content.decode()
    assert "SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS" in page
    assert "Service payments/api has endpoints in several clusters" in page
    assert "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS" not in page


def test_the_mesh_wide_mode_differing_across_clusters_names_each_root_namespace(
    kube, west, auditor
):
    kube.seed(payments_mesh(mesh_mode="STRICT"))
    west.seed(payments_mesh(mesh_mode="PERMISSIVE"))
    register("west", west)
    cluster_sync(trigger="test")
    sync_member("west")
    page = auditor.get("/fleet/").content.decode()
    assert "MESH_MODE_DIFFERS_ACROSS_CLUSTERS" in page
    assert "root namespace istio-system" in page
