"""Applying planned changes: server-side apply as field manager "meshui", one namespace's
change at a time, and what is recorded when the cluster does not answer."""

from __future__ import annotations

import copy
import threading
import time
import zlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

from policies import cluster
from policies.cluster.errors import (
    ClusterError,
    Conflict,
    NotFound,
    OutcomeUnknown,
)
from policies.cluster_scope import cluster_scope_current
from policies.kinds import PEER_AUTHENTICATION
from policies.models import AuditEntry, TimedRestore
from policies.services.changes.failures import ChangeFailure, PartialChange, failure_for_plan
from policies.services.changes.permissions import require_permitted, require_reason
from policies.services.changes.plans import ChangePlan, policy_delete_plan, policy_mode_plan
from policies.services.changes.records import Outcome, change_audit


@dataclass
class ChangeResult:
    plan: ChangePlan
    entry: AuditEntry
    applied: list[dict]
    restore: TimedRestore | None = None


_process_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)


_process_locks_guard = threading.Lock()


@contextmanager
def namespace_change_lock(namespace: str):
    """One change of a namespace's posture at a time, across threads and (on PostgreSQL)
    across processes: the read-compare-apply of a toggle must not interleave. Per cluster of
    the fleet: the same namespace in another cluster is another object."""
    scope = cluster_scope_current()
    where = f"{namespace}@{scope.cluster_id}" if not scope.is_configured else namespace
    with _process_locks_guard:
        lock = _process_locks[where]
    with lock:
        if connection.vendor == "postgresql":
            key = zlib.crc32(f"meshui-namespace:{where}".encode())
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
                yield
        else:
            yield


def sync_soon(namespace: str) -> None:
    """Ask for a sync right after the change commits, so the page shows it in seconds.

    (The sync reads the whole cluster; it is coalesced with any sync already running.)
    """
    from policies.services.sync import sync_request

    sync_request(trigger="change")


def apply_all(
    user,
    plan: ChangePlan,
    *,
    force: bool,
    object_before: dict | None,
    restore_of: AuditEntry | None = None,
    note: str = "",
) -> ChangeResult:
    """Apply the plan's objects in order; `note` goes into the applied entry's record."""
    applied: list[dict] = []
    notes: list[str] = [note] if note else []
    for index, manifest in enumerate(plan.manifests):
        try:
            try:
                applied.append(cluster.object_apply(manifest, force=force))
            except OutcomeUnknown:
                found = reread_after_no_answer(manifest)
                if found is None:
                    raise
                applied.append(found)
                notes.append(found_in_force_words(manifest))
        except ClusterError as error:
            failure = failure_for_plan(plan, error, manifest)
            if index == 0:
                if isinstance(error, OutcomeUnknown):
                    failure = outcome_unknown_failure(manifest, error)
                    outcome = Outcome.UNKNOWN
                elif isinstance(error, Conflict):
                    outcome = Outcome.CONFLICT
                else:
                    outcome = Outcome.FAILED
                failure.entry = change_audit(
                    user,
                    plan,
                    outcome,
                    error=failure.message,
                    object_before=object_before,
                    restore_of=restore_of,
                )
                raise failure from error
            done = ", ".join(
                f"{m['kind']} {m['metadata']['namespace']}/{m['metadata']['name']}"
                for m in plan.manifests[:index]
            )
            partial = PartialChange(
                f"Half done: {done} was applied and is in force now, but "
                f"{manifest['kind']} {manifest['metadata']['name']} was not: {failure.message} "
                "Retry the missing part, or roll back what was applied.",
                status=failure.status,
                field_errors=failure.field_errors,
                field_manager_conflicts=failure.field_manager_conflicts,
            )
            partial.entry = change_audit(
                user,
                plan,
                Outcome.PARTIAL,
                error=partial.message,
                object_before=object_before,
                restore_of=restore_of,
            )
            sync_soon(plan.namespace)
            raise partial from error
    entry = change_audit(
        user,
        plan,
        Outcome.APPLIED,
        object_before=object_before,
        restore_of=restore_of,
        dry_run_result=" ".join(notes),
    )
    sync_soon(plan.namespace)
    return ChangeResult(plan, entry, applied)


# How often, and how long apart, meshui reads an object again after a write got no answer.
REREAD_ATTEMPTS = 4


REREAD_PAUSE_SECONDS = 0.5


def reread_after_no_answer(manifest: dict) -> dict | None:
    """The object if the cluster now holds what `manifest` sent, else None (not known).

    A write that got no answer may still be in flight: read again a few times, briefly."""
    metadata = manifest["metadata"]
    for attempt in range(REREAD_ATTEMPTS):
        if attempt:
            time.sleep(REREAD_PAUSE_SECONDS)
        try:
            live = live_or_none(manifest["kind"], metadata["namespace"], metadata["name"])
        except ClusterError:
            continue
        if live is not None and holds(live.get("spec") or {}, manifest.get("spec") or {}):
            return live
    return None


def holds(live: object, sent: object) -> bool:
    """Does the live value contain everything sent (server-side apply leaves others' fields)?"""
    if isinstance(sent, dict):
        return isinstance(live, dict) and all(
            key in live and holds(live[key], value) for key, value in sent.items()
        )
    return live == sent


def found_in_force_words(manifest: dict) -> str:
    metadata = manifest["metadata"]
    return (
        "The cluster did not answer in time; meshui read "
        f"{manifest['kind']} {metadata['namespace']}/{metadata['name']} again and found it in "
        "force."
    )


def outcome_unknown_failure(manifest: dict, error: ClusterError) -> ChangeFailure:
    metadata = manifest["metadata"]
    target = f"{manifest['kind']} {metadata['namespace']}/{metadata['name']}"
    try:
        live = live_or_none(manifest["kind"], metadata["namespace"], metadata["name"])
    except ClusterError:
        found = "could not read it again either"
    else:
        if live is None:
            found = "read it again and found no such object"
        else:
            mode = ((live.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET"
            version = (live.get("metadata") or {}).get("resourceVersion", "")
            found = f"read it again and found mode {mode} (version {version})"
    return ChangeFailure(
        f"The cluster did not answer, so whether {target} changed is unknown ({error.message}) "
        f"meshui {found}: the change is not in force now, but the API server may still apply "
        "it. Check the namespace after the next sync before trying again.",
        status=504,
    )


def live_or_none(kind: str, namespace: str, name: str) -> dict | None:
    try:
        return cluster.object_get(kind, namespace, name)
    except NotFound:
        return None


def without_managed_fields(obj: dict | None) -> dict | None:
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def peer_authentication_apply(*, user, plan: ChangePlan, force: bool = False) -> ChangeResult:
    """Apply a planned PeerAuthentication (and its DestinationRules) as one user action."""
    require_permitted(user, plan, force=force)
    require_reason(user, plan)
    first = plan.manifests[0]["metadata"]
    try:
        before = live_or_none(plan.manifests[0]["kind"], first["namespace"], first["name"])
    except ClusterError as error:
        failure = failure_for_plan(plan, error)
        failure.entry = change_audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    return apply_all(user, plan, force=force, object_before=without_managed_fields(before))


def peer_authentication_mode_update(
    *,
    user,
    namespace: str,
    name: str,
    mode: str,
    resource_version: str,
    reason: str,
    force: bool = False,
) -> ChangeResult:
    """Edit one policy's mode, only if it is still the version the user saw."""
    reason = reason.strip()
    plan = policy_mode_plan(
        namespace=namespace, name=name, mode=mode, resource_version=resource_version, reason=reason
    )
    require_permitted(user, plan, force=force)
    require_reason(user, plan)
    try:
        current = cluster.object_get(PEER_AUTHENTICATION, namespace, name)
    except ClusterError as error:
        failure = failure_for_plan(plan, error)
        failure.entry = change_audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    plan = policy_mode_plan(
        namespace=namespace,
        name=name,
        mode=mode,
        resource_version=resource_version,
        reason=reason,
        current=current,
    )
    return apply_all(user, plan, force=force, object_before=without_managed_fields(current))


def policy_delete(
    *, user, kind: str, namespace: str, name: str, resource_version: str, reason: str
) -> ChangeResult:
    """Delete a PeerAuthentication or DestinationRule if it is still the version the user saw."""
    plan = policy_delete_plan(
        kind=kind,
        namespace=namespace,
        name=name,
        resource_version=resource_version,
        reason=reason.strip(),
    )
    require_permitted(user, plan)
    require_reason(user, plan)
    before = None
    note = ""
    try:
        before = without_managed_fields(live_or_none(kind, namespace, name))
        try:
            cluster.object_delete(kind, namespace, name, resource_version=resource_version)
        except OutcomeUnknown:
            if live_or_none(kind, namespace, name) is not None:
                raise
            note = "The cluster did not answer in time; meshui read it again and it is gone."
    except ClusterError as error:
        failure = failure_for_plan(plan, error)
        if isinstance(error, OutcomeUnknown):
            failure.message = (
                f"The cluster did not answer, so whether {kind} {namespace}/{name} was deleted "
                f"is unknown ({error.message}). It still exists now, but the API server may "
                "still delete it; check after the next sync before trying again."
            )
            outcome = Outcome.UNKNOWN
        else:
            outcome = Outcome.CONFLICT if isinstance(error, Conflict) else Outcome.FAILED
        failure.entry = change_audit(
            user, plan, outcome, error=failure.message, object_before=before
        )
        raise failure from error
    entry = change_audit(
        user,
        plan,
        Outcome.APPLIED,
        object_before=before,
        dry_run_result=note or ("" if before else "It was already gone."),
    )
    sync_soon(namespace)
    return ChangeResult(plan, entry, [])
