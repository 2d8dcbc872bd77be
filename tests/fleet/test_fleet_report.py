"""Reports and exports for the fleet: a whole-fleet report (each cluster's summary, the
fleet's totals and the findings across clusters) and `?cluster=all` on the report's exports
(every cluster's rows, each naming its cluster), within the user's cluster limit."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest

from policies.models import Snapshot
from policies.services.cluster_limits import cluster_limit_set
from tests.fleet.test_fleet_toggle import confirm_fields, preview_everywhere

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
