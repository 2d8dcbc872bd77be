"""Benchmark a full sync and a no-change sync of a big mesh (issue 4).

    .venv/bin/python bench/sync.py                  # PostgreSQL database meshui_bench_sync
    .venv/bin/python bench/sync.py --scale 0.1      # a tenth of the size, for a quick look

It empties the snapshot tables of the database it uses, so it takes its own (created when
missing; --database-url to choose another), never DATABASE_URL.

At --scale 1 the API server double holds 10,000 namespaces, 10,000 Deployments with their
ReplicaSets and 150,000 Pods (sidecar-injected, with realistic specs and managedFields),
10,000 Services, 20,000 PeerAuthentications and 5,000 DestinationRules. The double runs in
its own process, seeded there directly (no HTTP), so the figures below are meshui's alone:
wall time, peak RSS, time in API calls vs database writes, and a second, no-change sync.
Targets: full sync < 60 s and < 1.5 GB; no-change sync < 10 s.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMESPACES = 10_000
PODS_PER_DEPLOYMENT = 15
SERVICES_PER_NAMESPACE = 1
PEER_AUTHENTICATIONS_PER_NAMESPACE = 2
DESTINATION_RULE_EVERY = 2  # one DestinationRule in every second namespace
CREATED = "2025-01-01T00:00:00Z"
SIDECAR_STATUS = (
    '{"initContainers":["istio-init"],"containers":["istio-proxy"],'
    '"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy",'
    '"istio-data","istio-podinfo","istio-token","istiod-ca-cert"],'
    '"imagePullSecrets":null,"revision":"default"}'
)


def _app_container(name: str) -> dict:
    return {
        "name": name,
        "image": f"registry.example.com/{name}:2.7.1",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "env": [{"name": f"SETTING_{n}", "value": f"value-{n}"} for n in range(8)],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
    }


def _proxy_container() -> dict:
    return {
        "name": "istio-proxy",
        "image": "docker.io/istio/proxyv2:1.30.3",
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "env": [{"name": f"ISTIO_META_{n}", "value": f"meta-{n}"} for n in range(12)],
        "resources": {"requests": {"cpu": "10m", "memory": "40Mi"}},
    }


def mesh_objects(scale: float):
    """Yield the benchmark mesh's objects (generated, never all held at once here)."""
    namespaces = max(1, int(NAMESPACES * scale))
    yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}
    yield {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"namespace": "istio-system", "name": "default", "creationTimestamp": CREATED},
        "spec": {"mtls": {"mode": "PERMISSIVE"}},
    }
    for index in range(namespaces):
        ns = f"team-{index:05d}"
        name = "app"
        labels = {"app": name, "version": "v1"}
        yield {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "creationTimestamp": CREATED,
                "labels": {"istio-injection": "enabled", "kubernetes.io/metadata.name": ns},
            },
        }
        deployment_uid = f"d-{index}"
        replica_set_uid = f"rs-{index}"
        template = {
            "metadata": {"labels": labels},
            "spec": {"containers": [_app_container(name)], "volumes": [{"name": "config"}]},
        }
        yield {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "namespace": ns,
                "name": name,
                "uid": deployment_uid,
                "creationTimestamp": CREATED,
                "labels": labels,
            },
            "spec": {
                "replicas": PODS_PER_DEPLOYMENT,
                "selector": {"matchLabels": labels},
                "template": template,
            },
        }
        yield {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "namespace": ns,
                "name": f"{name}-5d8f7c9b6",
                "uid": replica_set_uid,
                "creationTimestamp": CREATED,
                "labels": {**labels, "pod-template-hash": "5d8f7c9b6"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "uid": deployment_uid,
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "replicas": PODS_PER_DEPLOYMENT,
                "selector": {"matchLabels": labels},
                "template": template,
            },
        }
        for pod in range(PODS_PER_DEPLOYMENT):
            yield {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "namespace": ns,
                    "name": f"{name}-5d8f7c9b6-{pod:05d}",
                    "uid": f"p-{index}-{pod}",
                    "creationTimestamp": CREATED,
                    "labels": {
                        **labels,
                        "pod-template-hash": "5d8f7c9b6",
                        "security.istio.io/tlsMode": "istio",
                    },
                    "annotations": {
                        "sidecar.istio.io/status": SIDECAR_STATUS,
                        "prometheus.io/scrape": "true",
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": f"{name}-5d8f7c9b6",
                            "uid": replica_set_uid,
                            "controller": True,
                        }
                    ],
                    "managedFields": [
                        {
                            "manager": "kube-controller-manager",
                            "operation": "Update",
                            "apiVersion": "v1",
                            "time": CREATED,
                            "fieldsType": "FieldsV1",
                            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
                        }
                    ],
                },
                "spec": {
                    "initContainers": [{"name": "istio-init", "image": "proxyv2:1.30.3"}],
                    "containers": [_app_container(name), _proxy_container()],
                    "volumes": [{"name": "config"}, {"name": "istio-envoy"}],
                    "nodeName": f"node-{pod % 50}",
                },
                "status": {
                    "phase": "Running",
                    "podIP": f"10.{index // 256 % 256}.{index % 256}.{pod}",
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        yield {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"namespace": ns, "name": name, "creationTimestamp": CREATED},
            "spec": {
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        }
        yield {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"namespace": ns, "name": "default", "creationTimestamp": CREATED},
            "spec": {"mtls": {"mode": "STRICT" if index % 3 else "PERMISSIVE"}},
        }
        yield {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"namespace": ns, "name": "metrics", "creationTimestamp": CREATED},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "portLevelMtls": {"15090": {"mode": "PERMISSIVE"}},
            },
        }
        if index % DESTINATION_RULE_EVERY == 0:
            yield {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"namespace": ns, "name": name, "creationTimestamp": CREATED},
                "spec": {
                    "host": f"{name}.{ns}.svc.cluster.local",
                    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                },
            }


def serve_double(scale: float, kubeconfig: str, ready, stop) -> None:
    """Child process: the API server double, seeded directly with the benchmark mesh."""
    from devcluster.cluster import DevCluster

    double = DevCluster(kubeconfig=kubeconfig, history_limit=10)
    started = time.monotonic()
    double.seed(mesh_objects(scale), validate=False)
    # The seeded objects live until the end: keep the cyclic GC from rescanning 200,000 of
    # them on every page it serves (a Python artefact; kube-apiserver has no such cost).
    gc.collect()
    gc.freeze()
    ready.send(time.monotonic() - started)
    stop.wait()
    double.stop()


def prepare_database(url: str) -> None:
    """Create the benchmark database if needed, then bring it to the current migrations."""
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/meshui_bench_sync"
    )
    arguments = parser.parse_args()
    if not 0 < arguments.scale <= 10:
        parser.error("--scale must be between 0 and 10")

    kubeconfig = Path(tempfile.mkdtemp(prefix="meshui-bench-")) / "kubeconfig"
    ready_receiver, ready_sender = multiprocessing.Pipe(duplex=False)
    stop = multiprocessing.Event()
    double = multiprocessing.Process(
        target=serve_double, args=(arguments.scale, str(kubeconfig), ready_sender, stop)
    )
    double.start()
    print(f"seeding the API server double (scale {arguments.scale:g})...", flush=True)
    seed_seconds = ready_receiver.recv()

    os.environ.update(
        DJANGO_SETTINGS_MODULE="meshui.settings",
        DATABASE_URL=arguments.database_url,
        MESHUI_KUBECONFIG=str(kubeconfig),
        MESHUI_CLUSTER_NAME="bench",
        MESHUI_LOG_LEVEL="WARNING",
        MESHUI_KUBE_TIMEOUT_SECONDS="120",
    )
    os.environ.pop("REDIS_URL", None)
    if arguments.database_url.startswith("postgres"):
        prepare_database(arguments.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import override_settings

    from policies.models import Snapshot, SyncRun
    from policies.services.sync import cluster_sync

    call_command("migrate", verbosity=0, interactive=False)
    Snapshot.objects.all().delete()
    SyncRun.objects.all().delete()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    try:
        started = time.monotonic()
        full = cluster_sync(trigger="bench")
        full_seconds = time.monotonic() - started
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started, cpu_started = time.monotonic(), time.process_time()
        again = cluster_sync(trigger="bench")
        no_change_seconds = time.monotonic() - started
        no_change_cpu = time.process_time() - cpu_started
        # The same question answered the old way, by listing everything again.
        with override_settings(MESHUI_SYNC_WATCH_SECONDS=0):
            started, cpu_started = time.monotonic(), time.process_time()
            listed = cluster_sync(trigger="bench")
            listed_seconds = time.monotonic() - started
            listed_cpu = time.process_time() - cpu_started
    finally:
        stop.set()
        double.join(timeout=30)

    snapshot = full.snapshot
    counts = snapshot.object_counts
    engine_ms = full.duration_ms - full.api_ms - full.db_ms
    print(f"seeded in {seed_seconds:.1f} s: " + ", ".join(f"{n:,} {k}" for k, n in counts.items()))
    print(
        f"stored: {snapshot.namespaces_total:,} namespaces, {snapshot.workloads_total:,} "
        f"workloads, {snapshot.findings.count():,} findings, {snapshot.policies.count():,} "
        f"policies, {snapshot.services.count():,} services"
    )
    print(f"full sync wall time:      {full_seconds:6.1f} s   (target < 60 s)")
    print(f"  API (list + parse):     {full.api_ms / 1000:6.1f} s")
    print(f"  engine:                 {engine_ms / 1000:6.1f} s")
    print(f"  database writes:        {full.db_ms / 1000:6.1f} s")
    print(
        f"peak RSS:                 {peak_rss:6.0f} MB  (target < 1536 MB; "
        f"{rss_before:.0f} MB before the sync)"
    )
    print(
        f"no-change sync:           {no_change_seconds:6.1f} s   (target < 10 s), "
        f"status {again.status}, by watching every kind from the last lists"
    )
    print(
        f"  meshui's own CPU:       {no_change_cpu:6.1f} s   (the rest is waiting for the "
        "watches' bookmarks)"
    )
    print(
        f"no-change by full list:   {listed_seconds:6.1f} s   (MESHUI_SYNC_WATCH_SECONDS=0, "
        f"or a watch saw a change), status {listed.status}"
    )
    print(
        f"  meshui's own CPU:       {listed_cpu:6.1f} s   (the rest is waiting for the API "
        "server double to serialise its pages)"
    )
    ok = full_seconds < 60 and peak_rss < 1536 and no_change_seconds < 10
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
