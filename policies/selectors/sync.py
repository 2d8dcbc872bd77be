"""Reading the current snapshot and the state of syncing (for the overview and the banner)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.utils import timezone

from policies.models import NamespaceRecord, Snapshot, SyncRun

# A sync is stale after this many missed intervals (issue 5: "older than three intervals").
STALE_AFTER_INTERVALS = 3
_FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE, SyncRun.Status.FAILED)
_GOOD = (SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE)


def snapshot_current() -> Snapshot | None:
    """The newest stored snapshot of the cluster in scope, or None before its first
    successful sync."""
    return Snapshot.objects.current()


def namespace_last_seen(name: str) -> datetime | None:
    """When the newest snapshot holding namespace `name` was taken (None: meshui never saw it).

    Asked only when the cluster says a namespace does not exist, to tell "deleted since" from
    "never there".
    """
    return (
        NamespaceRecord.objects.filter(name=name)
        .order_by("-snapshot__taken_at")
        .values_list("snapshot__taken_at", flat=True)
        .first()
    )


def sync_run_latest(*, finished: bool = False) -> SyncRun | None:
    """The most recent sync attempt of the cluster in scope (only finished ones with
    `finished=True`)."""
    runs = SyncRun.objects.in_scope().order_by("-started_at", "-id")
    if finished:
        runs = runs.filter(status__in=_FINISHED)
    return runs.select_related("snapshot").first()


class Staleness(StrEnum):
    """Why the data may no longer match the cluster (issue 5); FRESH when it does."""

    FRESH = "fresh"
    NO_DATA = "no_data"  # no snapshot stored yet
    FAILED = "failed"  # the last finished sync failed
    ABANDONED = "abandoned"  # the newest sync is "running" past the hard time limit: dead
    OLD = "old"  # no sync has succeeded for more than STALE_AFTER_INTERVALS intervals


@dataclass(frozen=True)
class SyncStatus:
    """Freshness, for every page, the banner and commands: one state, one rule (sync_status)."""

    snapshot: Snapshot | None
    last_run: SyncRun | None  # the last finished attempt, whatever its result
    last_success_at: datetime | None  # when the cluster was last read successfully
    running: SyncRun | None  # a sync running now (within the task's hard time limit)
    staleness: Staleness
    stale_reason: str  # a sentence that stands alone (commands, logs), "" when fresh
    # The stale banner's words, which it follows with the failed run's time and error; ""
    # when fresh or without data (pages then say "No data yet" instead).
    stale_summary: str

    @property
    def is_stale(self) -> bool:
        return self.staleness != Staleness.FRESH

    @property
    def has_snapshot(self) -> bool:
        return self.snapshot is not None

    @property
    def last_failed(self) -> bool:
        return self.last_run is not None and self.last_run.status == SyncRun.Status.FAILED


_NOT_GIVEN = object()


def sync_status(*, now: datetime | None = None, snapshot=_NOT_GIVEN) -> SyncStatus:
    """Fresh or stale, the one rule every page and command uses, for the cluster in scope.

    Stale when there is no data yet, the last sync failed, the newest sync has been
    "running" longer than the task's hard time limit (its worker died), or the last good
    read is more than STALE_AFTER_INTERVALS sync intervals old. A sync running now changes
    none of that: until it finishes, the data is as old as it was. `snapshot` saves a query
    when the caller already read snapshot_current().
    """
    now = now or timezone.now()
    if snapshot is _NOT_GIVEN:
        snapshot = snapshot_current()
    last_run = sync_run_latest(finished=True)
    if last_run is not None and last_run.status in _GOOD:
        last_success = last_run
    else:
        last_success = (
            SyncRun.objects.in_scope()
            .filter(status__in=_GOOD)
            .order_by("-started_at", "-id")
            .first()
        )
    newest_running = (
        SyncRun.objects.in_scope()
        .filter(status=SyncRun.Status.RUNNING)
        .order_by("-started_at", "-id")
        .first()
    )
    return sync_status_of(
        now=now,
        snapshot=snapshot,
        last_run=last_run,
        last_success=last_success,
        newest_running=newest_running,
    )


def sync_status_of(
    *,
    now: datetime,
    snapshot: Snapshot | None,
    last_run: SyncRun | None,
    last_success: SyncRun | None,
    newest_running: SyncRun | None,
    interval_seconds: int | None = None,
) -> SyncStatus:
    """The rule of sync_status on runs already read (the fleet overview reads every
    cluster's at once). `interval_seconds` is the cluster's own sync interval, if it has one."""
    interval = timedelta(seconds=interval_seconds or settings.MESHUI_SYNC_INTERVAL)
    hard_limit = timedelta(seconds=settings.MESHUI_SYNC_TIME_LIMIT)
    running = abandoned = None
    if newest_running is not None:
        if now - newest_running.started_at <= hard_limit:
            running = newest_running
        elif last_run is None or newest_running.started_at > last_run.started_at:
            abandoned = newest_running
    last_success_at = None
    if last_success is not None:
        last_success_at = last_success.finished_at or last_success.started_at
    elif snapshot is not None:
        last_success_at = snapshot.taken_at

    staleness, reason = Staleness.FRESH, ""
    if snapshot is None:
        staleness = Staleness.NO_DATA
        if last_run is not None and last_run.status == SyncRun.Status.FAILED:
            reason = f"No data yet: the sync failed. {last_run.error}"
        else:
            reason = "No data yet: the first sync has not finished."
    elif abandoned is not None:
        staleness = Staleness.ABANDONED
        reason = (
            f"The last sync, started {abandoned.started_at:%Y-%m-%d %H:%M} UTC, never finished: "
            f"its worker stopped or was killed at MESHUI_SYNC_TIME_LIMIT. "
            f"Showing the snapshot from {snapshot.taken_at:%Y-%m-%d %H:%M} UTC."
        )
    elif last_run is not None and last_run.status == SyncRun.Status.FAILED:
        staleness = Staleness.FAILED
        reason = (
            f"The last sync failed ({last_run.error}). "
            f"Showing the snapshot from {snapshot.taken_at:%Y-%m-%d %H:%M} UTC."
        )
    elif last_success_at is not None and now - last_success_at > interval * STALE_AFTER_INTERVALS:
        staleness = Staleness.OLD
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
        staleness=staleness,
        stale_reason=reason,
        stale_summary=_stale_summary(staleness),
    )


def _stale_summary(staleness: Staleness) -> str:
    if staleness == Staleness.FAILED:
        return "The last sync failed"
    if staleness == Staleness.ABANDONED:
        return (
            "The last sync never finished: its worker stopped or was killed at the "
            f"{settings.MESHUI_SYNC_TIME_LIMIT} s time limit"
        )
    if staleness == Staleness.OLD:
        return (
            f"No successful sync for more than {STALE_AFTER_INTERVALS} sync intervals "
            f"({STALE_AFTER_INTERVALS} × {settings.MESHUI_SYNC_INTERVAL} s)"
        )
    return ""
