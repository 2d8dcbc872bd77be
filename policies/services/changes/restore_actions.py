"""What on-call staff and admins do to a pending timed restore: run it now, extend it, or
cancel it (the namespace keeps its current mode). Each needs a reason, is permission-checked
here like any change, and is audited whatever happens."""

from __future__ import annotations

import functools
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from policies.models import TimedRestore
from policies.services.audit import AuditAction
from policies.services.changes.apply import ChangeResult, namespace_change_lock
from policies.services.changes.failures import ChangeFailure
from policies.services.changes.permissions import require_permitted, require_reason
from policies.services.changes.plans import ChangePlan, duration_words
from policies.services.changes.records import Outcome, change_audit
from policies.services.changes.restores import (
    restore_attempt,
    restore_claim,
    restore_cluster_scope,
    restore_queue,
)

Status = TimedRestore.Status

SUMMARIES = {
    AuditAction.RESTORE_NOW: "Run timed restore #{pk} of namespace {namespace} now",
    AuditAction.RESTORE_EXTEND: "Extend timed restore #{pk} of namespace {namespace}",
    AuditAction.RESTORE_CANCEL: "Cancel timed restore #{pk} of namespace {namespace}",
}


def in_restores_cluster(action):
    """Run an action on a restore in the cluster of its namespace, whatever the page's."""

    @functools.wraps(action)
    def scoped(*, restore_id: int, **kwargs):
        with restore_cluster_scope(restore_id):
            return action(restore_id=restore_id, **kwargs)

    return scoped


def timed_restore_plan(restore: TimedRestore, action: AuditAction, reason: str) -> ChangePlan:
    """What an action on a pending restore is about (for the permission check and its entry)."""
    return ChangePlan(
        action=action,
        namespace=restore.namespace,
        summary=SUMMARIES[action].format(pk=restore.pk, namespace=restore.namespace),
        reason=reason,
        target_name=restore.change.target_name or "default",
    )


def _checked_plan(*, user, restore_id: int, action: AuditAction, reason: str) -> ChangePlan:
    """The plan of an action on a restore, once the user may take it and has said why."""
    restore = TimedRestore.objects.select_related("change").get(pk=restore_id)
    plan = timed_restore_plan(restore, action, reason.strip())
    require_permitted(user, plan)  # on-call or admin, for this namespace
    require_reason(user, plan)
    return plan


def _not_pending(user, plan: ChangePlan, restore: TimedRestore) -> ChangeFailure:
    ended = restore.restore_entry_id and f" (change #{restore.restore_entry_id})"
    message = (
        f"Timed restore #{restore.pk} is {restore.get_status_display().lower()}{ended or ''}, "
        "no longer pending, so meshui did nothing."
    )
    entry = change_audit(user, plan, Outcome.CONFLICT, error=message, restore_of=restore.change)
    return ChangeFailure(message, status=409, entry=entry)


@in_restores_cluster
def timed_restore_run_now(*, user, restore_id: int, reason: str) -> ChangeResult:
    """Restore the namespace now instead of at its time, the way the timed restore would
    (plan from the policy in force, dry run, apply); a failure leaves it pending."""
    plan = _checked_plan(
        user=user, restore_id=restore_id, action=AuditAction.RESTORE_NOW, reason=reason
    )
    now = timezone.now()
    restore = restore_claim(restore_id=restore_id, now=now, due_only=False)
    attempted = restore and restore_attempt(
        restore, user=user, action=AuditAction.RESTORE_NOW, reason=plan.reason, now=now
    )
    if attempted is None:
        raise _not_pending(user, plan, TimedRestore.objects.get(pk=restore_id))
    if attempted.status != Status.DONE:
        raise ChangeFailure(
            attempted.error,
            status=409 if attempted.status == Status.CANCELLED else 503,
            entry=attempted.restore_entry,
        )
    return ChangeResult(plan, attempted.restore_entry, [], restore=attempted)


@in_restores_cluster
def timed_restore_extend(
    *, user, restore_id: int, duration: timedelta, reason: str
) -> ChangeResult:
    """Keep the timed mode longer: the restore runs `duration` after its time (or after now,
    when it is already overdue)."""
    plan = _checked_plan(
        user=user, restore_id=restore_id, action=AuditAction.RESTORE_EXTEND, reason=reason
    )
    with namespace_change_lock(plan.namespace), transaction.atomic():
        restore = _pending_locked(restore_id)
        if restore is not None:
            was = restore.restore_at
            restore.restore_at = max(was, timezone.now()) + duration
            # A new due time starts afresh: no retry waiting, no failure to show.
            restore.next_try_at, restore.attempts, restore.error = None, 0, ""
            restore.save(update_fields=["restore_at", "next_try_at", "attempts", "error"])
            entry = change_audit(
                user,
                plan,
                Outcome.APPLIED,
                dry_run_result=(
                    f"Timed restore #{restore.pk} moved by {duration_words(duration)}, from "
                    f"{was:%Y-%m-%d %H:%M:%S} to {restore.restore_at:%Y-%m-%d %H:%M:%S} UTC."
                ),
                restore_of=restore.change,
            )
            restore_queue(restore_id=restore.pk, at=restore.restore_at)
    if restore is None:
        raise _not_pending(user, plan, TimedRestore.objects.get(pk=restore_id))
    return ChangeResult(plan, entry, [], restore=restore)


@in_restores_cluster
def timed_restore_cancel(*, user, restore_id: int, reason: str) -> ChangeResult:
    """Never run the restore: the namespace keeps the mode it has now."""
    plan = _checked_plan(
        user=user, restore_id=restore_id, action=AuditAction.RESTORE_CANCEL, reason=reason
    )
    with namespace_change_lock(plan.namespace), transaction.atomic():
        restore = _pending_locked(restore_id)
        if restore is not None:
            restore.restore_entry = change_audit(
                user,
                plan,
                Outcome.APPLIED,
                dry_run_result=(
                    f"Timed restore #{restore.pk} cancelled: namespace {restore.namespace} "
                    "keeps its current mode."
                ),
                restore_of=restore.change,
            )
            restore.status, restore.finished_at = Status.CANCELLED, timezone.now()
            restore.error = f"Cancelled by {restore.restore_entry.username}: {plan.reason}"
            restore.save(update_fields=["restore_entry", "status", "finished_at", "error"])
    if restore is None:
        raise _not_pending(user, plan, TimedRestore.objects.get(pk=restore_id))
    return ChangeResult(plan, restore.restore_entry, [], restore=restore)


def _pending_locked(restore_id: int) -> TimedRestore | None:
    """The restore, locked for this transaction, if it is still pending."""
    restore = TimedRestore.objects.select_for_update().select_related("change").get(pk=restore_id)
    return restore if restore.status == Status.PENDING else None
