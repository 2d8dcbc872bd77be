"""cluster_sync: read once, run the engine, store a snapshot atomically; survive every fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies.cluster.errors import ClusterError
from policies.engine import evaluate
from policies.models import (
    FindingRecord,
    NamespaceRecord,
    PolicyRecord,
    ServiceRecord,
    Snapshot,
    SyncRun,
    WorkloadRecord,
)
from policies.selectors.sync import snapshot_current, sync_status
from policies.services import sync as sync_service
from policies.services.sync import cluster_sync, sync_request
from policies.snapshot_objects import snapshot_objects
from tests.engine import builders as engine_builders
from tests.factories import snapshot_from_manifests

from .builders import deployment, peer_auth, small_mesh

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def demo_mesh() -> list[dict]:
    return [
        doc
        for path in sorted((ROOT / "devcluster" / "seeds" / "demo").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Snapshot,
            NamespaceRecord,
            WorkloadRecord,
            FindingRecord,
            PolicyRecord,
            ServiceRecord,
        )
    }


def test_sync_stores_the_clusters_posture_as_a_snapshot(kube):
    kube.seed(small_mesh())
    run = cluster_sync(trigger="manual")
    assert run.status == SyncRun.Status.SUCCEEDED
    snapshot = run.snapshot
    assert snapshot == snapshot_current()
    assert snapshot.cluster_name == "test-cluster"
    assert snapshot.mesh_mode == "STRICT"
    assert snapshot.mesh_policy == "istio-system/default"
    modes = dict(snapshot.namespaces.values_list("name", "mode"))
    assert modes["payments"] == "STRICT"
    assert modes["shop"] == "PERMISSIVE"
    assert modes["batch"] == "STRICT"
    shop = snapshot.namespaces.get(name="shop")
    assert shop.source == "namespace"
    assert shop.policy == "shop/default"
    assert shop.reason["chain"][0]["level"] == "mesh"
    assert (shop.workloads_total, shop.workloads_permissive) == (1, 1)
    report = snapshot.workloads.get(namespace="batch", name="report")
    assert (report.mode, report.has_sidecar, report.kind) == ("STRICT", False, "Deployment")
    assert snapshot.workloads_total == 3
    assert snapshot.workloads_with_sidecar == 2
    assert set(snapshot.policies.values_list("kind", "namespace", "name")) == {
        ("PeerAuthentication", "istio-system", "default"),
        ("PeerAuthentication", "shop", "default"),
        ("DestinationRule", "payments", "api"),
    }
    assert snapshot.services.get(namespace="payments", name="api").ports[0]["port"] == 80
    assert snapshot.object_counts["Deployment"] == 3
    assert snapshot.istio_versions["PeerAuthentication"] == "security.istio.io/v1"
    assert run.api_ms is not None and run.db_ms is not None


def test_port_overrides_and_findings_are_stored(kube):
    kube.seed(demo_mesh())
    snapshot = cluster_sync(trigger="manual").snapshot
    ledger = snapshot.workloads.get(namespace="payments", name="ledger")
    assert ledger.ports == {"9090": "PERMISSIVE"}
    assert ledger.has_port_exceptions is True
    assert ledger.reason["ports"]["9090"]["mode"] == "PERMISSIVE"
    assert snapshot.namespaces.get(name="payments").workloads_with_port_exceptions == 1
    codes = set(snapshot.findings.values_list("code", flat=True))
    assert "STRICT_WITHOUT_SIDECAR" in codes
    assert snapshot.findings_error + snapshot.findings_warning + snapshot.findings_info == (
        snapshot.findings.count()
    )
    assert snapshot.namespaces.get(name="reviews").mode == "STRICT"
    assert snapshot.workloads.get(namespace="reviews", name="ratings").ambient is True


def test_sidecar_and_ambient_facts_survive_the_snapshot_round_trip():
    # Each is a case the labels alone would predict wrongly: pods admitted without a proxy
    # under a pod label that opts in, a bare admitted pod, a hostNetwork pod in an ambient
    # namespace (never captured), and a pod opted out of ambient.
    opted_in = engine_builders.deployment(
        "shop", "api", labels={"app": "api", "sidecar.istio.io/inject": "true"}, uid="d1"
    )
    pod = engine_builders.workload(
        "shop", "api-x", kind="Pod", owner=("Deployment", "api"), owner_uid="d1", uid="p1"
    )
    bare = engine_builders.workload("shop", "job", kind="Pod", uid="p2")
    agent = engine_builders.deployment("mesh", "agent")
    agent["spec"]["template"]["spec"]["hostNetwork"] = True
    objects = [
        engine_builders.labelled_namespace("shop", {"istio-injection": "enabled"}),
        engine_builders.labelled_namespace("mesh", {"istio.io/dataplane-mode": "ambient"}),
        opted_in,
        pod,
        bare,
        agent,
        engine_builders.deployment(
            "mesh", "web", labels={"app": "web", "istio.io/dataplane-mode": "none"}
        ),
        engine_builders.deployment("mesh", "ratings"),
    ]
    snapshot = snapshot_from_manifests(objects)
    stored = set(snapshot.workloads.values_list("namespace", "name", "has_sidecar", "ambient"))
    assert stored == {
        ("shop", "api", False, False),
        ("shop", "job", False, False),
        ("mesh", "agent", False, False),
        ("mesh", "web", False, False),
        ("mesh", "ratings", False, True),
    }
    again = evaluate(snapshot_objects(snapshot), root_namespace=snapshot.root_namespace)
    assert {(w.namespace, w.name, w.has_sidecar, w.ambient) for w in again.workloads} == stored


def test_an_unchanged_cluster_records_a_cheap_no_change_run(kube):
    kube.seed(small_mesh())
    first = cluster_sync(trigger="schedule")
    before = row_counts()
    second = cluster_sync(trigger="schedule")
    assert second.status == SyncRun.Status.NO_CHANGE
    assert second.snapshot == first.snapshot
    assert row_counts() == before
    assert second.db_ms is None


def test_a_change_in_the_cluster_makes_a_new_snapshot_and_keeps_the_old_one(kube):
    kube.seed(small_mesh())
    first = cluster_sync(trigger="schedule").snapshot
    kube.seed([peer_auth("batch", mode="DISABLE")])
    second = cluster_sync(trigger="change").snapshot
    assert second != first
    assert snapshot_current() == second
    assert second.namespaces.get(name="batch").mode == "DISABLE"
    assert first.namespaces.get(name="batch").mode == "STRICT"  # history is kept


def test_the_stored_snapshot_turns_back_into_the_same_posture(kube):
    kube.seed(demo_mesh())
    snapshot = cluster_sync(trigger="manual").snapshot
    again = evaluate(snapshot_objects(snapshot), root_namespace=snapshot.root_namespace)
    assert {(n.name, str(n.mode), str(n.source)) for n in again.namespaces} == set(
        snapshot.namespaces.values_list("name", "mode", "source")
    )
    assert {
        (w.namespace, w.name, str(w.mode), w.has_sidecar, w.ambient, len(w.ports))
        for w in again.workloads
    } == {
        (w.namespace, w.name, w.mode, w.has_sidecar, w.ambient, len(w.ports))
        for w in snapshot.workloads.all()
    }
    assert {(f.code, f.namespace, f.name) for f in again.findings} == set(
        snapshot.findings.values_list("code", "namespace", "name")
    )


FAULTS = [
    pytest.param(
        {"action": 403, "verb": "list", "resource": "pods"},
        "Forbidden while listing Pods: pods is forbidden",
        id="403-on-one-resource-type",
    ),
    pytest.param(
        {"action": 404, "verb": "list", "resource": "peerauthentications"},
        "Not found while listing PeerAuthentications",
        id="404-crd-missing",
    ),
    pytest.param(
        {"action": 410, "verb": "list", "resource": "deployments", "times": 9},
        "Expired while listing Deployments",
        id="410-during-paging",
    ),
    pytest.param(
        {"action": 429, "verb": "list", "resource": "services", "retry_after": 3},
        "rate limiting meshui",
        id="429-retry-after",
    ),
    pytest.param(
        {"action": 500, "verb": "list", "resource": "namespaces"},
        "The API server failed (HTTP 500)",
        id="500",
    ),
    pytest.param(
        {"action": "slow", "verb": "list", "resource": "statefulsets", "delay": 1.5, "times": 2},
        "did not answer within 0.3 s",
        id="timeout",
    ),
    pytest.param(
        {"action": "drop", "verb": "list", "resource": "cronjobs", "times": 3},
        "connection to the API server was dropped",
        id="dropped-connection",
    ),
]


@pytest.mark.parametrize(("fault", "reason"), FAULTS)
def test_a_fault_fails_the_sync_in_words_and_keeps_the_last_good_snapshot(
    kube, settings, fault, reason
):
    settings.MESHUI_KUBE_PAGE_SIZE = 1
    kube.seed(small_mesh())
    good = cluster_sync(trigger="schedule").snapshot
    kube.seed([deployment("shop", "new-since")])  # so a successful sync would store a new one
    before = row_counts()
    if fault["action"] == "slow":
        # Short only against the slow fault: any other call may take a loaded machine's time.
        settings.MESHUI_KUBE_TIMEOUT_SECONDS = 0.3
    kube.inject_fault(**fault)
    with pytest.raises(ClusterError):
        cluster_sync(trigger="schedule")
    failed = SyncRun.objects.order_by("-id").first()
    assert failed.status == SyncRun.Status.FAILED
    assert reason in failed.error
    assert failed.snapshot is None
    assert snapshot_current() == good
    assert row_counts() == before  # nothing half-written
    status = sync_status()
    assert status.is_stale and reason in status.stale_reason


def test_a_single_expired_continue_token_is_survived(kube, settings):
    settings.MESHUI_KUBE_PAGE_SIZE = 1
    kube.seed(small_mesh())
    kube.inject_fault(410, verb="list", resource="deployments", times=1)
    assert cluster_sync(trigger="schedule").status == SyncRun.Status.SUCCEEDED


def test_no_istio_is_a_successful_sync_that_says_so(kube):
    kube.reset(crd_files=[])
    kube.seed(small_mesh()[:4] + [deployment("shop", "cart")])
    snapshot = cluster_sync(trigger="schedule").snapshot
    assert snapshot.istio_installed is False
    assert snapshot.mesh_mode == "PERMISSIVE"
    assert snapshot.policies.count() == 0


def test_a_failure_while_writing_leaves_no_half_snapshot(kube, monkeypatch):
    kube.seed(small_mesh())
    good = cluster_sync(trigger="schedule").snapshot
    kube.seed([deployment("shop", "new-since")])
    before = row_counts()

    real_rows_insert = sync_service._rows_insert

    def rows_insert_failing_on_findings(model, rows):
        if model is FindingRecord:
            raise RuntimeError("disk full")
        real_rows_insert(model, rows)

    monkeypatch.setattr(sync_service, "_rows_insert", rows_insert_failing_on_findings)
    with pytest.raises(RuntimeError):
        cluster_sync(trigger="schedule")
    assert row_counts() == before
    assert snapshot_current() == good
    failed = SyncRun.objects.order_by("-id").first()
    assert failed.error == "Internal error while syncing: RuntimeError: disk full"


@pytest.mark.parametrize("after_an_earlier_publish", [False, True])
def test_a_sync_request_with_redis_down_is_recorded_as_failed_in_words(
    kube, settings, monkeypatch, django_capture_on_commit_callbacks, after_an_earlier_publish
):
    from meshui.celery import app
    from policies.tasks import sync_cluster
    from tests.celery_support import celery_on_redis

    if after_an_earlier_publish:
        # What an earlier test in the run may leave behind: a cached connection pool to the
        # in-memory broker, which a changed broker_url alone would keep publishing to.
        monkeypatch.setitem(app.conf, "task_always_eager", False)
        sync_cluster.apply_async(kwargs={"trigger": "earlier"}, ignore_result=True)
        monkeypatch.undo()
        assert app._pool is not None
    settings.REDIS_URL = "redis://127.0.0.1:1/5"  # nothing listens on port 1
    with (
        celery_on_redis("redis://127.0.0.1:1/5", task_publish_retry=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        sync_request(trigger="change")
    failed = SyncRun.objects.get()
    assert failed.status == SyncRun.Status.FAILED
    assert failed.trigger == "change"
    assert "the task queue (Redis) is unreachable" in failed.error


def test_sidecars_injected_into_pods_count_for_their_deployment(kube):
    app = deployment("shop", "cart", sidecar=False)  # a live template never shows injection
    app["metadata"]["uid"] = "uid-cart"
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "namespace": "shop",
            "name": "cart-7d9",
            "uid": "uid-cart-7d9",
            "labels": {"app": "cart"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "cart",
                    "uid": "uid-cart",
                    "controller": True,
                }
            ],
        },
        "spec": {"selector": {"matchLabels": {"app": "cart"}}, "template": app["spec"]["template"]},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": "shop",
            "name": "cart-7d9-x1",
            "labels": {"app": "cart"},
            "annotations": {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "cart-7d9",
                    "uid": "uid-cart-7d9",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {"name": "cart", "image": "cart:1"},
                {"name": "istio-proxy", "image": "proxyv2"},
            ]
        },
    }
    kube.seed([app, replica_set, pod])
    snapshot = cluster_sync(trigger="manual").snapshot
    (cart,) = snapshot.workloads.filter(namespace="shop")
    assert (cart.kind, cart.name, cart.has_sidecar) == ("Deployment", "cart", True)


def test_a_run_left_running_by_a_dead_worker_is_closed_as_failed_by_the_next_sync(kube, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.MESHUI_SYNC_TIME_LIMIT = 300
    dead = SyncRun.objects.create(
        started_at=timezone.now() - timedelta(minutes=10), status=SyncRun.Status.RUNNING
    )
    recent = SyncRun.objects.create(started_at=timezone.now(), status=SyncRun.Status.RUNNING)
    kube.seed(small_mesh())
    cluster_sync(trigger="schedule")
    dead.refresh_from_db()
    recent.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert "interrupted" in dead.error
    assert recent.status == SyncRun.Status.RUNNING  # may still be working: left alone


def test_a_manifest_with_integer_port_keys_is_stored_with_string_keys(kube, monkeypatch):
    # The cluster's JSON always spells ports as strings; a manifest loaded from YAML files
    # (portLevelMtls: {8080: ...}) or built by meshui's own forms may use integers.
    real_read = sync_service.cluster.cluster_read_all

    def read_with_integer_ports(*args, **kwargs):
        read = real_read(*args, **kwargs)
        for policy in read.objects:
            spec = policy.get("spec") or {}
            if policy["kind"] == "PeerAuthentication" and "portLevelMtls" in spec:
                spec["portLevelMtls"] = {int(port): m for port, m in spec["portLevelMtls"].items()}
        return read

    kube.seed(
        [
            *small_mesh(),
            peer_auth(
                "shop", "cart-ports", mode=None, selector={"app": "cart"}, ports={8080: "DISABLE"}
            ),
        ]
    )
    monkeypatch.setattr(sync_service.cluster, "cluster_read_all", read_with_integer_ports)
    snapshot = cluster_sync(trigger="manual").snapshot
    stored = snapshot.policies.get(namespace="shop", name="cart-ports")
    assert stored.manifest["spec"]["portLevelMtls"] == {"8080": {"mode": "DISABLE"}}
    assert stored.port_modes == {"8080": "DISABLE"}
    cart = snapshot.workloads.get(namespace="shop", name="cart")
    assert cart.ports == {"8080": "DISABLE"}


def test_sync_records_who_owns_each_peer_authentications_mode(kube, settings):
    from devcluster import kubectl_last_applied

    kube.seed(small_mesh())
    kube.seed(
        [kubectl_last_applied(peer_auth("payments", mode="STRICT"))],
        manager="kubectl-client-side-apply",
        time="2025-06-01T09:00:00Z",
    )
    argo = peer_auth("batch", mode="PERMISSIVE")
    argo["metadata"]["annotations"] = {
        "argocd.argoproj.io/tracking-id": "batch:security.istio.io/PeerAuthentication:batch/default"
    }
    kube.seed([argo], manager="argocd-controller", operation="Apply")
    snapshot = cluster_sync(trigger="manual").snapshot
    owners = {
        (p.namespace, p.name): (p.owner_kind, p.owner_manager)
        for p in snapshot.policies.filter(kind="PeerAuthentication")
    }
    assert owners[("payments", "default")] == ("person", "kubectl-client-side-apply")
    assert owners[("batch", "default")] == ("reconciler", "argocd-controller")
    assert owners[("shop", "default")] == ("person", "devcluster-seed")
    payments = snapshot.policies.get(namespace="payments", name="default")
    assert payments.ownership["changed_at"] == "2025-06-01T09:00:00Z"
    assert payments.ownership["operation"] == "Update"
    batch = snapshot.policies.get(namespace="batch", name="default")
    assert batch.ownership["source"] == "Argo CD application batch"
    # The stored manifest is the object as `kubectl get` shows it, without managedFields.
    assert "managedFields" not in payments.manifest["metadata"]
    assert snapshot.policies.get(kind="DestinationRule").owner_kind == ""


def test_the_reconciler_list_comes_from_the_settings(kube, settings):
    settings.MESHUI_RECONCILER_MANAGERS = ["devcluster-seed"]
    kube.seed(small_mesh())
    snapshot = cluster_sync(trigger="manual").snapshot
    shop = snapshot.policies.get(namespace="shop", name="default")
    assert (shop.owner_kind, shop.owner_manager) == ("reconciler", "devcluster-seed")


def test_the_demo_clusters_policies_have_all_three_owners(kube):
    kube.seed(demo_mesh())
    snapshot = cluster_sync(trigger="manual").snapshot
    namespace_policies = {
        p.namespace: p.owner
        for p in snapshot.policies.filter(kind="PeerAuthentication", name="default")
    }
    payments = namespace_policies["payments"]
    assert (payments.kind, payments.manager, payments.changed_on) == (
        "person",
        "kubectl-client-side-apply",
        "2025-06-01",
    )
    shop = namespace_policies["shop"]
    assert (shop.kind, shop.manager, shop.source) == (
        "reconciler",
        "argocd-controller",
        "Argo CD application storefront",
    )
    assert namespace_policies["reviews"].kind == "meshui"
    mesh = namespace_policies["istio-system"]
    assert (mesh.kind, mesh.manager, mesh.source) == (
        "reconciler",
        "helm",
        "Helm release istio-system/mesh-policies",
    )
