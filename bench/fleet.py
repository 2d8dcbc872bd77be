"""Benchmark a fleet: 10 clusters synced by 1, 2 and 4 Celery worker processes (issue 16).

    .venv/bin/python bench/fleet.py                   # PostgreSQL meshui_bench_fleet, Redis db 6
    .venv/bin/python bench/fleet.py --clusters 3 --scale 0.02   # a quick look

Each cluster is an API server double in its own process, seeded directly (no HTTP) with
bench/sync.py's mesh at --scale (0.1: 1,000 namespaces, 1,000 Deployments with their
ReplicaSets and 15,000 sidecar-injected Pods, 1,000 Services, 2,000 PeerAuthentications, 500
DestinationRules), cluster i with namespace team-0000i switched to another mode (a
deliberate difference). The clusters are registered as meshui registers them (kubeconfig
files), and a fleet sync is one `policies.sync_cluster` task per cluster on Redis, run by
real `celery worker` processes (prefork, --concurrency 1, 2, 4). Printed: wall time of a
full fleet sync per worker count; a no-change fleet sync (watches) with 4 processes and
with a threads pool; the fleet overview and a cross-cluster namespace page (median of 25
requests, with their query counts for 2 and for all clusters).

It empties the snapshot tables of its own database (created when missing), never
DATABASE_URL's, and uses its own Redis key prefix and queue.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import mesh_objects, prepare_database  # noqa: E402 - bench/sync.py, beside this

WORKER_COUNTS = (1, 2, 4)
PAGE_REPEATS = 25


def cluster_objects(scale: float, variant: int):
    """bench/sync.py's mesh, with namespace team-<variant> in another mode."""
    different = f"team-{variant:05d}"
    for obj in mesh_objects(scale):
        metadata = obj.get("metadata") or {}
        if (
            obj["kind"] == "PeerAuthentication"
            and metadata.get("namespace") == different
            and metadata.get("name") == "default"
        ):
            mode = obj["spec"]["mtls"]["mode"]
            obj = {**obj, "spec": {"mtls": {"mode": "DISABLE" if mode == "STRICT" else "STRICT"}}}
        yield obj


def serve_double(scale: float, variant: int, kubeconfig: str, latency: float, ready, stop) -> None:
    """Child process: one cluster's API server double, seeded directly."""
    from devcluster.cluster import DevCluster

    double = DevCluster(kubeconfig=kubeconfig, history_limit=10)
    double.seed(cluster_objects(scale, variant), validate=False)
    if latency:
        double.inject_fault("slow", delay=latency, times=10**9)
    gc.collect()
    gc.freeze()
    ready.send(double.url)
    stop.wait()
    double.stop()


def start_workers(processes: int, *, pool: str, queue: str, env: dict) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "meshui",
        "worker",
        f"--pool={pool}",
        f"--concurrency={processes}",
        "--prefetch-multiplier=1",
        "-Q",
        queue,
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"bench-{uuid.uuid4().hex[:6]}@%h",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own interpreter


def wait_until_ready(app, deadline_seconds: float = 120) -> None:
    """Until the worker answers a ping: its start is not part of a sync's time."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            time.sleep(1)  # its pool's processes are forked once it answers
            return
    raise SystemExit("the Celery worker did not start")


def fleet_sync(cluster_ids: list[int], *, trigger: str) -> tuple[float, list[dict]]:
    """Queue one sync task per cluster and wait for all: (wall seconds, outcomes)."""
    from policies.tasks import sync_cluster

    started = time.monotonic()
    results = [
        sync_cluster.apply_async(kwargs={"trigger": trigger, "cluster_id": cluster_id})
        for cluster_id in cluster_ids
    ]
    outcomes = [result.get(timeout=900) for result in results]
    return time.monotonic() - started, outcomes


def page_timings(url: str) -> tuple[float, int]:
    """(median ms, queries) of a logged-in GET of `url`."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.factories import user_with_role

    client = Client()
    client.force_login(user_with_role("auditor", username=f"bench-{uuid.uuid4().hex[:6]}"))
    assert client.get(url).status_code == 200
    times = []
    for _ in range(PAGE_REPEATS):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return statistics.median(times), len(captured)


def start_doubles(arguments, folder: Path):
    """One API server double per cluster, each in its own process; (processes, stop)."""
    stop = multiprocessing.Event()
    doubles, pipes = [], []
    print(f"seeding {arguments.clusters} API server doubles (scale {arguments.scale:g})...")
    started = time.monotonic()
    for index in range(arguments.clusters):
        receiver, sender = multiprocessing.Pipe(duplex=False)
        process = multiprocessing.Process(
            target=serve_double,
            args=(
                arguments.scale,
                index,
                str(folder / f"c{index}.kubeconfig"),
                arguments.api_latency,
                sender,
                stop,
            ),
        )
        process.start()
        doubles.append(process)
        pipes.append(receiver)
    for receiver in pipes:
        receiver.recv()
    print(f"  seeded in {time.monotonic() - started:.0f} s")
    return doubles, stop


def register_fleet(arguments, folder: Path) -> list[int | None]:
    """Register clusters 1..N-1 as an admin does (cluster 0 is the configured one)."""
    from policies.cluster_sources import SOURCE_KUBECONFIG
    from policies.models import Cluster, Snapshot, SyncRun
    from policies.services.fleet import ClusterSpec, cluster_register

    Snapshot.objects.all().delete()
    SyncRun.objects.all().delete()
    Cluster.objects.all().delete()
    for index in range(1, arguments.clusters):
        cluster_register(
            user=None,
            spec=ClusterSpec(
                name=f"cluster-{index:02d}",
                source=SOURCE_KUBECONFIG,
                kubeconfig=str(folder / f"c{index}.kubeconfig"),
            ),
        )
    # The configured cluster's task takes no id; the others theirs.
    return [None, *Cluster.objects.order_by("name").values_list("pk", flat=True)]


def sync_rounds(cluster_ids: list[int | None], *, queue: str, env: dict) -> None:
    """A full fleet sync per worker count, then no-change fleet syncs."""
    from meshui.celery import app
    from policies.models import Snapshot, SyncRun

    for processes in WORKER_COUNTS:
        Snapshot.objects.all().delete()
        SyncRun.objects.all().delete()
        workers = start_workers(processes, pool="prefork", queue=queue, env=env)
        try:
            wait_until_ready(app)
            seconds, outcomes = fleet_sync(cluster_ids, trigger="bench")
        finally:
            workers.terminate()
            workers.wait(timeout=60)
        statuses = ", ".join(sorted({outcome["status"] for outcome in outcomes}))
        plural = "es" if processes > 1 else ""
        print(
            f"full fleet sync, {processes} worker process{plural}: {seconds:6.1f} s  ({statuses})"
        )
    for pool, processes in (("prefork", 4), ("threads", len(cluster_ids))):
        workers = start_workers(processes, pool=pool, queue=queue, env=env)
        try:
            wait_until_ready(app)
            seconds, outcomes = fleet_sync(cluster_ids, trigger="bench")
        finally:
            workers.terminate()
            workers.wait(timeout=60)
        statuses = ", ".join(sorted({outcome["status"] for outcome in outcomes}))
        print(
            f"no-change fleet sync, {pool} x{processes}: {seconds:6.1f} s  "
            f"(target < 10 s; {statuses})"
        )


def page_rounds(clusters: int) -> None:
    """The fleet overview and a namespace in every cluster: time, and queries for 2 and all."""
    from django.utils import timezone

    from policies.models import Cluster

    pages = {
        "fleet overview": "/fleet/",
        "namespace in every cluster": "/fleet/namespaces/team-00001/",  # differs in cluster-01
    }
    timings = {label: page_timings(url) for label, url in pages.items()}
    removed = list(Cluster.objects.order_by("name").values_list("pk", flat=True))[1:]
    Cluster.objects.filter(pk__in=removed).update(removed_at=timezone.now())
    try:
        two = {label: page_timings(url)[1] for label, url in pages.items()}
    finally:
        Cluster.objects.filter(pk__in=removed).update(removed_at=None)
    for label, (median, queries) in timings.items():
        print(
            f"{label:28} {median:6.1f} ms median of {PAGE_REPEATS} (target < 150 ms); "
            f"{queries} queries with {clusters} clusters, {two[label]} with 2"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.1, help="bench/sync.py's --scale")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/meshui_bench_fleet"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument(
        "--api-latency",
        type=float,
        default=0.0,
        help="seconds each API request of the doubles waits first, as a remote cluster's "
        "network and API server would (the doubles' own CPU then matters less)",
    )
    parser.add_argument(
        "--pages-only",
        action="store_true",
        help="time the fleet pages on the database a previous run left, without syncing",
    )
    arguments = parser.parse_args()
    if not 2 <= arguments.clusters <= 50:
        parser.error("--clusters must be between 2 and 50")

    folder = Path(tempfile.mkdtemp(prefix="meshui-bench-fleet-"))
    prefix = f"meshui-bench-fleet-{uuid.uuid4().hex[:8]}:"
    queue = prefix.rstrip(":")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "meshui.settings",
        "DATABASE_URL": arguments.database_url,
        "REDIS_URL": arguments.redis_url,
        "MESHUI_REDIS_KEY_PREFIX": prefix,
        "MESHUI_LOG_LEVEL": "WARNING",
        "MESHUI_KUBE_TIMEOUT_SECONDS": "120",
        "MESHUI_SNAPSHOT_RETENTION_DAYS": "0",
        # The configured cluster is the first double; the others are registered.
        "MESHUI_KUBECONFIG": str(folder / "c0.kubeconfig"),
        "MESHUI_CLUSTER_NAME": "cluster-00",
    }
    os.environ.update(env)
    prepare_database(arguments.database_url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from meshui.celery import app

    settings.ALLOWED_HOSTS = ["*"]
    app.conf.update(task_default_queue=queue, task_always_eager=False)
    call_command("migrate", verbosity=0, interactive=False)
    if arguments.pages_only:
        page_rounds(arguments.clusters)
        return 0
    doubles, stop = start_doubles(arguments, folder)
    try:
        cluster_ids = register_fleet(arguments, folder)
        sync_rounds(cluster_ids, queue=queue, env=env)
        page_rounds(arguments.clusters)
    finally:
        stop.set()
        for process in doubles:
            process.join(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
