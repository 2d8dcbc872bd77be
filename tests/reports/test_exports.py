"""CSV and JSON exports: stable columns, spreadsheet-safe cells, the snapshot of the date."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from policies.exports import TABLE_COLUMNS, spreadsheet_safe
from tests.factories import engine_finding
from tests.reports.builders import audit_build, exemption_build, moment, snapshot_build

pytestmark = pytest.mark.django_db

HOSTILE = "=cmd|' /C calc'!A0"


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def snapshot():
    return snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "STRICT", "legacy": "PERMISSIVE"},
        workloads=[
            {
                "namespace": "shop",
                "name": "api",
                "mode": "STRICT",
                "ports": {"9090": "PERMISSIVE", "10250": "DISABLE"},
            },
            {"namespace": "legacy", "name": "batch", "mode": "PERMISSIVE", "has_sidecar": False},
        ],
        findings=[
            {
                "code": "DUPLICATE_WORKLOAD_POLICY",
                "severity": "warning",
                "namespace": "shop",
                "name": "api",
                "kind": "Deployment",
            }
        ],
    )


# The published column lists (README "Export columns"). Changing one breaks users' scripts:
# this test is meant to fail then, so the change is made on purpose and documented.
# `cluster` was appended in 0.2 (fleets, issue 16), at the end as the contract allows.
PUBLISHED_COLUMNS = {
    "namespaces": "name,mode,source,policy,injection,is_root,workloads_total,workloads_strict,"
    "workloads_permissive,workloads_disable,workloads_with_port_exceptions,workloads_with_sidecar,"
    "findings_count,exempt,exemption_owner,exemption_expires_at,reason_chain,"
    "readiness,plaintext_share,workloads_strict_declared,workloads_strict_enforced,cluster",
    "workloads": "namespace,name,kind,mode,source,policy,ports,has_sidecar,ambient,findings_count,"
    "exempt,exemption_owner,exemption_expires_at,reason_chain,readiness,plaintext_share,"
    "strict_declared,strict_enforced,coverage_rule,host_network,cluster",
    "findings": "severity,code,namespace,name,kind,message,cluster",
    "audit": "id,created_at,username,role,action,target_kind,target_namespace,target_name,"
    "reason,outcome,error,dry_run_result,restore_of,change_id,mode_from,mode_to,cluster",
}


@pytest.mark.parametrize("table", PUBLISHED_COLUMNS)
def test_csv_header_is_the_published_column_list(client_as, auditor_user, snapshot, table):
    response = client_as(auditor_user).get(f"/reports/{table}.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert ",".join(csv_rows(body(response))[0]) == PUBLISHED_COLUMNS[table]
    assert ",".join(TABLE_COLUMNS[table]) == PUBLISHED_COLUMNS[table]


def test_a_namespace_named_like_a_formula_is_exported_as_text(client_as, auditor_user):
    snapshot_build(taken_at=moment("2026-11-01 09:00"), namespaces={HOSTILE: "PERMISSIVE"})
    rows = csv_rows(body(client_as(auditor_user).get("/reports/namespaces.csv")))

    assert rows[1][0] == "'" + HOSTILE
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("shop", "shop"),
        ("a=b", "a=b"),
        (True, "true"),
        (None, ""),
        (3, "3"),
    ],
)
def test_spreadsheet_safe_prefixes_only_formula_starts(cell, written):
    assert spreadsheet_safe(cell) == written


def test_workloads_csv_spells_ports_and_the_reason_chain(client_as, auditor_user, snapshot):
    rows = csv_rows(body(client_as(auditor_user).get("/reports/workloads.csv")))
    by_name = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}

    assert by_name["api"]["ports"] == "9090=PERMISSIVE 10250=DISABLE"
    assert by_name["batch"]["has_sidecar"] == "false"
    assert by_name["batch"]["reason_chain"] == (
        "mesh - (no policy, absent) > namespace PERMISSIVE (legacy/default, decided)"
    )


def test_exports_mark_exempt_rows(client_as, auditor_user, snapshot):
    exemption_build(
        namespace="legacy",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2027-01-01 00:00"),
    )
    text = body(client_as(auditor_user).get("/reports/workloads.csv", {"at": "2026-11-02"}))
    by_name = {row[1]: row for row in csv_rows(text)[1:]}

    assert by_name["batch"][10:13] == ["true", "team-legacy", "2027-01-01T00:00:00Z"]
    assert by_name["api"][10] == "false"


def test_findings_json_uses_the_posture_field_names(client_as, auditor_user, snapshot):
    findings = json.loads(body(client_as(auditor_user).get("/reports/findings.json")))

    assert findings == [
        {
            "code": "DUPLICATE_WORKLOAD_POLICY",
            "severity": "warning",
            "namespace": "shop",
            "name": "api",
            "kind": "Deployment",
            "message": engine_finding("DUPLICATE_WORKLOAD_POLICY", namespace="shop", name="api")[1],
        }
    ]


def test_report_json_carries_the_posture_json_fields(client_as, auditor_user, snapshot):
    document = json.loads(body(client_as(auditor_user).get("/reports/report.json")))

    assert {"root_namespace", "mesh", "namespaces", "workloads", "findings"} <= document.keys()
    assert set(document["mesh"]) >= {"mode", "policy", "reason"}
    assert {"name", "mode", "policy", "source", "reason"} <= document["namespaces"][0].keys()
    workload = next(w for w in document["workloads"] if w["name"] == "api")
    contract_fields = "namespace name kind mode policy source ports port_reasons has_sidecar"
    assert set(f"{contract_fields} ambient reason".split()) <= workload.keys()
    assert workload["ports"] == {"9090": "PERMISSIVE", "10250": "DISABLE"}
    assert document["snapshot"]["taken_at"] == "2026-11-01T09:00:00Z"
    assert document["snapshot"]["cluster_name"] == "prod-eu"
    assert document["coverage"]["namespaces_strict_share"] == 0.5


def test_audit_export_holds_the_entries_of_the_period(client_as, auditor_user, snapshot):
    audit_build(created_at=moment("2026-10-20 10:00"), reason='=HYPERLINK("http://evil")')
    audit_build(created_at=moment("2026-06-01 10:00"), reason="too old")
    rows = csv_rows(body(client_as(auditor_user).get("/reports/audit.csv", {"at": "2026-11-01"})))

    assert len(rows) == 2
    entry = dict(zip(rows[0], rows[1], strict=True))
    assert entry["created_at"] == "2026-10-20T10:00:00Z"
    assert entry["reason"] == '\'=HYPERLINK("http://evil")'
    assert entry["outcome"] == "applied"


def test_export_at_a_past_date_uses_that_snapshot(client_as, auditor_user, snapshot):
    snapshot_build(taken_at=moment("2026-11-20 09:00"), namespaces={"shop": "DISABLE"})
    past = csv_rows(
        body(client_as(auditor_user).get("/reports/namespaces.csv", {"at": "2026-11-05"}))
    )
    now = csv_rows(body(client_as(auditor_user).get("/reports/namespaces.csv")))

    assert [row[:2] for row in past[1:]] == [["legacy", "PERMISSIVE"], ["shop", "STRICT"]]
    assert [row[:2] for row in now[1:]] == [["shop", "DISABLE"]]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/reports/pods.csv", "table: Select a valid choice"),
        ("/reports/namespaces.xlsx", "format: Select a valid choice"),
        ("/reports/namespaces.csv?at=soon", "is not a date or time"),
    ],
)
def test_a_bad_export_request_is_refused_in_words(client_as, auditor_user, snapshot, url, message):
    response = client_as(auditor_user).get(url)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_export_before_the_first_snapshot_is_a_404_in_words(client_as, auditor_user, snapshot):
    response = client_as(auditor_user).get("/reports/namespaces.csv", {"at": "2020-01-01"})

    assert response.status_code == 404
    assert "No snapshot had been taken by that date" in response.content.decode()


# --- The `report` command --------------------------------------------------------------------


def test_report_command_writes_the_json_report_for_a_date(snapshot, tmp_path):
    snapshot_build(taken_at=moment("2026-11-20 09:00"), namespaces={"shop": "DISABLE"})
    output = tmp_path / "evidence.json"
    call_command("report", "--at", "2026-11-05", "--format", "json", "--output", str(output))

    document = json.loads(output.read_text())
    assert document["snapshot"]["taken_at"] == "2026-11-01T09:00:00Z"
    assert [namespace["name"] for namespace in document["namespaces"]] == ["legacy", "shop"]


def test_report_command_writes_one_csv_table(snapshot, tmp_path):
    output = tmp_path / "workloads.csv"
    call_command("report", "--format", "csv", "--table", "workloads", "--output", str(output))

    rows = csv_rows(output.read_text())
    assert ",".join(rows[0]) == PUBLISHED_COLUMNS["workloads"]
    assert len(rows) == 3


@pytest.mark.parametrize("at", ["31/12/2026", "2026-13-01", "tomorrow"])
def test_report_command_refuses_a_bad_date_with_exit_code_2(snapshot, tmp_path, at):
    with pytest.raises(CommandError) as refused:
        call_command("report", "--at", at, "--output", str(tmp_path / "x.json"))

    assert refused.value.returncode == 2
    assert "--at" in str(refused.value)
    assert not (tmp_path / "x.json").exists()


def test_report_command_without_a_snapshot_exits_1(db, tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("report", "--output", str(tmp_path / "x.json"))

    assert refused.value.returncode == 1
    assert "No snapshot had been taken" in str(refused.value)


def test_report_command_bad_date_exits_2_with_a_message_not_a_traceback():
    import subprocess
    import sys
    from pathlib import Path

    manage = Path(__file__).resolve().parents[2] / "manage.py"
    result = subprocess.run(
        [sys.executable, str(manage), "report", "--at", "31/12/2026"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 2
    assert "'31/12/2026' is not a date or time" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_command_unwritable_output_exits_2(snapshot, tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("report", "--output", str(tmp_path / "missing-folder" / "x.json"))

    assert refused.value.returncode == 2
    assert "Cannot write" in str(refused.value)
