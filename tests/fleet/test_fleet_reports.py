"""Reports and exports per cluster with a `cluster` column at the end, /metrics with a
`cluster` label in a fleet, and `posture --kubeconfig` with several `--context` values."""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.fleet.test_fleet_toggle import confirm_fields, preview_everywhere

pytestmark = pytest.mark.django_db


def csv_of(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_exports_name_the_cluster_in_their_last_column(fleet, client_as):
    auditor = client_as("auditor")
    west_rows = csv_of(auditor.get("/reports/namespaces.csv?cluster=west"))
    assert west_rows[0][-1] == "cluster"
    payments = next(row for row in west_rows if row[0] == "payments")
    assert payments[1] == "PERMISSIVE" and payments[-1] == "west"
    east_rows = csv_of(auditor.get("/reports/namespaces.csv?cluster=test-cluster"))
    payments = next(row for row in east_rows if row[0] == "payments")
    assert payments[1] == "STRICT" and payments[-1] == "test-cluster"


def test_audit_export_names_each_entrys_cluster(fleet, client_as):
    oncall = client_as("oncall")
    page = preview_everywhere(oncall).content.decode()
    oncall.post("/fleet/namespaces/payments/mode/", confirm_fields(page))
    rows = csv_of(client_as("auditor").get("/audit/export.csv"))
    header, entries = rows[0], rows[1:]
    assert header[-1] == "cluster"
    applied = [
        row
        for row in entries
        if row[header.index("outcome")] == "applied"
        and row[header.index("action")] == "namespace_mode_set"
    ]
    assert sorted(row[-1] for row in applied) == ["test-cluster", "west"]


def test_metrics_carry_a_cluster_label_in_a_fleet(fleet, client, settings):
    settings.MESHUI_METRICS_TOKEN = "t0ken"  # noqa: S105 - a test token
    text = client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).content.decode()
    assert 'meshui_namespaces{cluster="west",mode="PERMISSIVE"}' in text or (
        'meshui_namespaces{mode="PERMISSIVE",cluster="west"}' in text
    )
    assert 'cluster="test-cluster"' in text
    assert 'meshui_sync_consecutive_failures{cluster="west"} 0.0' in text


@pytest.fixture
def two_context_kubeconfig(fleet, tmp_path) -> str:
    """One kubeconfig with a context per cluster, as `kubectl config view --flatten` of a
    fleet prints it."""
    merged = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for name, double in (("east", fleet.east), ("west", fleet.west)):
        merged["clusters"].append({"name": name, "cluster": {"server": double.url}})
        merged["users"].append({"name": name, "user": {}})
        merged["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    merged["current-context"] = "east"
    path = tmp_path / "fleet.kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    return str(path)


def test_posture_with_several_contexts_reports_each_cluster_and_the_fleet(
    two_context_kubeconfig, capsys
):
    call_command(
        "posture",
        "--kubeconfig",
        two_context_kubeconfig,
        "--context",
        "east",
        "--context",
        "west",
        "--format",
        "json",
    )
    document = json.loads(capsys.readouterr().out)
    assert [entry["cluster"] for entry in document["clusters"]] == ["east", "west"]
    modes = {
        entry["cluster"]: next(n["mode"] for n in entry["namespaces"] if n["name"] == "payments")
        for entry in document["clusters"]
    }
    assert modes == {"east": "STRICT", "west": "PERMISSIVE"}
    (finding,) = document["fleet_findings"]
    assert finding["code"] == "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS"


def test_posture_fleet_csv_appends_a_cluster_column_and_fails_on_the_fleet_finding(
    two_context_kubeconfig, capsys
):
    with pytest.raises(CommandError) as failed:
        call_command(
            "posture",
            "--kubeconfig",
            two_context_kubeconfig,
            "--context",
            "east",
            "--context",
            "west",
            "--format",
            "csv",
            "--fail-on",
            "warning",
        )
    assert failed.value.returncode == 1
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][-1] == "cluster"
    assert {row[-1] for row in rows[1:]} == {"east", "west", "(fleet)"}


def test_posture_with_one_context_prints_what_it_always_did(two_context_kubeconfig, capsys):
    call_command(
        "posture", "--kubeconfig", two_context_kubeconfig, "--context", "west", "--format", "json"
    )
    document = json.loads(capsys.readouterr().out)
    assert "clusters" not in document and document["root_namespace"] == "istio-system"


def test_posture_several_contexts_without_a_kubeconfig_is_bad_input(tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("posture", "--manifests", str(tmp_path), "--context", "a", "--context", "b")
    assert refused.value.returncode == 2
