"""The on-call toggle: a namespace between STRICT and PERMISSIVE, bound to what was
previewed, never a workload policy nor the mesh-wide one."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied

from policies import cluster
from policies.cluster.errors import (
    ClusterError,
)
from policies.kinds import ABSENT, PEER_AUTHENTICATION, TOGGLE_MODES
from policies.selectors.changes import (
    is_namespace_wide,
    namespace_toggle_target,
)
from policies.services.changes.apply import (
    ChangeResult,
    apply_all,
    namespace_change_lock,
    without_managed_fields,
)
from policies.services.changes.failures import ChangeFailure, describe_cluster_error
from policies.services.changes.permissions import require_permitted, require_reason
from policies.services.changes.plans import (
    SEEN_ABSENT,
    ChangePlan,
    namespace_mode_plan,
)
from policies.services.changes.records import Outcome, change_audit
from policies.services.changes.restores import timed_restore_schedule, timed_restores_supersede
from policies.services.changes.takeover import live_takeover, require_takeover_permitted


def namespace_mode_set(
    *,
    user,
    namespace: str,
    mode: str,
    reason: str,
    duration: timedelta | None = None,
    seen_name: str | None = None,
    seen_resource_version: str | None = None,
    force: bool = False,
    take_over_from: str = "",
) -> ChangeResult:
    """The on-call toggle: set the namespace-wide policy's mode, maybe for a while.

    Only a namespace-wide PeerAuthentication outside the root namespace is touched. The
    confirm is bound to what the user previewed: `seen_name` and `seen_resource_version`
    ("absent" for a policy still to be created). If the cluster has moved on, nothing is
    applied and the user is shown the new state. With `duration`, meshui restores the
    previous mode later. `force` takes the mode over from its manager, which the live
    object's managedFields decide (services/changes/takeover.py): on-call may take it from a
    person's tool, never from a reconciler unless the admin's setting allows a timed change.
    `take_over_from` is the person's tool the page said the toggle takes the mode over from:
    it is taken over without `force` while the live object's manager is still that one.
    """
    plan = namespace_mode_plan(
        namespace=namespace, mode=mode, reason=reason.strip(), duration=duration
    )
    require_permitted(user, plan, force=force)  # refuses the root namespace too
    require_reason(user, plan)
    if mode not in TOGGLE_MODES:
        message = f"The namespace toggle switches between STRICT and PERMISSIVE, not {mode}."
        entry = change_audit(user, plan, Outcome.FAILED, error=message)
        raise ChangeFailure(message, field_errors={"mode": [message]}, entry=entry)
    failure = None
    with namespace_change_lock(namespace):
        # Failures are caught inside the lock so their audit entries commit with it.
        try:
            result, previous_mode = _namespace_mode_apply_locked(
                user,
                plan,
                mode=mode,
                duration=duration,
                seen=(seen_name, seen_resource_version),
                force=force,
                take_over_from=take_over_from,
            )
        except (ChangeFailure, PermissionDenied) as error:
            failure = error
    if failure is not None:
        raise failure
    if duration:
        result.restore = timed_restore_schedule(
            namespace=namespace,
            previous_mode=previous_mode,
            duration=duration,
            change=result.entry,
        )
    else:
        timed_restores_supersede(
            namespace=namespace, words=f"Superseded by change #{result.entry.pk}."
        )
    return result


def _namespace_mode_apply_locked(
    user, plan: ChangePlan, *, mode: str, duration, seen: tuple, force: bool, take_over_from: str
) -> tuple[ChangeResult, str]:
    namespace = plan.namespace
    try:
        policies = cluster.objects_list(PEER_AUTHENTICATION, namespace)
    except ClusterError as error:
        failure = describe_cluster_error(
            error, verb="list", kind=PEER_AUTHENTICATION, namespace=namespace, name="*"
        )
        failure.entry = change_audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    name, live = namespace_toggle_target(policies)
    plan = namespace_mode_plan(
        namespace=namespace,
        mode=mode,
        reason=plan.reason,
        duration=duration,
        current=live,
        name=name,
    )
    live_version = ((live or {}).get("metadata") or {}).get("resourceVersion") or SEEN_ABSENT
    seen_name, seen_version = seen
    if seen_version is not None and _toggle_target_moved(seen_name, seen_version, name, live):
        previewed = next(
            (policy for policy in policies if policy["metadata"]["name"] == seen_name), None
        )
        failure = ChangeFailure(
            f"The namespace-wide policy of {namespace} changed since you looked "
            f"({_target_words(seen_name or 'default', seen_version)} then, "
            f"{_target_words(name, live_version)} now)"
            f"{_selector_words(previewed)}, so meshui applied nothing. Review its current "
            "state and confirm again.",
            current_object=without_managed_fields(live or previewed),
            current_resource_version=live_version,
            current_name=name,
            status=409,
        )
        failure.entry = change_audit(
            user,
            plan,
            Outcome.CONFLICT,
            error=failure.message,
            object_before=without_managed_fields(live),
        )
        raise failure
    # Who manages the mode now, in the cluster, decides whether it may be taken over.
    takeover = live_takeover(user=user, plan=plan, live=live, timed=duration is not None)
    # What the user was told: the toggle takes the mode from this person's tool, and still may.
    force = force or bool(
        take_over_from and takeover.automatic and takeover.owner.manager == take_over_from
    )
    before = without_managed_fields(live)
    require_takeover_permitted(user, plan, takeover, force=force, object_before=before)
    previous_mode = ((live or {}).get("spec") or {}).get("mtls", {}).get("mode") or (
        "UNSET" if live else ABSENT
    )
    took_over = f"meshui took {takeover.takes_over}." if force and takeover.takes_over else ""
    try:
        result = apply_all(user, plan, force=force, object_before=before, note=took_over)
    except ChangeFailure as failure:
        failure.takeover = takeover
        raise
    return result, previous_mode


def _toggle_target_moved(seen_name, seen_version: str, name: str, live: dict | None) -> bool:
    live_version = ((live or {}).get("metadata") or {}).get("resourceVersion") or SEEN_ABSENT
    if seen_version != live_version:
        return True
    # A resourceVersion names one object's version; "absent" needs the name it would create.
    return seen_version == SEEN_ABSENT and (seen_name or "default") != name


def _target_words(name: str, resource_version: str) -> str:
    if resource_version == SEEN_ABSENT:
        return f"no namespace-wide policy, so meshui would create {name}"
    return f"{name} at version {resource_version}"


def _selector_words(policy: dict | None) -> str:
    if policy is None or is_namespace_wide(policy):
        return ""
    return (
        f"; PeerAuthentication {policy['metadata']['name']} selects workloads, and the "
        "namespace toggle never changes a workload policy"
    )
