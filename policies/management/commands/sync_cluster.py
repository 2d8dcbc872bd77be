"""Sync the configured cluster into a snapshot from the command line."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import CommandError

from policies.cluster.errors import ClusterError
from policies.management.base import DATABASE_ERRORS, MeshuiCommand
from policies.models import SyncRun
from policies.services.sync import cluster_sync
from policies.sync_lock import sync_lock


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def sync_summary(run: SyncRun) -> str:
    """A few lines saying what a finished sync found, for terminals and logs."""
    snapshot = run.snapshot
    seconds = (run.duration_ms or 0) / 1000
    if run.status == SyncRun.Status.NO_CHANGE:
        return (
            f"No change since snapshot #{snapshot.pk} ({snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC);"
            f" checked in {seconds:.1f} s."
        )
    lines = [
        f"Synced {snapshot.cluster_name} ({snapshot.cluster_server}) in {seconds:.1f} s: "
        f"snapshot #{snapshot.pk}.",
        f"  mesh-wide mode: {snapshot.mesh_mode}"
        + (f" ({snapshot.mesh_policy})" if snapshot.mesh_policy else " (built-in default)"),
        f"  namespaces: {snapshot.namespaces_total} ({snapshot.namespaces_strict} STRICT, "
        f"{snapshot.namespaces_permissive} PERMISSIVE, {snapshot.namespaces_disable} DISABLE)",
        f"  workloads: {snapshot.workloads_total} ({snapshot.workloads_strict} STRICT, "
        f"{snapshot.workloads_permissive} PERMISSIVE, {snapshot.workloads_disable} DISABLE; "
        f"{snapshot.workloads_with_sidecar} with a sidecar)",
        f"  coverage: {snapshot.workloads_strict_enforced} STRICT enforced, "
        f"{snapshot.workloads_strict_declared} STRICT declared",
        f"  findings: {_count(snapshot.findings_error, 'error')}, "
        f"{_count(snapshot.findings_warning, 'warning')}, {_count(snapshot.findings_info, 'note')}",
    ]
    if not snapshot.istio_installed:
        lines.append("  Istio is not installed: no PeerAuthentication API on this cluster.")
    return "\n".join(lines)


class Command(MeshuiCommand):
    help = (
        "Read the cluster, compute its mTLS posture and store it as the current snapshot. "
        "With --once, sync one time and exit (non-zero with the reason on failure); "
        "without, sync every MESHUI_SYNC_INTERVAL seconds until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="sync one time and exit")

    def handle(self, *args, once: bool, **options):
        if once:
            self.stdout.write(self._sync_once())
            return
        interval = settings.MESHUI_SYNC_INTERVAL
        self.stdout.write(f"Syncing every {interval} s; Ctrl-C stops.")
        try:
            while True:
                try:
                    self.stdout.write(self._sync_once())
                except CommandError as error:
                    self.stderr.write(f"sync failed: {error}")
                time.sleep(interval)
        except KeyboardInterrupt:
            return

    def _sync_once(self) -> str:
        try:
            lock = sync_lock(timeout=settings.MESHUI_SYNC_TIME_LIMIT)
            if not lock.acquire():
                raise CommandError("Another sync of this cluster is running; try again shortly.")
            try:
                run = cluster_sync(trigger="cli")
            finally:
                lock.release()
        except ClusterError as error:
            raise CommandError(error.summary) from error
        except DATABASE_ERRORS:
            raise  # not the sync's failure: MeshuiCommand says so and exits 2
        except Exception as error:  # recorded on the run; the terminal gets a sentence
            raise CommandError(f"The sync failed: {type(error).__name__}: {error}") from error
        return sync_summary(run)
