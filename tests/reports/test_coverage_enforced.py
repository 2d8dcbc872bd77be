"""STRICT declared and STRICT enforced, stored by the sync and shown wherever coverage is.

The mesh is the issue's own example: a namespace toggled to STRICT whose workloads are
not all behind a proxy. It is stored by the sync's own writer from objects shaped as a
cluster returns them (snapshot_from_manifests), so every figure is meshui's.
"""

import csv
import io
import json

import pytest

from policies.models import Snapshot
from tests.factories import snapshot_from_manifests, snapshot_with, user_with_role

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token"
PROXY = [{"name": "app", "ports": [{"containerPort": 8080}]}, {"name": "istio-proxy"}]
STATUS = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}


def deployment(namespace, name, *, sidecar, host_network=False):
    pod_spec = {
        "containers": PROXY if sidecar else [{"name": "app", "ports": [{"containerPort": 8080}]}]
    }
    if host_network:
        pod_spec["hostNetwork"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": namespace, "name": name, "uid": f"{namespace}-{name}"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": STATUS if sidecar else {}},
                "spec": pod_spec,
            },
        },
    }


def admitted_pod(namespace, owner):
    """A pod the API server admitted without a sidecar: the injector never ran for it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": namespace,
            "name": f"{owner}-abc",
            "uid": f"pod-{owner}",
            "labels": {"app": owner},
            "ownerReferences": [
                {
                    "kind": "Deployment",
                    "name": owner,
                    "uid": f"{namespace}-{owner}",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "app"}]},
    }


def namespace(name, labels=None):
    metadata = {"name": name, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def strict(namespace_name):
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"namespace": namespace_name, "name": "default"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }


@pytest.fixture
def mesh():
    """shop is STRICT: api behind a sidecar, batch without one, agent on the host network;
    edge is ambient and STRICT; legacy is PERMISSIVE with a sidecar."""
    return snapshot_from_manifests(
        [
            namespace("istio-system"),
            namespace("shop"),
            namespace("edge", {"istio.io/dataplane-mode": "ambient"}),
            namespace("legacy"),
            strict("shop"),
            strict("edge"),
            deployment("shop", "api", sidecar=True),
            deployment("shop", "batch", sidecar=False),
            admitted_pod("shop", "batch"),
            deployment("shop", "agent", sidecar=True, host_network=True),
            deployment("edge", "gateway", sidecar=False),
            admitted_pod("edge", "gateway"),
            deployment("legacy", "old", sidecar=True),
        ]
    )


def test_sync_stores_both_figures_on_the_snapshot_and_its_namespaces(mesh):
    assert mesh.workloads_total == 5
    assert mesh.workloads_strict == 4
    assert mesh.workloads_strict_declared == 4
    assert mesh.workloads_strict_enforced == 2  # shop/api (sidecar), edge/gateway (ztunnel)
    shop = mesh.namespaces.get(name="shop")
    assert (shop.workloads_strict_declared, shop.workloads_strict_enforced) == (3, 1)
    rules = dict(mesh.workloads.values_list("name", "coverage_rule"))
    assert rules == {
        "api": "sidecar",
        "batch": "no-proxy",
        "agent": "host-network",
        "gateway": "ambient",
        "old": "not-strict",
    }
    assert mesh.workloads.get(name="agent").host_network is True


def test_a_namespace_toggled_to_strict_without_sidecars_raises_only_the_declared_figure(db):
    objects = [namespace("istio-system"), namespace("shop")] + [
        item
        for name in ("a", "b", "c")
        for item in (deployment("shop", name, sidecar=False), admitted_pod("shop", name))
    ]
    before = snapshot_from_manifests(objects)
    after = snapshot_from_manifests([*objects, strict("shop")])
    assert (before.workloads_strict_declared, before.workloads_strict_enforced) == (0, 0)
    assert (after.workloads_strict_declared, after.workloads_strict_enforced) == (3, 0)


def test_metrics_have_enforced_and_declared_gauges_beside_the_old_ones(client, settings, mesh):
    settings.MESHUI_METRICS_TOKEN = TOKEN
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    assert "meshui_workloads_strict_enforced 2.0" in text
    assert "meshui_workloads_strict_declared 4.0" in text
    assert "meshui_workloads_total 5.0" in text
    assert 'meshui_workloads{mode="STRICT"} 4.0' in text  # kept


def test_metrics_leave_the_new_gauges_out_for_a_snapshot_from_before_them(client, settings, db):
    snapshot = snapshot_with(workloads=[{"namespace": "shop", "name": "api"}])
    Snapshot.objects.filter(pk=snapshot.pk).update(
        workloads_strict_declared=None, workloads_strict_enforced=None
    )
    settings.MESHUI_METRICS_TOKEN = TOKEN
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    assert "meshui_workloads_strict_enforced" not in text
    assert "meshui_workloads_with_sidecar 1.0" in text


def auditor(client):
    client.force_login(user_with_role("auditor", username="audrey"))
    return client


def test_report_json_coverage_has_both_figures(client, mesh):
    document = json.loads(b"".join(auditor(client).get("/reports/report.json").streaming_content))
    coverage = document["coverage"]
    assert coverage["workloads_strict_enforced"] == 2
    assert coverage["workloads_strict_declared"] == 4
    assert coverage["workloads_strict_enforced_share"] == pytest.approx(0.4)
    assert coverage["workloads_strict_declared_share"] == pytest.approx(0.8)
    assert coverage["workloads_strict_share"] == pytest.approx(0.8)  # kept
    batch = next(row for row in document["workloads"] if row["name"] == "batch")
    assert (batch["strict_declared"], batch["strict_enforced"], batch["coverage_rule"]) == (
        True,
        False,
        "no-proxy",
    )


def test_csv_exports_append_the_coverage_columns(client, mesh):
    auditor(client)
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get("/reports/workloads.csv").streaming_content).decode())
        )
    )
    agent = next(row for row in rows if row["name"] == "agent")
    assert (agent["strict_declared"], agent["strict_enforced"], agent["host_network"]) == (
        "true",
        "false",
        "true",
    )
    assert agent["coverage_rule"] == "host-network"
    namespaces = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get("/reports/namespaces.csv").streaming_content).decode())
        )
    )
    shop = next(row for row in namespaces if row["name"] == "shop")
    assert (shop["workloads_strict_declared"], shop["workloads_strict_enforced"]) == ("3", "1")


def test_report_page_leads_with_enforced(client, mesh):
    page = auditor(client).get("/reports/").content.decode()
    assert page.index("Workloads STRICT enforced") < page.index("Workloads STRICT declared")
    assert 'data-testid="coverage-enforced">40%' in page
    assert 'data-testid="coverage-declared">80%' in page


def test_namespace_list_and_page_show_enforced_and_declared(client, mesh):
    auditor(client)
    listing = client.get("/namespaces/?sort=-enforced").content.decode()
    assert "Enforced / declared" in listing
    assert "<strong>1</strong> / 3" in listing
    page = client.get("/namespaces/shop/").content.decode()
    assert "1 of 3 (33%): every port STRICT and a sidecar or ztunnel enforcing it" in page
    assert "on paper only" in page
    workload = client.get("/namespaces/shop/workloads/Deployment/agent/").content.decode()
    assert "runs on the host network" in workload


def test_trends_draw_enforced_and_declared(client, mesh):
    page = auditor(client).get("/reports/trends/").content.decode()
    assert "Workloads STRICT enforced" in page
    assert "40% (2/5)" in page
    assert "80% (4/5)" in page


def test_a_snapshot_turned_back_into_objects_keeps_every_coverage_rule(mesh):
    """The impact preview re-runs the engine on the snapshot: hostNetwork must survive."""
    from policies.engine import coverage_rule, evaluate
    from policies.snapshot_objects import snapshot_objects

    posture = evaluate(snapshot_objects(mesh), root_namespace=mesh.root_namespace)
    again = {w.name: str(coverage_rule(w)) for w in posture.workloads}
    assert again == dict(mesh.workloads.values_list("name", "coverage_rule"))
