"""sync_cluster, posture --kubeconfig and serve's demo cluster, as a person runs them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from policies.models import AuditEntry, Snapshot, SyncRun

from .builders import small_mesh
from .test_sync_service import demo_mesh

ROOT = Path(__file__).resolve().parents[2]
DEMO_SEED = ROOT / "devcluster" / "seeds" / "demo"


@pytest.fixture
def no_cluster(settings, monkeypatch):
    """No cluster configured, no Redis: `serve` starts its demo cluster."""
    monkeypatch.setenv("MESHUI_KUBECONFIG", "")
    monkeypatch.setenv("MESHUI_DEMO_CLUSTER", "")
    settings.MESHUI_KUBECONFIG = ""
    settings.MESHUI_CLUSTER_NAME = ""
    settings.REDIS_URL = ""


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.mark.django_db
def test_sync_once_prints_a_summary(kube):
    kube.seed(small_mesh())
    output = run("sync_cluster", "--once")
    assert "Synced test-cluster" in output
    # 4 of ours + the 4 every new cluster has (default, kube-system, kube-public, ...)
    assert "namespaces: 8 (7 STRICT, 1 PERMISSIVE, 0 DISABLE)" in output
    assert "findings: 0 errors, 1 warning, 0 notes" in output
    assert "mesh-wide mode: STRICT (istio-system/default)" in output
    assert "workloads: 3 (2 STRICT, 1 PERMISSIVE, 0 DISABLE; 2 with a sidecar)" in output
    # payments/api behind its sidecar; batch/report STRICT with none: declared only.
    assert "coverage: 1 STRICT enforced, 2 STRICT declared" in output
    assert "No change since snapshot" in run("sync_cluster", "--once")


@pytest.mark.django_db
def test_sync_once_fails_with_the_reason_and_a_non_zero_exit(kube):
    kube.inject_fault(403, verb="list", resource="deployments")
    with pytest.raises(CommandError) as caught:
        run("sync_cluster", "--once")
    assert caught.value.returncode != 0
    assert str(caught.value).startswith("Forbidden while listing Deployments: deployments.apps")
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED


@pytest.mark.django_db
def test_sync_once_without_a_usable_kubeconfig_says_so(settings, tmp_path):
    settings.MESHUI_KUBECONFIG = str(tmp_path / "missing")
    with pytest.raises(CommandError, match="kubeconfig file .* does not exist"):
        run("sync_cluster", "--once")


def test_posture_of_the_live_cluster_matches_posture_of_the_same_manifests(kube):
    kube.seed(demo_mesh())
    live = json.loads(run("posture", "--kubeconfig", str(kube.kubeconfig), "--format", "json"))
    files = json.loads(run("posture", "--manifests", str(DEMO_SEED), "--format", "json"))
    assert live["root_namespace"] == files["root_namespace"] == "istio-system"
    assert live["mesh"] == files["mesh"]
    assert live["workloads"] == files["workloads"]
    seeded = {n["name"] for n in files["namespaces"]}
    assert [n for n in live["namespaces"] if n["name"] in seeded] == files["namespaces"]
    assert {json.dumps(f, sort_keys=True) for f in files["findings"]} <= {
        json.dumps(f, sort_keys=True) for f in live["findings"]
    }


def test_posture_of_an_unreachable_cluster_is_a_message_and_exit_2(tmp_path):
    with pytest.raises(CommandError) as caught:
        run("posture", "--kubeconfig", str(tmp_path / "nope"), "--format", "json")
    assert caught.value.returncode == 2
    assert "does not exist" in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_serve_without_a_cluster_starts_the_seeded_demo_and_prints_logins(no_cluster):
    output = run("serve", "--no-runserver", "--no-demo-history")
    assert "DEMO CLUSTER at http://127.0.0.1:" in output
    snapshot = Snapshot.objects.get()
    assert snapshot.cluster_name == "demo"
    assert snapshot.namespaces.get(name="payments").mode == "STRICT"
    assert snapshot.namespaces.get(name="legacy").mode == "DISABLE"
    assert "Synced demo" in output
    logins = dict(re.findall(r"^\s+(admin|oncall|auditor)\s+(\S+)", output, re.MULTILINE))
    assert set(logins) == {"admin", "oncall", "auditor"}
    for username, password in logins.items():
        assert authenticate(username=username, password=password) is not None
    # A second start still prints logins that work (fresh passwords for the same accounts).
    again = run("serve", "--no-runserver", "--no-demo-history")
    admin_password = re.search(r"^\s+admin\s+(\S+)", again, re.MULTILINE).group(1)
    assert authenticate(username="admin", password=admin_password) is not None


@pytest.mark.django_db(transaction=True)
def test_serve_gives_a_new_demo_a_month_of_history_once(no_cluster):
    output = run("serve", "--no-runserver")
    assert "demo history: 30 days" in output
    snapshots = Snapshot.objects.count()
    assert snapshots >= 5
    entries = AuditEntry.objects.count()
    # A second start keeps the history it has (and never writes one over real records).
    again = run("serve", "--no-runserver")
    assert "demo history" not in again
    assert AuditEntry.objects.count() == entries
    assert Snapshot.objects.count() == snapshots
