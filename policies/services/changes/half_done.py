"""Retry and rollback, which exist only for a half-done pair: the first object applied, a
later one not."""

from __future__ import annotations

import copy
import functools

from policies import cluster, roles
from policies.cluster.errors import (
    ClusterError,
)
from policies.kinds import PEER_AUTHENTICATION
from policies.models import AuditEntry
from policies.selectors.changes import is_namespace_wide
from policies.selectors.fleet import fleet_member_recorded, fleet_scope
from policies.services.audit import AuditAction
from policies.services.changes.apply import (
    ChangeResult,
    apply_all,
    holds,
    live_or_none,
    sync_soon,
    without_managed_fields,
)
from policies.services.changes.failures import (
    ChangeFailure,
    describe_cluster_error,
    failure_for_plan,
)
from policies.services.changes.permissions import require_permitted, require_reason
from policies.services.changes.plans import ChangePlan, peer_authentication_plan
from policies.services.changes.preview import dry_run
from policies.services.changes.records import Outcome, change_audit


def _open_half_done_pair(entry: AuditEntry) -> list[dict]:
    """The objects a half-done pair sent, or ChangeFailure: retry and rollback exist only for
    an entry meshui wrote when the first object applied and a later one did not, and only
    until one of them has completed it. (Such an entry always holds the state read before the
    change, so its `object_before` None means "did not exist", never "not known".)"""
    sent = entry.object_sent
    manifests = [m for m in (sent if isinstance(sent, list) else []) if isinstance(m, dict)]
    if entry.outcome != Outcome.PARTIAL or len(manifests) < 2:
        raise ChangeFailure(
            f"Change #{entry.pk} is not a half-done change: only a half-done change (its first "
            "object applied, a later one not) can be retried or rolled back.",
            status=404,
        )
    done = entry.restores.filter(outcome__in=(Outcome.APPLIED, Outcome.ROLLED_BACK)).first()
    if done is not None:
        raise ChangeFailure(
            f"Change #{entry.pk} was already completed or rolled back by change #{done.pk}.",
            status=409,
        )
    return manifests


def _paper_plan(entry: AuditEntry, action: AuditAction, summary: str, reason: str) -> ChangePlan:
    """What a retry or rollback is about, before anything is read: for the permission check.
    Its reason is the user's own, not the original change's: each attempt says why."""
    return ChangePlan(
        action=action,
        namespace=entry.target_namespace,
        summary=summary,
        reason=reason.strip(),
        target_kind=entry.target_kind or PEER_AUTHENTICATION,
        target_name=entry.target_name,
    )


def in_the_entrys_cluster(action):
    """Retry and roll back in the cluster the half-done change went to, whatever the page's."""

    @functools.wraps(action)
    def scoped(*, user, entry_id: int, **kwargs):
        recorded = AuditEntry.objects.filter(pk=entry_id).values_list("cluster", flat=True)
        with fleet_scope(fleet_member_recorded(recorded.first() or "")):
            return action(user=user, entry_id=entry_id, **kwargs)

    return scoped


@in_the_entrys_cluster
def change_retry(*, user, entry_id: int, reason: str, force: bool = False) -> ChangeResult:
    """Complete a half-done pair: re-plan it from the policy now in force, check it like a new
    change (role, plan, dry run), and apply it (server-side apply is idempotent)."""
    original = AuditEntry.objects.get(pk=entry_id)
    plan = _paper_plan(
        original, AuditAction.PEER_AUTHENTICATION_APPLY, f"Retry of change #{original.pk}", reason
    )
    require_permitted(user, plan, force=force)
    require_reason(user, plan)
    first = _open_half_done_pair(original)[0]
    metadata = first.get("metadata") or {}
    try:
        live = live_or_none(PEER_AUTHENTICATION, metadata["namespace"], metadata["name"])
    except ClusterError as error:
        failure = describe_cluster_error(
            error,
            verb="get",
            kind=PEER_AUTHENTICATION,
            namespace=metadata["namespace"],
            name=metadata["name"],
        )
        failure.entry = change_audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    if not _still_as_applied(live, first):
        message = (
            f"PeerAuthentication {metadata['namespace']}/{metadata['name']} changed since "
            f"change #{original.pk} applied it, so meshui does not complete that change. "
            "Start a new change from the policy as it is now."
        )
        entry = change_audit(
            user, plan, Outcome.CONFLICT, error=message, object_before=without_managed_fields(live)
        )
        raise ChangeFailure(message, status=409, entry=entry)
    spec = copy.deepcopy(live.get("spec") or {})
    scope = "workload" if not is_namespace_wide(live) else "namespace"
    plan = peer_authentication_plan(
        scope=scope,
        namespace=metadata["namespace"],
        name=metadata["name"],
        spec=spec,
        with_destination_rule=True,
        reason=plan.reason,
    )
    plan.summary = f"Retry of change #{original.pk}: {plan.summary}"
    try:
        dry_run(plan, force=force)
    except ClusterError as error:
        failure = failure_for_plan(plan, error)
        failure.entry = change_audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    return apply_all(
        user, plan, force=force, object_before=original.object_before, restore_of=original
    )


@in_the_entrys_cluster
def change_rollback(*, user, entry_id: int, reason: str) -> ChangeResult:
    """Undo the applied part of a half-done pair: the first object back to the state recorded
    before the change, or removed if it did not exist; never someone else's later change."""
    original = AuditEntry.objects.get(pk=entry_id)
    plan = _paper_plan(original, AuditAction.ROLLBACK, f"Rollback of change #{original.pk}", reason)
    require_permitted(user, plan)
    require_reason(user, plan)
    first = _open_half_done_pair(original)[0]
    kind = first["kind"]
    namespace, name = first["metadata"]["namespace"], first["metadata"]["name"]
    plan.target_kind, plan.target_name, plan.namespace = kind, name, namespace
    before = original.object_before
    live = None
    try:
        live = live_or_none(kind, namespace, name)
        if not _still_as_applied(live, first):
            message = (
                f"{kind} {namespace}/{name} changed since change #{original.pk} applied it "
                f"({'it is gone' if live is None else 'it holds something else now'}), so "
                "meshui does not roll it back: that would undo someone else's change."
            )
            entry = change_audit(
                user,
                plan,
                Outcome.CONFLICT,
                error=message,
                object_before=without_managed_fields(live),
            )
            raise ChangeFailure(message, status=409, entry=entry)
        resource_version = live["metadata"].get("resourceVersion", "")
        if before is None:
            plan.delete = (kind, namespace, name, resource_version)
        else:
            plan.manifests = [
                {
                    "apiVersion": before.get("apiVersion") or first["apiVersion"],
                    "kind": kind,
                    # The version read just now: a change in between refuses the rollback.
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "resourceVersion": resource_version,
                    },
                    "spec": before.get("spec") or {},
                }
            ]
        force = roles.can_force_conflicts(user)
        dry_run(plan, force=force)
        if plan.delete:
            cluster.object_delete(kind, namespace, name, resource_version=resource_version)
        else:
            cluster.object_apply(plan.manifests[0], force=force)
    except ClusterError as error:
        failure = (
            failure_for_plan(plan, error)
            if (plan.delete or plan.manifests)
            else (
                describe_cluster_error(error, verb="get", kind=kind, namespace=namespace, name=name)
            )
        )
        failure.entry = change_audit(
            user,
            plan,
            Outcome.FAILED,
            error=failure.message,
            object_before=without_managed_fields(live),
            restore_of=original,
        )
        raise failure from error
    entry = change_audit(
        user,
        plan,
        Outcome.ROLLED_BACK,
        object_before=without_managed_fields(live),
        restore_of=original,
    )
    sync_soon(namespace)
    return ChangeResult(plan, entry, [])


def _still_as_applied(live: dict | None, sent: dict) -> bool:
    """Does the cluster still hold what the half-done pair applied (others' fields aside)?"""
    return live is not None and holds(live.get("spec") or {}, sent.get("spec") or {})
