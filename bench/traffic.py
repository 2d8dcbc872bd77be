"""Traffic readiness at scale: the full refresh, the preview's query and the pages.

    .venv/bin/python bench/traffic.py                      # 1,000 namespaces, SQLite
    .venv/bin/python bench/traffic.py --postgres --namespaces 10000 --workloads-per-namespace 15

Backfills a real Prometheus (Debian's package) with 8 days of Istio metrics for a mesh named
like `tests.factories.large_snapshot` (ns-00000/app-01, ...): every workload called in mutual
TLS by `--edges` callers, every tenth namespace with a plaintext caller without sidecar.
Then times `traffic_read` (wall time, query count, rows), the preview's targeted query
(median of 20), and the pages with readiness on. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

HOUR, DAY = 3600, 86400


def mesh_series(namespaces: int, workloads: int, edges: int, end: int):
    from devprometheus import IstioSeries
    from devprometheus.openmetrics import REQUESTS, TCP_OPENED

    full = {"start": end - 8 * DAY, "end": end, "compact": True}
    series = []
    for index in range(namespaces):
        ns = f"ns-{index:05d}"
        for number in range(1, workloads + 1):
            workload = f"app-{number:02d}"
            metric = TCP_OPENED if number % 5 == 0 else REQUESTS
            for edge in range(edges):
                caller = f"app-{(number + edge) % workloads + 1:02d}"
                principal = f"spiffe://cluster.local/ns/{ns}/sa/{caller}"
                series.append(IstioSeries(metric, ns, workload, ns, caller, principal, **full))
        if index % 10 == 0:
            series.append(IstioSeries(REQUESTS, ns, "app-01", security="none", **full))
    return series


def timed(function, repeat: int) -> tuple[float, float]:
    timings = []
    for _ in range(repeat):
        begin = time.perf_counter()
        function()
        timings.append((time.perf_counter() - begin) * 1000)
    return statistics.median(timings), sorted(timings)[max(0, int(len(timings) * 0.95) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--workloads-per-namespace", type=int, default=3)
    parser.add_argument("--edges", type=int, default=2, help="mutual TLS callers per workload")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message="No directory at")
    from pages import configure  # bench/pages.py: a scratch SQLite file or PostgreSQL database

    cleanup = configure(args.postgres)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
    os.environ.pop("MESHUI_TEST_DB_NAME", None)
    from devprometheus import blocks_build, openmetrics_text, prometheus_start

    end = int(time.time()) // HOUR * HOUR
    dense = ((end - 7 * DAY - HOUR, end - 7 * DAY + HOUR), (end - 2 * HOUR, end))
    began = time.perf_counter()
    series = mesh_series(args.namespaces, args.workloads_per_namespace, args.edges, end)
    text = openmetrics_text(series, step=HOUR, dense=dense)
    cache = Path(tempfile.gettempdir()) / "meshui-bench-prometheus"
    blocks = blocks_build(text, cache_dir=cache)
    print(
        f"backfilled {len(series):,} series ({len(text) / 1e6:.0f} MB of OpenMetrics) in "
        f"{time.perf_counter() - began:.1f} s"
    )
    prometheus = prometheus_start(blocks)
    os.environ["MESHUI_PROMETHEUS_URL"] = prometheus.url
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections
        from django.test import Client
        from django.test.utils import CaptureQueriesContext, setup_test_environment

        from policies.prometheus import prometheus_client_from_settings
        from policies.services.traffic import traffic_read
        from policies.traffic_queries import preview_query
        from tests.factories import large_snapshot, sync_run, user_with_role

        setup_test_environment()
        call_command("migrate", verbosity=0, interactive=False)
        snapshot = large_snapshot(
            namespaces=args.namespaces, workloads_per_namespace=args.workloads_per_namespace
        )
        sync_run(snapshot=snapshot)
        at = datetime.fromtimestamp(end, UTC)

        for attempt in ("first", "second"):
            begin = time.perf_counter()
            read = traffic_read(now=at)
            wall = time.perf_counter() - begin
            assert read.status == "succeeded", read.error
            print(
                f"full refresh ({attempt}): {wall:.2f} s wall, {read.query_count} queries, "
                f"{read.namespaces.count():,} namespace rows, {read.workloads.count():,} "
                f"workload rows, {read.callers.count():,} plaintext callers"
            )
        from django.conf import settings

        from policies.traffic_queries import history_oldest_query, refresh_queries

        with prometheus_client_from_settings(settings) as client:
            for query in [*refresh_queries(7 * DAY), history_oldest_query("7d")]:
                begin = time.perf_counter()
                samples = client.query(query.promql, at=at).samples
                print(
                    f"  query {query.purpose:<14} {query.metric or '':<36} "
                    f"{(time.perf_counter() - begin) * 1000:>8.0f} ms, {len(samples):,} series"
                )
            query = preview_query(7 * DAY, (f"ns-{args.namespaces // 2:05d}",)).promql
            median, p95 = timed(lambda: client.query(query, at=at), args.repeat)
        print(f"preview's targeted query: median {median:.1f} ms, p95 {p95:.1f} ms")

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        browser = Client()
        browser.force_login(user_with_role("auditor", username="bench"))
        middle = f"ns-{args.namespaces // 2:05d}"
        pages = [
            ("overview", "/"),
            ("namespaces, first page", "/namespaces/"),
            ("namespaces, sorted by readiness", "/namespaces/?sort=readiness"),
            ("namespaces, PERMISSIVE and ready", "/namespaces/?mode=PERMISSIVE&readiness=ready"),
            ("namespaces, by plaintext share", "/namespaces/?sort=-plaintext"),
            (f"namespace detail ({middle})", f"/namespaces/{middle}/"),
            ("workload detail", f"/namespaces/{middle}/workloads/Deployment/app-01/"),
        ]
        print(f"\n{'page':<40} {'median':>8} {'p95':>8} {'queries':>8}")
        for label, url in pages:
            for _ in range(3):
                browser.get(url)
            connections["default"].queries_log.clear()  # a full log captures nothing
            with CaptureQueriesContext(connections["default"]) as queries:
                response = browser.get(url)
            query_count = len(queries.captured_queries)
            assert response.status_code == 200, (url, response.status_code)
            median, p95 = timed(lambda url=url: browser.get(url), args.repeat)
            print(f"{label:<40} {median:>6.1f}ms {p95:>6.1f}ms {query_count:>8}")
    finally:
        prometheus.stop()
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
