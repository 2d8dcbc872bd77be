"""Server time and SQL queries of every page of meshui on a big snapshot.

    .venv/bin/python bench/pages.py               # a temporary SQLite file
    .venv/bin/python bench/pages.py --postgres    # a scratch database on 127.0.0.1:5432
    .venv/bin/python bench/pages.py --stored      # bench/stored_mesh.py's kept PostgreSQL mesh

Builds one snapshot of 10,000 namespaces and 150,000 workloads (or, with --stored, reuses
the two kept ones), then requests each page through Django's test client (the whole
request: middleware, view, queries, template) and prints median and 95th percentile
milliseconds and the query count. The change preview is a POST that asks the API server
double (devcluster) for a dry run, as it asks a real cluster. The compare page is timed as
visited again (its pair's changes stored) and as the first visit of its pair. `--only WORDS`
times only the pages whose label holds WORDS. The target is under 150 ms
with a query count that does not depend on the mesh size. It prints figures; it asserts
nothing (tests never assert wall-clock times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 150
PER_PAGE = 50


def pages_for(namespaces: int, workloads_per_namespace: int = 15) -> list[tuple[str, str, dict]]:
    """The pages to time, named after the namespaces `large_snapshot` built (ns-00000, ...).

    Derived from the scale so that a smaller run (--namespaces 500) still requests pages
    and a namespace that exist. The "deep" pages are the last and the middle page under
    sorts no index serves (the worst offsets); `--only deep` times just them.
    """
    middle = f"ns-{namespaces // 2:05d}"
    last_page = max(1, -(-namespaces // PER_PAGE))
    workload_middle = max(1, -(-namespaces * workloads_per_namespace // PER_PAGE) // 2)
    # Two thirds of the workloads are below STRICT, 20 to a report page.
    report_middle = max(1, namespaces * workloads_per_namespace * 2 // 3 // 20 // 2)
    # The zero padding plus the leading digit of the last tenth: "ns-09" of 10,000 names.
    padding = 5 - len(str(max(namespaces - 1, 0)))
    search = f"ns-{namespaces * 9 // 10:05d}"[: len("ns-") + padding + 1]
    return [
        ("overview", "/", {}),
        ("namespaces, first page", "/namespaces/", {}),
        ("namespaces, sorted by findings", "/namespaces/?sort=-findings", {}),
        (
            "namespaces, STRICT by sidecar share, page 40",
            "/namespaces/?mode=STRICT&sort=-sidecars&page=40",
            {},
        ),
        (f"namespaces, search {search!r}", f"/namespaces/?q={search}", {}),
        (
            f"namespaces, last page of {last_page}",
            f"/namespaces/?per_page={PER_PAGE}&page={last_page}",
            {},
        ),
        (
            "namespaces, htmx table swap",
            "/namespaces/?mode=PERMISSIVE&sort=-workloads",
            {"HX-Request": "true", "HX-Target": "namespace-table"},
        ),
        (f"namespace detail ({middle})", f"/namespaces/{middle}/", {}),
        (
            f"workload detail ({middle}/app-01)",
            f"/namespaces/{middle}/workloads/Deployment/app-01/",
            {},
        ),
        ("policies", "/policies/", {}),
        (
            "policies, PERMISSIVE namespace policies, page 20",
            "/policies/?mode=PERMISSIVE&pa_page=20",
            {},
        ),
        ("findings", "/findings/", {}),
        ("findings, warnings in ns-0", "/findings/?severity=warning&namespace=ns-00003", {}),
        ("workloads, first page", "/workloads/", {}),
        ("workloads, sorted by findings", "/workloads/?sort=-findings", {}),
        ("workloads, no sidecar, not exempt", "/workloads/?sidecar=no&exempt=no", {}),
        (f"workloads of {middle}", f"/workloads/?namespace={middle}", {}),
        ("workloads, page past the end (clamped)", "/workloads/?page=99999", {}),
        *(
            (
                f"workloads deep, sorted by {sort}, last page",
                f"/workloads/?sort={sort}&page=99999",
                {},
            )
            for sort in ("name", "-name", "mode", "-findings", "kind")
        ),
        *(
            (
                f"workloads deep, sorted by {sort}, middle page {workload_middle:,}",
                f"/workloads/?sort={sort}&page={workload_middle}",
                {},
            )
            for sort in ("name", "kind", "source", "mode", "sidecar", "-findings")
        ),
        (
            f"workloads deep, middle page {workload_middle:,}",
            f"/workloads/?page={workload_middle}",
            {},
        ),
        (
            "workloads deep, no sidecar by -kind, last page",
            "/workloads/?sidecar=no&sort=-kind&page=99999",
            {},
        ),
        (
            "namespaces deep, sorted by -findings, last page",
            "/namespaces/?sort=-findings&page=99999",
            {},
        ),
        (
            "namespaces deep, sorted by sidecars, last page",
            "/namespaces/?sort=sidecars&page=99999",
            {},
        ),
        ("findings deep, last page", "/findings/?page=99999", {}),
        ("report deep, workloads last page", "/reports/?workloads_page=99999", {}),
        (
            f"report deep, workloads middle page {report_middle:,}",
            f"/reports/?workloads_page={report_middle}",
            {},
        ),
        ("report deep, findings last page", "/reports/?findings_page=99999", {}),
        ("audit log", "/audit/", {}),
        ("audit log deep, last page", "/audit/?page=99999", {}),
        ("audit log, page 40", "/audit/?page=40", {}),
        ("exemptions", "/exemptions/", {}),
        ("report, first page", "/reports/", {}),
        ("report, workloads page 2,000", "/reports/?workloads_page=2000", {}),
        ("report, namespaces ns-09 DISABLE", "/reports/?namespace=ns-09&mode=DISABLE", {}),
        (
            "report, htmx swap of namespaces page 100",
            "/reports/?namespaces_page=100",
            {"HX-Request": "true", "HX-Target": "report-namespaces"},
        ),
        ("trends, 30 days", "/reports/trends/", {}),
    ]


def compare_page(snapshots) -> tuple[str, str, dict]:
    """Compare the oldest snapshot with now (the stored mesh: 5 % -> two thirds below STRICT)."""
    from policies.forms.reports import moment_param

    oldest = min(snapshots, key=lambda snapshot: snapshot.taken_at)
    return (
        "compare, oldest snapshot to now",
        f"/reports/compare/?from={moment_param(oldest.taken_at)}",
        {},
    )


def change_preview_timings(client, repeat: int) -> tuple[float, float, int]:
    """POST the on-call toggle's form without `confirm`: the preview, with the cluster's dry run.

    The API server double holds the namespace and its policy; meshui reads them live, plans,
    evaluates the namespace's impact on the snapshot and asks for a dry run, as in production.
    """
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from devcluster import DevCluster
    from policies import cluster as gateway

    kube = DevCluster()
    kube.seed(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-00001"}},
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "ns-00001"},
                "spec": {"mtls": {"mode": "PERMISSIVE"}},
            },
        ]
    )
    settings.MESHUI_KUBECONFIG = str(kube.kubeconfig)
    settings.MESHUI_KUBE_CONTEXT = ""
    gateway.forget_clients()
    try:
        url = "/namespaces/ns-00001/mode/"
        form = {"mode": "STRICT", "reason": "bench: preview"}
        for _ in range(2):
            client.post(url, form)
        timings = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                begin = time.perf_counter()
                response = client.post(url, form)
                timings.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200, response.status_code
            assert b"dry run" in response.content.lower(), response.content[:2000]
    finally:
        gateway.forget_clients()
        kube.stop()
    ordered = sorted(timings)
    return statistics.median(timings), ordered[max(0, int(len(ordered) * 0.95) - 1)], len(queries)


def first_compare_timings(client, url: str, repeat: int) -> tuple[float, float, int]:
    """The compare page when nobody has compared its two snapshots yet: it joins them and
    stores what changed (later visits, and syncs after one, read the stored rows)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from policies.models import SnapshotDifference

    timings = []
    for _ in range(repeat):
        SnapshotDifference.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            begin = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - begin) * 1000)
        assert response.status_code == 200, response.status_code
    ordered = sorted(timings)
    return statistics.median(timings), ordered[max(0, int(len(ordered) * 0.95) - 1)], len(queries)


def audit_changes_record(changes: int) -> None:
    """`changes` changes of three attempts each (two previews and a confirm), and every
    tenth a refusal, inserted in bulk (reads only: the chain is not what is measured)."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from policies.models import AuditEntry

    now = timezone.now()
    batch = []
    for index in range(changes):
        change_id = uuid.uuid4().hex
        moment = now - timedelta(minutes=changes - index)
        outcomes = ["dry_run", "dry_run", "denied" if index % 10 == 0 else "applied"]
        for step, outcome in enumerate(outcomes):
            batch.append(
                AuditEntry(
                    created_at=moment + timedelta(seconds=step),
                    username="bench",
                    role="oncall",
                    action="namespace_mode_set",
                    target_kind="PeerAuthentication",
                    target_namespace=f"ns-{index % 10_000:05d}",
                    target_name="default",
                    reason="bench",
                    outcome=outcome,
                    object_sent={
                        "kind": "PeerAuthentication",
                        "spec": {"mtls": {"mode": "STRICT"}},
                    },
                    change_id=change_id,
                )
            )
        if len(batch) >= 3000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)


def configure(postgres: bool) -> callable:
    """Point Django at a scratch database; return a cleanup function."""
    if postgres:
        import psycopg

        admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS meshui_bench")
            connection.execute("CREATE DATABASE meshui_bench")
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/meshui_bench"

        def cleanup():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute("DROP DATABASE IF EXISTS meshui_bench")

        return cleanup
    folder = tempfile.TemporaryDirectory(prefix="meshui-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
    return folder.cleanup


def exemptions_record(count: int, *, namespaces: int) -> None:
    """`count` namespace exemptions and `count` workload ones, spread over the mesh."""
    from datetime import timedelta

    from django.utils import timezone

    from policies.models import Exemption

    now = timezone.now()
    step = max(1, namespaces // max(count, 1))
    common = {
        "owner": "bench",
        "justification": "bench",
        "created_at": now - timedelta(days=1),
        "expires_at": now + timedelta(days=30),
        "created_by": "bench",
    }
    Exemption.objects.bulk_create(
        [
            Exemption(namespace=f"ns-{index:05d}", workload=workload, **common)
            for index in range(0, namespaces, step)[:count]
            for workload in ("", "app-01")
        ]
    )


def chosen(label: str, only: list[str]) -> bool:
    """Whether `--only` asks for the page labelled `label` (no `--only`: every page)."""
    return not only or any(words in label for words in only)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use PostgreSQL on 127.0.0.1")
    parser.add_argument("--namespaces", type=int, default=10_000)
    parser.add_argument("--workloads-per-namespace", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument(
        "--exemptions",
        type=int,
        default=500,
        help="namespace exemptions in force, and as many workload ones (pages badge them)",
    )
    parser.add_argument(
        "--audit-changes",
        type=int,
        default=20_000,
        help="changes in the audit log (three attempts each); not added to --stored's mesh",
    )
    parser.add_argument("--stored", action="store_true", help="bench/stored_mesh.py's mesh")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORDS",
        help="time only the pages whose label contains WORDS (repeatable: any of them)",
    )
    args = parser.parse_args()

    # WhiteNoise warns that collectstatic has not run; irrelevant to page timings.
    warnings.filterwarnings("ignore", message="No directory at")
    if args.stored:
        sys.path.insert(0, str(ROOT / "bench"))
        from stored_mesh import stored_mesh

        stored_mesh(namespaces=args.namespaces, workloads=args.workloads_per_namespace)

        def cleanup():
            return None
    else:
        cleanup = configure(args.postgres)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
        os.environ.pop("MESHUI_TEST_DB_NAME", None)
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext, setup_test_environment

        from policies.models import Snapshot
        from tests.factories import large_snapshot, sync_run, user_with_role

        if not args.stored:
            setup_test_environment()
            call_command("migrate", verbosity=0, interactive=False)
            started = time.perf_counter()
            snapshot = large_snapshot(
                namespaces=args.namespaces, workloads_per_namespace=args.workloads_per_namespace
            )
            sync_run(snapshot=snapshot)
            exemptions_record(args.exemptions, namespaces=args.namespaces)
            audit_changes_record(args.audit_changes)
            user_with_role("auditor", username="bench")
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # What autovacuum does soon after a sync: statistics and the visibility map.
                    cursor.execute("VACUUM ANALYZE")
            print(
                f"{connection.vendor}: built a snapshot of {snapshot.namespaces_total:,} "
                f"namespaces and {snapshot.workloads_total:,} workloads in "
                f"{time.perf_counter() - started:.1f} s ({args.exemptions:,} namespace and "
                f"{args.exemptions:,} workload exemptions)"
            )
        else:
            print(f"{connection.vendor}: the stored mesh (bench/stored_mesh.py)")
        client = Client()
        client.force_login(get_user_model().objects.get(username="bench"))

        print(f"\n{'page':<52} {'median':>8} {'p95':>8} {'queries':>8}  target < {TARGET_MS} ms")
        pages = [
            *pages_for(args.namespaces, args.workloads_per_namespace),
            compare_page(Snapshot.objects.all()),
        ]
        for label, url, headers in [page for page in pages if chosen(page[0], args.only)]:
            for _ in range(3):  # warm caches (templates, connection, database pages)
                client.get(url, headers=headers)
            timings = []
            for _ in range(args.repeat):
                with CaptureQueriesContext(connection) as queries:
                    begin = time.perf_counter()
                    response = client.get(url, headers=headers)
                    timings.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            median = statistics.median(timings)
            p95 = sorted(timings)[max(0, int(len(timings) * 0.95) - 1)]
            verdict = "ok" if median < TARGET_MS else "OVER"
            print(f"{label:<52} {median:>6.1f}ms {p95:>6.1f}ms {len(queries):>8}  {verdict}")

        label = "compare, first visit of the pair (worked out)"
        if chosen(label, args.only):
            median, p95, queries = first_compare_timings(client, pages[-1][1], args.repeat)
            verdict = "ok" if median < TARGET_MS else "OVER"
            print(f"{label:<52} {median:>6.1f}ms {p95:>6.1f}ms {queries:>8}  {verdict}")

        label = "change preview (toggle ns-00001, with dry run)"
        if chosen(label, args.only):
            admin = user_with_role("admin", username=f"bench-admin-{time.time_ns()}")
            client.force_login(admin)
            median, p95, queries = change_preview_timings(client, args.repeat)
            verdict = "ok" if median < TARGET_MS else "OVER"
            print(f"{label:<52} {median:>6.1f}ms {p95:>6.1f}ms {queries:>8}  {verdict}")
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
