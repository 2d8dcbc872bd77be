"""The benchmarks' 10,000-namespace mesh, built once into a PostgreSQL database and kept.

Building 2 x 150,000 workloads takes minutes on this machine, so `bench/pages.py --stored`
and `bench/report.py` share one database (`meshui_bench_stored` on 127.0.0.1:5432) and
build it only when it is missing or was built at another scale (`--rebuild` forces it).

It holds two snapshots of the same 10,000 namespaces x 15 workloads:
- "five percent", taken two hours ago: one namespace in 20 PERMISSIVE, so 5 % of
  workloads are exceptions (the printed report's target mesh), with two findings on each
  of those namespaces (1,000);
- "current", taken a minute ago: namespaces cycle STRICT, PERMISSIVE, DISABLE, so two
  thirds of everything is below STRICT (the worst case for the report's pages);
plus 500 namespace and 500 workload exemptions in force, 50 expired ones, 2,000 audit
entries in the last 30 days and a successful sync run.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# MESHUI_BENCH_STORED_DB names another database, so two branches with different schemas can
# each keep their own copy on one machine.
DATABASE = os.environ.get("MESHUI_BENCH_STORED_DB", "meshui_bench_stored")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FIVE_PERCENT_MODES = ("STRICT",) * 19 + ("PERMISSIVE",)
FIVE_PERCENT_AGE = timedelta(hours=2)
MARKER_CLUSTER = "bench"


def database_create(*, rebuild: bool) -> bool:
    """Make sure the database exists; True when it is new (empty)."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if exists and not rebuild:
            return False
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return True


def django_start() -> None:
    warnings.filterwarnings("ignore", message="No directory at")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
    os.environ.pop("MESHUI_TEST_DB_NAME", None)
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()


def stored_mesh(*, namespaces: int = 10_000, workloads: int = 15, rebuild: bool = False):
    """Connect Django to the stored mesh, building it first when needed; the current snapshot."""
    fresh = database_create(rebuild=rebuild)
    django_start()
    from django.core.management import call_command
    from django.db import connection

    from policies.models import NamespaceRecord, Snapshot

    call_command("migrate", verbosity=0, interactive=False)  # new migrations since the build
    current = Snapshot.objects.current()
    oldest = Snapshot.objects.order_by("taken_at").first()
    built = (
        current is not None
        and current.namespaces_total == namespaces
        and current.workloads_total == namespaces * workloads
        and Snapshot.objects.count() == 2
        # Built before large_snapshot took its modes in turn (it used the first three only,
        # which left the "five percent" snapshot all STRICT): build again.
        and NamespaceRecord.objects.filter(snapshot=oldest).exclude(mode="STRICT").count()
        == namespaces // len(FIVE_PERCENT_MODES)
    )
    if fresh or not built:
        if not fresh:
            database_create(rebuild=True)
            from django.db import connections

            connections.close_all()
            call_command("migrate", verbosity=0, interactive=False)
        current = mesh_build(namespaces=namespaces, workloads=workloads)
    with connection.cursor() as cursor:
        # What autovacuum does to insert-only tables soon after a sync (PostgreSQL 13+):
        # statistics, and the visibility map that lets index-only scans skip the heap.
        cursor.execute("VACUUM ANALYZE")
    return current


def mesh_build(*, namespaces: int, workloads: int):
    from django.utils import timezone

    from policies.models import AuditEntry, Exemption
    from tests.factories import large_snapshot, sync_run, user_with_role

    started = time.perf_counter()
    now = timezone.now()
    large_snapshot(
        namespaces=namespaces,
        workloads_per_namespace=workloads,
        modes=FIVE_PERCENT_MODES,
        taken_at=now - FIVE_PERCENT_AGE,
        findings_with_modes=("PERMISSIVE",),
    )
    current = large_snapshot(
        namespaces=namespaces,
        workloads_per_namespace=workloads,
        taken_at=now - timedelta(minutes=1),
    )
    sync_run(snapshot=current)
    user_with_role("auditor", username="bench")
    exemptions_record(500, namespaces=namespaces, now=now)
    audit_entries_record(2_000, namespaces=namespaces, now=now)
    print(
        f"built the stored mesh ({namespaces:,} namespaces x {workloads} workloads, two "
        f"snapshots) in {time.perf_counter() - started:.0f} s; "
        f"{Exemption.objects.count():,} exemptions, {AuditEntry.objects.count():,} audit entries"
    )
    return current


def exemptions_record(count: int, *, namespaces: int, now) -> None:
    """`count` namespace and `count` workload exemptions in force, and 50 expired ones."""
    from policies.models import Exemption

    step = max(1, namespaces // max(count, 1))
    common = {"owner": "bench", "justification": "bench", "created_by": "bench"}
    in_force = [
        Exemption(
            namespace=f"ns-{index:05d}",
            workload=workload,
            created_at=now - timedelta(days=1),
            expires_at=now + timedelta(days=30),
            **common,
        )
        for index in range(0, namespaces, step)[:count]
        for workload in ("", "app-01")
    ]
    expired = [
        Exemption(
            namespace=f"ns-{index:05d}",
            workload="app-02",
            created_at=now - timedelta(days=60),
            expires_at=now - timedelta(days=3),
            **common,
        )
        for index in range(1, namespaces, max(1, namespaces // 50))[:50]
    ]
    Exemption.objects.bulk_create(in_force + expired)


def audit_entries_record(count: int, *, namespaces: int, now) -> None:
    """Applied toggles through meshui's one audit writer (hash chain intact), spread over
    the last 30 days."""
    from policies.models import AuditEntry
    from policies.services.audit import audit_entry_record

    step = timedelta(days=29) / max(count, 1)
    for number in range(count):
        audit_entry_record(
            user=None,
            action="namespace_mode_set",
            outcome=AuditEntry.Outcome.APPLIED,
            target_kind="PeerAuthentication",
            target_namespace=f"ns-{number * 7 % namespaces:05d}",
            target_name="default",
            reason=f"CHG-{number}",
            now=now - timedelta(days=29) + step * number,
        )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    snapshot = stored_mesh(rebuild=args.rebuild)
    print(f"current snapshot {snapshot.pk}: {snapshot.workloads_total:,} workloads")
