"""Timed restores: meshui puts a namespace back to its mode before a timed change, on time
in every setup, and keeps trying until it has, or until someone cancels it.

A restore is a change like any other: planned from the policy in force, checked, dry-run,
applied, audited. Each attempt has its own audit entry; one the cluster refuses or does not
answer leaves the restore pending with its next try, shown as overdue on every page.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from policies import cluster
from policies.cluster.errors import ClusterError
from policies.cluster_scope import cluster_scope_current
from policies.kinds import ABSENT, PEER_AUTHENTICATION
from policies.models import AuditEntry, TimedRestore
from policies.selectors.changes import is_namespace_wide, pending_restores_query
from policies.selectors.fleet import fleet_member_of, fleet_scope
from policies.selectors.restores import mode_set_by, timed_restores_due
from policies.services.audit import AuditAction
from policies.services.changes.apply import (
    live_or_none,
    namespace_change_lock,
    sync_soon,
    without_managed_fields,
)
from policies.services.changes.failures import describe_cluster_error, failure_for_plan
from policies.services.changes.permissions import root_namespace_refusal
from policies.services.changes.plans import ChangePlan, namespace_mode_plan
from policies.services.changes.preview import dry_run
from policies.services.changes.records import Outcome, change_audit

logger = logging.getLogger(__name__)

Status = TimedRestore.Status

# How long an attempt holds its claim: the restore task's hard time limit, after which the
# attempt is certainly dead (a killed worker, a stopped serve) and the restore is tried again.
RESTORE_CLAIM_SECONDS = 180
# A failed attempt is tried again after one sweep interval, then twice as long each time, up
# to this: a long outage costs a few audit entries an hour, not hundreds.
RESTORE_RETRY_CAP_SECONDS = 300


def timed_restore_schedule(
    *, namespace: str, previous_mode: str, duration: timedelta, change: AuditEntry
) -> TimedRestore:
    # A second timed change before the first restore keeps the original mode to go back to.
    pending = pending_restores_query(namespace).order_by("restore_at").first()
    restore_mode = pending.restore_mode if pending else previous_mode
    timed_restores_supersede(namespace=namespace, words=f"Replaced by change #{change.pk}.")
    restore = TimedRestore.objects.create(
        namespace=namespace,
        restore_mode=restore_mode,
        restore_at=timezone.now() + duration,
        change=change,
        cluster_id=cluster_scope_current().cluster_id,
    )
    restore_queue(restore_id=restore.pk, at=restore.restore_at)
    return restore


def timed_restores_supersede(*, namespace: str, words: str) -> None:
    """Cancel a namespace's pending restore: a later change decides its mode now."""
    pending_restores_query(namespace).update(
        status=Status.CANCELLED, error=words, finished_at=timezone.now()
    )


def restore_queue(*, restore_id: int, at: datetime) -> None:
    """Queue the restore's next attempt for `at` when a broker runs one; without one, the
    sweep in the meshui process (`serve`) runs it at its time."""
    # meshui has a broker exactly when REDIS_URL is set (settings derive Celery's broker from
    # it, and `serve` starts its sweep thread exactly when it is not). Deciding from meshui's
    # own setting, not from Celery's eager flag, keeps the two in step: a restore is never
    # left to an eta that in-process tasks ignore, nor to a sweep that nothing runs.
    if not settings.REDIS_URL:
        return
    # Imported here: the task module imports this one.
    from policies.tasks import restore_namespace_mode

    def enqueue():
        try:
            restore_namespace_mode.apply_async(kwargs={"restore_id": restore_id}, eta=at)
        except Exception:  # noqa: BLE001 - the beat sweep restores it anyway
            logger.warning("could not queue timed restore %s", restore_id, exc_info=True)

    transaction.on_commit(enqueue)


def timed_restores_sweep(*, now: datetime | None = None) -> dict[int, str]:
    """Run every due restore (beat's sweep; serve's thread without Redis): id -> status."""
    statuses = {}
    for restore_id in timed_restores_due(now=now):
        try:
            statuses[restore_id] = timed_restore_run(restore_id=restore_id, now=now).status
        except Exception:  # one broken row must not hold back the others; it shows overdue
            logger.exception("timed restore %s failed unexpectedly", restore_id)
            statuses[restore_id] = "error"
    return statuses


def timed_restore_run(*, restore_id: int, now: datetime | None = None) -> TimedRestore:
    """Put a namespace back to its mode before a timed change, when due. Idempotent: a
    restore that ran, was cancelled, is not due or is being tried elsewhere does nothing."""
    now = now or timezone.now()
    with restore_cluster_scope(restore_id):
        restore = restore_claim(restore_id=restore_id, now=now, due_only=True)
        if restore is None:
            return TimedRestore.objects.get(pk=restore_id)
        change = restore.change
        attempted = restore_attempt(
            restore,
            user=None,
            action=AuditAction.RESTORE,
            reason=f"Timed restore of change #{change.pk} ({change.reason})",
            now=now,
        )
        return attempted or TimedRestore.objects.get(pk=restore_id)


@contextlib.contextmanager
def restore_cluster_scope(restore_id: int) -> Iterator[None]:
    """Work on the cluster the restore's namespace lives in, whatever the page or task: a
    restore is a promise made in one cluster, kept there even after its cluster was removed
    from the pages."""
    cluster_id = (
        TimedRestore.objects.filter(pk=restore_id).values_list("cluster_id", flat=True).first()
    )
    with fleet_scope(fleet_member_of(cluster_id)):
        yield


def restore_claim(*, restore_id: int, now: datetime, due_only: bool) -> TimedRestore | None:
    """Claim a pending restore for one attempt (None: not pending, or not due): count the
    attempt and hold it until RESTORE_CLAIM_SECONDS, so a second delivery does nothing and an
    attempt that dies is tried again after that."""
    with transaction.atomic():
        restore = (
            TimedRestore.objects.select_for_update().select_related("change").get(pk=restore_id)
        )
        if restore.status != Status.PENDING:
            return None
        if due_only and (restore.next_try_at or restore.restore_at) > now:
            return None
        restore.attempts += 1
        restore.next_try_at = now + timedelta(seconds=RESTORE_CLAIM_SECONDS)
        restore.save(update_fields=["attempts", "next_try_at"])
    return restore


@dataclass
class _Ending:
    """How an attempt ends: the status, the words for the restore, the audit entry."""

    status: str
    entry: AuditEntry
    error: str = ""


def restore_attempt(
    restore: TimedRestore, *, user, action: AuditAction, reason: str, now: datetime
) -> TimedRestore | None:
    """One claimed attempt, the way every change goes: plan from the policy in force, check,
    dry run, apply. None when the restore stopped being pending meanwhile (cancelled, or
    another attempt finished it)."""
    namespace, change = restore.namespace, restore.change
    plan = ChangePlan(
        action=action,
        namespace=namespace,
        summary=f"Timed restore of namespace {namespace}: {_restore_words(restore.restore_mode)}",
        reason=reason,
        target_name=change.target_name or "default",
    )
    # Under the namespace's lock (on PostgreSQL also one transaction, so the attempt's entry
    # and the row's new state commit together): a cancel or an extend either finished before
    # this attempt read the row, or waits until the attempt has ended.
    with namespace_change_lock(namespace):
        if not TimedRestore.objects.filter(pk=restore.pk, status=Status.PENDING).exists():
            return None
        ending = _restore_apply_locked(restore, plan, user=user)
        restore.restore_entry = ending.entry
        restore.error = ending.error
        restore.status = ending.status
        if ending.status == Status.PENDING:
            restore.next_try_at = now + _retry_delay(restore.attempts)
            restore_queue(restore_id=restore.pk, at=restore.next_try_at)
        else:
            restore.finished_at = timezone.now()
        restore.save(
            update_fields=["status", "error", "restore_entry", "next_try_at", "finished_at"]
        )
    return restore


def _restore_apply_locked(restore: TimedRestore, plan: ChangePlan, *, user) -> _Ending:
    namespace, change, name = restore.namespace, restore.change, plan.target_name
    refusal = root_namespace_refusal(namespace)
    if refusal:  # never the mesh-wide policy, whatever a row says
        entry = change_audit(user, plan, Outcome.DENIED, error=refusal, restore_of=change)
        return _Ending(Status.CANCELLED, entry, refusal)
    live = None
    try:
        live = live_or_none(PEER_AUTHENTICATION, namespace, name)
        before = without_managed_fields(live)
        if _holds_restore_target(live, restore.restore_mode):
            note = (
                f"Nothing sent: {namespace} is already {_state_words(restore.restore_mode)} "
                "(changed by someone else, or by an earlier attempt whose answer was lost)."
            )
            entry = change_audit(
                user,
                plan,
                Outcome.APPLIED,
                object_sent=None,
                object_before=before,
                dry_run_result=note,
                restore_of=change,
            )
            return _Ending(Status.DONE, entry)
        set_mode = mode_set_by(change)
        live_mode = _mode_of(live)
        if live is None or not is_namespace_wide(live) or (set_mode and live_mode != set_mode):
            now_words = "gone" if live is None else live_mode
            message = (
                f"Not restored: the policy is {now_words} now, not the {set_mode} meshui set; "
                "someone changed it since, and meshui does not undo their change."
            )
            entry = change_audit(
                user, plan, Outcome.CONFLICT, error=message, object_before=before, restore_of=change
            )
            return _Ending(Status.CANCELLED, entry, message)
        if restore.restore_mode == ABSENT:
            plan.delete = (
                PEER_AUTHENTICATION,
                namespace,
                name,
                live["metadata"].get("resourceVersion", ""),
            )
        else:
            # Applied only to the version just read (its resourceVersion is in the manifest).
            plan.manifests = namespace_mode_plan(
                namespace=namespace, mode=restore.restore_mode, current=live
            ).manifests[:1]
        checked = dry_run(plan, force=False)
        if plan.delete:
            kind, _namespace, _name, resource_version = plan.delete
            cluster.object_delete(kind, namespace, name, resource_version=resource_version)
        else:
            cluster.object_apply(plan.manifests[0])
    except ClusterError as error:
        failure = (
            failure_for_plan(plan, error)
            if (plan.delete or plan.manifests)
            else describe_cluster_error(
                error, verb="get", kind=PEER_AUTHENTICATION, namespace=namespace, name=name
            )
        )
        entry = change_audit(
            user,
            plan,
            Outcome.FAILED,
            error=f"Attempt {restore.attempts}: {failure.message}",
            object_before=without_managed_fields(live),
            restore_of=change,
        )
        return _Ending(Status.PENDING, entry, failure.message)
    entry = change_audit(
        user,
        plan,
        Outcome.APPLIED,
        object_before=before,
        dry_run_result=checked,
        restore_of=change,
    )
    sync_soon(namespace)
    return _Ending(Status.DONE, entry)


def _retry_delay(attempts: int) -> timedelta:
    seconds = settings.MESHUI_RESTORE_SWEEP_INTERVAL * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, RESTORE_RETRY_CAP_SECONDS))


def _mode_of(policy: dict | None) -> str:
    return ((policy or {}).get("spec") or {}).get("mtls", {}).get("mode") or "UNSET"


def _holds_restore_target(live: dict | None, restore_mode: str) -> bool:
    if restore_mode == ABSENT:
        return live is None
    return live is not None and is_namespace_wide(live) and _mode_of(live) == restore_mode


def _restore_words(restore_mode: str) -> str:
    if restore_mode == ABSENT:
        return "remove the namespace-wide policy"
    return f"set it back to {restore_mode}"


def _state_words(restore_mode: str) -> str:
    if restore_mode == ABSENT:
        return "without a namespace-wide policy"
    return restore_mode
