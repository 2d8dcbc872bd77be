"""Reading the current snapshot and the state of syncing (for the overview and the banner)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from policies.models import Snapshot, SyncRun

# A sync is stale after this many missed intervals (issue 5: "older than three intervals").
STALE_AFTER_INTERVALS = 3
_FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE, SyncRun.Status.FAILED)
_GOOD = (SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE)


def snapshot_current() -> Snapshot | None:
    """The newest stored snapshot, or None before the first successful sync."""
    return Snapshot.objects.order_by("-taken_at", "-id").first()


def sync_run_latest(*, finished: bool = False) -> SyncRun | None:
    """The most recent sync attempt (only finished ones with `finished=True`)."""
    runs = SyncRun.objects.order_by("-started_at", "-id")
    if finished:
        runs = runs.filter(status__in=_FINISHED)
    return runs.select_related("snapshot").first()


@dataclass(frozen=True)
class SyncStatus:
    """What the page header needs to say about freshness."""

    snapshot: Snapshot | None
    last_run: SyncRun | None  # the last finished attempt
    last_success_at: datetime | None  # when the cluster was last read successfully
    running: bool
    is_stale: bool
    stale_reason: str  # a sentence for the banner, "" when fresh


def sync_status(*, now: datetime | None = None) -> SyncStatus:
    """Fresh or stale: stale when the last sync failed or the data is 3 intervals old."""
    now = now or timezone.now()
    interval = timedelta(seconds=settings.MESHUI_SYNC_INTERVAL)
    snapshot = snapshot_current()
    last_run = sync_run_latest(finished=True)
    last_success = SyncRun.objects.filter(status__in=_GOOD).order_by("-finished_at", "-id").first()
    # A run that has been "running" longer than a sync may take was killed: not running.
    running = SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING,
        started_at__gte=now - max(interval * 5, timedelta(minutes=10)),
    ).exists()
    last_success_at = last_success.finished_at if last_success else None
    if last_success_at is None and snapshot is not None:
        last_success_at = snapshot.taken_at

    reason = ""
    if snapshot is None:
        if last_run is not None and last_run.status == SyncRun.Status.FAILED:
            reason = f"No data yet: the sync failed. {last_run.error}"
        else:
            reason = "No data yet: the first sync has not finished."
    elif last_run is not None and last_run.status == SyncRun.Status.FAILED:
        reason = (
            f"The last sync failed ({last_run.error}). "
            f"Showing the snapshot from {snapshot.taken_at:%Y-%m-%d %H:%M} UTC."
        )
    elif last_success_at is not None and now - last_success_at > interval * STALE_AFTER_INTERVALS:
        minutes = int((now - last_success_at).total_seconds() // 60)
        reason = (
            f"The data is {minutes} minutes old: no sync has succeeded for more than "
            f"{STALE_AFTER_INTERVALS} sync intervals."
        )
    return SyncStatus(
        snapshot=snapshot,
        last_run=last_run,
        last_success_at=last_success_at,
        running=running,
        is_stale=bool(reason),
        stale_reason=reason,
    )
