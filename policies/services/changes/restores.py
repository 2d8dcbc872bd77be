"""Timed restores: meshui puts a namespace back to its mode before a timed change."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from policies import cluster
from policies.cluster.errors import (
    ClusterError,
)
from policies.kinds import PEER_AUTHENTICATION
from policies.models import AuditEntry, TimedRestore
from policies.selectors.changes import is_namespace_wide, pending_restores_query
from policies.services.audit import AuditAction, audit_entry_record
from policies.services.changes.apply import (
    live_or_none,
    namespace_change_lock,
    sync_soon,
    without_managed_fields,
)
from policies.services.changes.failures import describe_cluster_error, failure_for_plan
from policies.services.changes.plans import ABSENT, ChangePlan, namespace_mode_plan
from policies.services.changes.records import Outcome, change_audit

logger = logging.getLogger(__name__)


def timed_restore_schedule(
    *, namespace: str, previous_mode: str, duration: timedelta, change: AuditEntry
) -> TimedRestore:
    # A second timed change before the first restore keeps the original mode to go back to.
    pending = pending_restores_query(namespace).order_by("restore_at").first()
    restore_mode = pending.restore_mode if pending else previous_mode
    pending_restores_query(namespace).update(
        status=TimedRestore.Status.CANCELLED, error=f"Replaced by change #{change.pk}."
    )
    restore = TimedRestore.objects.create(
        namespace=namespace,
        restore_mode=restore_mode,
        restore_at=timezone.now() + duration,
        change=change,
    )
    _restore_schedule(restore)
    return restore


def _restore_schedule(restore: TimedRestore) -> None:
    """Queue the restore for its time; beat's sweep catches it if the broker loses it."""
    from celery import current_app

    if current_app.conf.task_always_eager:
        return  # in-process tasks ignore eta: the sweep does it on time instead
    # Imported here: the task module imports this one.
    from policies.tasks import restore_namespace_mode

    restore_id, eta = restore.pk, restore.restore_at

    def enqueue():
        try:
            restore_namespace_mode.apply_async(kwargs={"restore_id": restore_id}, eta=eta)
        except Exception:  # noqa: BLE001 - the beat sweep restores it anyway
            logger.warning("could not queue timed restore %s", restore_id, exc_info=True)

    transaction.on_commit(enqueue)


def timed_restores_due(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        TimedRestore.objects.filter(status=TimedRestore.Status.PENDING, restore_at__lte=now)
        .order_by("restore_at")
        .values_list("pk", flat=True)
    )


def timed_restore_run(*, restore_id: int, now=None) -> TimedRestore:
    """Put a namespace back to its mode before a timed change. Idempotent: a restore that
    already ran (or was cancelled, or is not due) does nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        restore = (
            TimedRestore.objects.select_for_update().select_related("change").get(pk=restore_id)
        )
        if restore.status != TimedRestore.Status.PENDING or restore.restore_at > now:
            return restore
        # Claim the row before touching the cluster, so a second delivery does nothing; if
        # this process dies mid-way the restore shows as failed, never runs twice.
        restore.status = TimedRestore.Status.FAILED
        restore.error = "The restore was interrupted before it finished; check the namespace."
        restore.save(update_fields=["status", "error"])
    namespace, change = restore.namespace, restore.change
    set_mode = ((change.object_sent or {}).get("spec") or {}).get("mtls", {}).get("mode", "")
    name = change.target_name or "default"
    words = (
        "remove the namespace-wide policy"
        if restore.restore_mode == ABSENT
        else (f"set it back to {restore.restore_mode}")
    )
    plan = ChangePlan(
        action=AuditAction.RESTORE,
        namespace=namespace,
        summary=f"Timed restore of namespace {namespace}: {words}",
        reason=f"Timed restore of change #{change.pk} ({change.reason})",
        target_name=name,
    )
    error_text = ""
    entry = None
    with namespace_change_lock(namespace):
        try:
            live = live_or_none(PEER_AUTHENTICATION, namespace, name)
            live_mode = ((live or {}).get("spec") or {}).get("mtls", {}).get("mode", "")
            if live is None or (set_mode and live_mode != set_mode) or not is_namespace_wide(live):
                now_words = "gone" if live is None else f"{live_mode}"
                restore.status = TimedRestore.Status.CANCELLED
                restore.error = (
                    f"Not restored: the policy is {now_words} now, not the {set_mode} meshui set; "
                    "someone changed it since, and meshui does not undo their change."
                )
                entry = audit_entry_record(
                    user=None,
                    action=AuditAction.RESTORE,
                    outcome=Outcome.CONFLICT,
                    target_kind=PEER_AUTHENTICATION,
                    target_namespace=namespace,
                    target_name=name,
                    reason=plan.reason,
                    error=restore.error,
                    object_before=without_managed_fields(live),
                    restore_of=change,
                )
            elif restore.restore_mode == ABSENT:
                resource_version = live["metadata"].get("resourceVersion", "")
                plan.delete = (PEER_AUTHENTICATION, namespace, name, resource_version)
                cluster.object_delete(
                    PEER_AUTHENTICATION, namespace, name, resource_version=resource_version
                )
            else:
                plan.manifests = [
                    namespace_mode_plan(
                        namespace=namespace, mode=restore.restore_mode, current=live
                    ).manifests[0]
                ]
                cluster.object_apply(plan.manifests[0])
        except ClusterError as error:
            error_text = (
                failure_for_plan(plan, error).message
                if (plan.delete or plan.manifests)
                else describe_cluster_error(
                    error, verb="get", kind=PEER_AUTHENTICATION, namespace=namespace, name=name
                ).message
            )
    if entry is None:
        outcome = Outcome.FAILED if error_text else Outcome.APPLIED
        entry = change_audit(
            None, plan, outcome, error=error_text, object_before=None, restore_of=change
        )
        restore.status = TimedRestore.Status.FAILED if error_text else TimedRestore.Status.DONE
        restore.error = error_text
        if not error_text:
            sync_soon(namespace)
    restore.restore_entry = entry
    restore.save(update_fields=["status", "error", "restore_entry"])
    return restore
