"""Reads of timed restores: which are due, which are overdue, and each namespace's timed
state ("STRICT until 14:30, then PERMISSIVE"), one query per page whatever its size."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from policies.kinds import ABSENT
from policies.models import AuditEntry, TimedRestore
from policies.selectors.cluster_limits import cluster_limit_of, fleet_members_visible

PENDING = TimedRestore.Status.PENDING


def restore_sweep_interval() -> timedelta:
    """How often due restores are looked for (beat's sweep, or serve's thread without Redis)."""
    return timedelta(seconds=settings.MESHUI_RESTORE_SWEEP_INTERVAL)


def mode_set_by(change: AuditEntry) -> str:
    """The mode a timed change set ("" when its entry holds no mode)."""
    sent = change.object_sent if isinstance(change.object_sent, dict) else {}
    return ((sent.get("spec") or {}).get("mtls") or {}).get("mode", "")


def _pending_with_due_time() -> QuerySet[TimedRestore]:
    # A restore may run at its next try (after a failed attempt, or while one holds its
    # claim) or, never tried, at restore_at; next_try_at is never earlier than restore_at.
    return TimedRestore.objects.filter(status=PENDING).annotate(
        due_at=Coalesce("next_try_at", "restore_at")
    )


def timed_restores_due(*, now: datetime | None = None) -> list[int]:
    """Ids of the pending restores that may run now, the longest waiting first."""
    now = now or timezone.now()
    return list(
        _pending_with_due_time()
        .filter(due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)
    )


def timed_restore_next_due_at() -> datetime | None:
    """When the next pending restore may run, or None when none is pending."""
    return _pending_with_due_time().order_by("due_at").values_list("due_at", flat=True).first()


def restores_overdue(*, now: datetime | None = None) -> list[TimedRestore]:
    """Pending restores due more than one sweep interval ago, oldest first.

    Nothing ran them on time (no worker, beat or serve running) or the cluster refused or
    did not answer; the pages, /metrics and /healthz show them until they run or someone
    cancels them.
    """
    now = now or timezone.now()
    return list(
        TimedRestore.objects.filter(status=PENDING, restore_at__lt=now - restore_sweep_interval())
        .select_related("restore_entry")
        .order_by("restore_at", "pk")
    )


@dataclass(frozen=True)
class TimedState:
    """A namespace in a timed mode: `mode` until `until`, then `then` (a mode, or ABSENT)."""

    restore: TimedRestore
    mode: str
    until: datetime
    then: str
    due: bool  # its time has come (a sweep runs it within one interval)
    overdue: bool  # more than one sweep interval past its time and still not run
    same_day: bool  # `until` falls on the day it is shown: the time alone says when

    @property
    def then_words(self) -> str:
        return "no namespace-wide policy" if self.then == ABSENT else self.then


def _timed_state(restore: TimedRestore, now: datetime) -> TimedState:
    return TimedState(
        restore=restore,
        mode=mode_set_by(restore.change) or "?",
        until=restore.restore_at,
        then=restore.restore_mode,
        due=restore.restore_at <= now,
        overdue=restore.restore_at < now - restore_sweep_interval(),
        same_day=timezone.localdate(restore.restore_at) == timezone.localdate(now),
    )


def _by_namespace(restores: Iterable[TimedRestore], now: datetime) -> dict[str, TimedState]:
    states: dict[str, TimedState] = {}
    for restore in restores:  # soonest first: a namespace has one pending restore at most
        states.setdefault(restore.namespace, _timed_state(restore, now))
    return states


def _with_change(restores: QuerySet[TimedRestore]) -> QuerySet[TimedRestore]:
    # The change's object_sent holds the mode it set; the object before is not needed.
    return restores.select_related("change").defer("change__object_before").order_by("restore_at")


def timed_states(
    *, namespaces: Iterable[str] | None = None, now: datetime | None = None
) -> dict[str, TimedState]:
    """Namespace -> its timed state now, for every namespace or the ones named, in the
    cluster in scope: one query."""
    now = now or timezone.now()
    restores = TimedRestore.objects.in_scope().filter(status=PENDING)
    if namespaces is not None:
        restores = restores.filter(namespace__in=list(namespaces))
    return _by_namespace(_with_change(restores), now)


def timed_states_at(*, at: datetime) -> dict[str, TimedState]:
    """Namespace -> its timed state as it stood at `at` (a report's moment): restores made by
    then and not yet done or cancelled then. One query."""
    restores = (
        TimedRestore.objects.in_scope()
        .filter(change__created_at__lte=at)
        .filter(Q(status=PENDING) | Q(finished_at__gt=at))
    )
    return _by_namespace(_with_change(restores), at)


def timed_restore_get(*, restore_id: int) -> TimedRestore | None:
    """One restore with the change it undoes and its latest entry, or None."""
    return (
        TimedRestore.objects.select_related("change", "restore_entry").filter(pk=restore_id).first()
    )


def timed_state_of(restore: TimedRestore, *, now: datetime | None = None) -> TimedState:
    """A pending restore as the timed state it keeps its namespace in."""
    return _timed_state(restore, now or timezone.now())


def timed_restores_of(*, entry: AuditEntry) -> list[TimedRestore]:
    """The timed restores a change scheduled (one, unless a later change replaced it)."""
    return list(
        entry.timed_restores.select_related("change", "restore_entry").order_by("restore_at")
    )


def restores_overdue_for(*, user) -> list[TimedRestore]:
    """`restores_overdue()` in the clusters `user` may see (their cluster limit)."""
    overdue = restores_overdue()
    if not overdue or not cluster_limit_of(user).limited:
        return overdue
    visible = {m.cluster_id for m in fleet_members_visible(user=user, include_removed=True)}
    return [restore for restore in overdue if restore.cluster_id in visible]
