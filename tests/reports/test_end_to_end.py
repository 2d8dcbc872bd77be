"""A real sync of the test API server feeds the report: same fields and values as `posture`."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from policies.services.sync import cluster_sync
from tests.reports.builders import exemption_build
from tests.sync.builders import small_mesh

pytestmark = pytest.mark.django_db


@pytest.fixture
def kube(kube, settings):
    """The shared API server double, named e2e-cluster and holding the small mesh."""
    settings.MESHUI_CLUSTER_NAME = "e2e-cluster"
    kube.seed(small_mesh())
    return kube


def posture_json(kubeconfig: str) -> dict:
    out = io.StringIO()
    call_command("posture", "--kubeconfig", kubeconfig, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def report_json(client) -> dict:
    return json.loads(b"".join(client.get("/reports/report.json").streaming_content))


def test_report_json_after_a_sync_matches_the_posture_command(kube, client_as, auditor_user):
    cluster_sync(trigger="manual")
    expected = posture_json(str(kube.kubeconfig))
    document = report_json(client_as(auditor_user))

    assert document["snapshot"]["cluster_name"] == "e2e-cluster"
    assert document["root_namespace"] == expected["root_namespace"]
    assert document["mesh"] == expected["mesh"]
    namespace_fields = ("name", "mode", "policy", "source", "reason")
    assert [{k: n[k] for k in namespace_fields} for n in document["namespaces"]] == [
        {k: n[k] for k in namespace_fields} for n in expected["namespaces"]
    ]
    workload_fields = (
        "namespace", "name", "kind", "mode", "policy", "source", "ports", "port_reasons",
        "has_sidecar", "ambient", "reason",
    )  # fmt: skip
    assert [{k: w[k] for k in workload_fields} for w in document["workloads"]] == [
        {k: w[k] for k in workload_fields} for w in expected["workloads"]
    ]
    key = ("code", "severity", "namespace", "name", "kind")
    assert sorted(tuple(f[k] for k in key) for f in document["findings"]) == sorted(
        tuple(f[k] for k in key) for f in expected["findings"]
    )


def test_an_expired_exemption_stored_by_sync_is_reported_once(kube, client_as, auditor_user):
    exemption_build(
        namespace="shop",
        created_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() - timedelta(days=1),
    )
    cluster_sync(trigger="manual")
    document = report_json(client_as(auditor_user))

    expired = [f for f in document["findings"] if f["code"] == "EXEMPTION_EXPIRED"]
    assert [(f["namespace"], f["severity"]) for f in expired] == [("shop", "warning")]
