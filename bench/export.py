"""Benchmark the auditor exports and the report on a 10,000-namespace snapshot.

    .venv/bin/python bench/export.py                  # 10,000 namespaces, 100,000 workloads
    .venv/bin/python bench/export.py --workloads 150000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/export.py

Builds one snapshot in a scratch database (a temporary SQLite file unless DATABASE_URL points
elsewhere; on PostgreSQL it uses its own database `meshui_bench_export`, created and dropped),
then times, each as the view streams it: the namespaces, workloads, findings and audit CSV, the
whole-report JSON, the report page (HTML), and compare of two snapshots.
Target (issue 7): the 10,000-namespace snapshot exports to CSV in under 5 s. Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODES = ("STRICT", "PERMISSIVE", "DISABLE")


def configure_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/meshui_bench_export"
    else:
        scratch = Path(tempfile.mkdtemp(prefix="meshui-bench-")) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")


def build_snapshot(*, taken_at: datetime, namespaces: int, workloads: int, shift: int = 0):
    from policies.engine import SEVERITY_RANK
    from policies.models import (
        FindingRecord,
        NamespaceRecord,
        Snapshot,
        WorkloadRecord,
    )
    from tests.factories import engine_finding
    from tests.reports.builders import reason

    names = [f"team-{index:05d}" for index in range(namespaces)]
    modes = {name: MODES[(index + shift) % 7 % 3] for index, name in enumerate(names)}
    per_namespace = max(1, workloads // namespaces)
    snapshot = Snapshot.objects.create(
        taken_at=taken_at,
        cluster_name="bench",
        mesh_mode="PERMISSIVE",
        mesh_policy="istio-system/default",
        namespaces_total=namespaces,
        namespaces_strict=sum(1 for mode in modes.values() if mode == "STRICT"),
        workloads_total=per_namespace * namespaces,
    )
    NamespaceRecord.objects.bulk_create(
        (
            NamespaceRecord(
                snapshot=snapshot,
                name=name,
                mode=mode,
                source="namespace",
                policy=f"{name}/default",
                reason=reason(mode, policy=f"{name}/default"),
                workloads_total=per_namespace,
            )
            for name, mode in modes.items()
        ),
        batch_size=2000,
    )
    WorkloadRecord.objects.bulk_create(
        (
            WorkloadRecord(
                snapshot=snapshot,
                namespace=name,
                name=f"svc-{index}",
                kind="Deployment",
                mode=modes[name],
                source="namespace",
                policy=f"{name}/default",
                ports={"9090": "PERMISSIVE"} if index == 0 else {},
                has_port_exceptions=index == 0,
                reason=reason(modes[name], policy=f"{name}/default"),
                has_sidecar=index % 5 != 0,
            )
            for name in names
            for index in range(per_namespace)
        ),
        batch_size=2000,
    )
    FindingRecord.objects.bulk_create(
        (
            FindingRecord(
                snapshot=snapshot,
                code="DUPLICATE_NAMESPACE_POLICY",
                severity="warning",
                severity_rank=SEVERITY_RANK["warning"],
                namespace=name,
                name="default",
                kind="PeerAuthentication",
                message=engine_finding("DUPLICATE_NAMESPACE_POLICY", namespace=name)[1],
            )
            for name, mode in modes.items()
            if mode != "STRICT"
        ),
        batch_size=2000,
    )
    return snapshot


def timed(label: str, action) -> float:
    """Wall time (what a user waits) and this process's CPU time (steadier on a shared box)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    size = action()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"  {label:<36} {seconds:7.2f} s wall {cpu:7.2f} s cpu   {size / 1e6:8.1f} MB")
    return seconds


def drain(response) -> int:
    assert response.status_code == 200, response.status_code
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=10_000)
    parser.add_argument("--workloads", type=int, default=100_000)
    args = parser.parse_args()

    configure_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    created_db = None
    if connection.vendor == "postgresql":
        created_db = connection.creation.create_test_db(verbosity=0, keepdb=False)
    else:
        call_command("migrate", verbosity=0)

    from django.contrib.auth.models import Group, User
    from django.test import Client

    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        build_snapshot(
            taken_at=now - timedelta(days=2),
            namespaces=args.namespaces,
            workloads=args.workloads,
            shift=1,
        )
        build_snapshot(
            taken_at=now - timedelta(hours=1), namespaces=args.namespaces, workloads=args.workloads
        )
        print(
            f"meshui export benchmark on {connection.vendor}: 2 snapshots of "
            f"{args.namespaces:,} namespaces, {args.workloads:,} workloads "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )

        auditor = User.objects.create_user("bench-auditor")
        auditor.groups.add(Group.objects.get(name="auditor"))
        client = Client()
        client.force_login(auditor)
        yesterday = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        figures = {}
        for table in ("namespaces", "workloads", "findings", "audit"):
            figures[table] = timed(
                f"{table}.csv", lambda t=table: drain(client.get(f"/reports/{t}.csv"))
            )
        timed("workloads.json", lambda: drain(client.get("/reports/workloads.json")))
        timed("report.json (whole report)", lambda: drain(client.get("/reports/report.json")))
        timed("report page (HTML)", lambda: drain(client.get("/reports/")))
        timed(
            "compare two snapshots (HTML)",
            lambda: drain(client.get("/reports/compare/", {"from": yesterday})),
        )
        verdict = "met" if figures["namespaces"] < 5 else "MISSED"
        print(f"target: namespaces CSV under 5 s: {verdict} ({figures['namespaces']:.2f} s)")
    finally:
        if created_db:
            connection.creation.destroy_test_db(created_db, verbosity=0)


if __name__ == "__main__":
    main()
