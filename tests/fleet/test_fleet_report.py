"""Reports and exports for the fleet: a whole-fleet report (each cluster's summary, the
fleet's totals and the findings across clusters) and `?cluster=all` on the report's exports
(every cluster's rows, each naming its cluster), within the user's cluster limit."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter

import pytest

from policies import cluster
from policies.models import Snapshot
from policies.services.cluster_limits import cluster_limit_set
from policies.services.sync import cluster_sync
from tests.fleet.conftest import payments_mesh, register, sync_member
from tests.fleet.test_fleet_toggle import confirm_fields, preview_everywhere
from tests.sync.builders import deployment, namespace

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    return b"".join(response.streaming_content).decode()


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_of(response))))


def test_all_clusters_namespace_export_holds_every_clusters_rows(fleet, client_as):
    response = client_as("auditor").get("/reports/namespaces.csv?cluster=all")
    assert response.status_code == 200
    assert 'filename="meshui-all-clusters-namespaces-' in response["Content-Disposition"]
    rows = csv_of(response)
    assert rows[0][-1] == "cluster"
    payments = {row[-1]: row[1] for row in rows[1:] if row[0] == "payments"}
    assert payments == {"test-cluster": "STRICT", "west": "PERMISSIVE"}
    per_cluster = Counter(row[-1] for row in rows[1:])
    assert per_cluster["test-cluster"] == per_cluster["west"] == len(rows[1:]) // 2


@pytest.mark.parametrize("table", ["workloads", "findings"])
def test_all_clusters_exports_of_every_table_end_with_the_rows_cluster(fleet, client_as, table):
    rows = csv_of(client_as("auditor").get(f"/reports/{table}.csv?cluster=all"))
    assert rows[0][-1] == "cluster"
    assert {row[-1] for row in rows[1:]} <= {"test-cluster", "west"}
    if table == "workloads":
        assert {row[-1] for row in rows[1:]} == {"test-cluster", "west"}


def test_all_clusters_json_export_names_each_rows_cluster(fleet, client_as):
    rows = json.loads(text_of(client_as("auditor").get("/reports/namespaces.json?cluster=all")))
    assert {(row["name"], row["cluster"]) for row in rows if row["name"] == "payments"} == {
        ("payments", "test-cluster"),
        ("payments", "west"),
    }


def test_all_clusters_audit_export_is_the_log_once(fleet, client_as):
    oncall = client_as("oncall")
    oncall.post(
        "/fleet/namespaces/payments/mode/",
        confirm_fields(preview_everywhere(oncall).content.decode()),
    )
    rows = csv_of(client_as("auditor").get("/reports/audit.csv?cluster=all"))
    header = rows[0]
    applied = [
        row[-1]
        for row in rows[1:]
        if row[header.index("outcome")] == "applied"
        and row[header.index("action")] == "namespace_mode_set"
    ]
    assert sorted(applied) == ["test-cluster", "west"]


def test_all_clusters_exports_respect_the_users_cluster_limit(fleet, users, client_as):
    cluster_limit_set(username="aud", clusters=["west"])
    rows = csv_of(client_as("auditor").get("/reports/namespaces.csv?cluster=all"))
    assert {row[-1] for row in rows[1:]} == {"west"}


def test_a_session_left_on_all_clusters_keeps_one_cluster_export_links_one_cluster(
    fleet, client_as
):
    auditor = client_as("auditor")
    auditor.get("/reports/?cluster=all")
    rows = csv_of(auditor.get("/reports/namespaces.csv"))
    assert {row[-1] for row in rows[1:]} == {"test-cluster"}


def test_the_whole_report_json_for_all_clusters_says_where_to_look(fleet, client_as):
    response = client_as("auditor").get("/reports/report.json?cluster=all")
    assert response.status_code == 400
    assert "?cluster=all" in response.content.decode()


def test_all_clusters_export_with_bad_input_is_a_400_in_words(fleet, client_as):
    response = client_as("auditor").get("/reports/namespaces.csv?cluster=all&at=yesterday-ish")
    assert response.status_code == 400
    assert "The export request is not valid" in response.content.decode()


def test_fleet_report_sums_the_clusters_and_lists_the_cross_cluster_findings(fleet, client_as):
    page = client_as("auditor").get("/fleet/report/").content.decode()
    east = page.split('id="report-cluster-test-cluster"')[1].split("</tr>")[0]
    west = page.split('id="report-cluster-west"')[1].split("</tr>")[0]
    totals = page.split('id="report-fleet-totals"')[1].split("</tr>")[0]
    snapshots = {s.cluster_name: s for s in Snapshot.objects.all()}
    east_snapshot, west_snapshot = snapshots["test-cluster"], snapshots["west"]

    def modes(snapshot) -> str:
        return f"{snapshot.namespaces_strict} / {snapshot.namespaces_permissive} / 0"

    assert modes(east_snapshot) in east and modes(west_snapshot) in west
    assert west_snapshot.namespaces_permissive == 1 and east_snapshot.namespaces_permissive == 0
    strict = east_snapshot.namespaces_strict + west_snapshot.namespaces_strict
    assert f"{strict} / 1 / 0" in totals
    assert f">{east_snapshot.namespaces_total + west_snapshot.namespaces_total}<" in totals
    assert "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS" in page
    assert "/reports/namespaces.csv?cluster=all" in page


def test_fleet_report_of_a_limited_user_holds_only_their_clusters(fleet, users, client_as):
    cluster_limit_set(username="aud", clusters=["west"])
    page = client_as("auditor").get("/fleet/report/").content.decode()
    assert 'id="report-cluster-west"' in page and "report-cluster-test-cluster" not in page
    assert "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS" not in page


def words_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def fleet_on_paper(kube, west, db):
    """Both clusters with a `batch` namespace (no injection) whose Deployment has no sidecar:
    STRICT on paper only, by the mesh's STRICT. payments is STRICT in test-cluster and
    PERMISSIVE in west. Enforced / declared / workload-wide STRICT: test-cluster 2 / 3 / 3
    of 3, west 1 / 2 / 2 of 3."""
    batch = [namespace("batch"), deployment("batch", "report", sidecar=False)]
    kube.seed([*payments_mesh(payments_mode="STRICT"), *batch])
    west.seed([*payments_mesh(payments_mode="PERMISSIVE"), *batch])
    register("west", west)
    cluster_sync(trigger="test")
    sync_member("west")
    yield
    cluster.forget_clients()


def test_fleet_report_totals_lead_with_strict_enforced_and_show_declared_as_each_cluster_does(
    fleet_on_paper, client_as
):
    page = client_as("auditor").get("/fleet/report/").content.decode()
    east = words_of(page.split('id="report-cluster-test-cluster"')[1].split("</tr>")[0])
    totals = words_of(page.split('id="report-fleet-totals"')[1].split("</tr>")[0])
    summary = words_of(page.split('id="fleet-totals"')[1].split("</section>")[0])
    snapshots = {s.cluster_name: s for s in Snapshot.objects.all()}
    assert [
        (s.workloads_strict_enforced, s.workloads_strict_declared, s.workloads_strict)
        for s in (snapshots["test-cluster"], snapshots["west"])
    ] == [(2, 3, 3), (1, 2, 2)]
    # test-cluster: 2 of 3 enforced (67 %), 3 of 3 declared. The fleet: 3 of 6 enforced
    # (50 %), 5 of 6 declared (83 %), the same 83 % STRICT by workload mode: not the headline.
    assert "67 % enforced" in east and "100 % declared" in east
    assert "50 % enforced" in totals and "83 % declared" in totals
    assert totals.count("%") == 2
    assert "Workloads STRICT enforced 50 % 3 of 6" in summary
    assert "83 % declared" in summary


def test_fleet_totals_count_strict_by_mode_for_a_cluster_synced_before_enforcement_was_recorded(
    fleet_on_paper, client_as
):
    # west's snapshot as meshui before 0.2 stored it: neither figure recorded.
    Snapshot.objects.filter(cluster_name="west").update(
        workloads_strict_enforced=None, workloads_strict_declared=None
    )
    page = client_as("auditor").get("/fleet/report/").content.decode()
    west = words_of(page.split('id="report-cluster-west"')[1].split("</tr>")[0])
    totals = words_of(page.split('id="report-fleet-totals"')[1].split("</tr>")[0])
    summary = words_of(page.split('id="fleet-totals"')[1].split("</section>")[0])

    # test-cluster 2 enforced, west 2 STRICT by mode: 4 of 6, and no fleet-wide declared share.
    assert "67 % STRICT" in west and "declared" not in west
    assert "67 % STRICT" in totals and "declared" not in totals
    assert "by workload mode where enforcement was not recorded" in totals
    assert "Workloads STRICT enforced 67 % 4 of 6" in summary
    assert "by workload mode in clusters whose snapshot predates meshui 0.2" in summary
