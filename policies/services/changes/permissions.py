"""Who may carry out a plan: checked in the service for every way into a write, and every
refusal audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from policies import roles
from policies.reasons import reason_problem
from policies.selectors.changes import root_namespace
from policies.selectors.cluster_limits import cluster_limit_refusal
from policies.selectors.oncall_scopes import oncall_scope_refusal
from policies.services.audit import AuditAction
from policies.services.changes.failures import ChangeFailure
from policies.services.changes.plans import ChangePlan
from policies.services.changes.records import Outcome, change_audit

# What on-call staff may do besides admins: the namespace toggle, and what they do to the
# timed restore a toggle left pending.
ONCALL_ACTIONS = frozenset(
    {
        AuditAction.NAMESPACE_MODE_SET,
        AuditAction.RESTORE_NOW,
        AuditAction.RESTORE_EXTEND,
        AuditAction.RESTORE_CANCEL,
    }
)


def permission_problem(user, plan: ChangePlan, *, force: bool) -> str:
    """'' when `user` may carry out `plan`, else why not: the user's cluster limit (the plan
    runs in the cluster in scope), the role, then the on-call scope."""
    return (
        cluster_limit_refusal(user=user)
        or _role_problem(user, plan, force=force)
        or scope_problem(user, plan)
    )


def scope_problem(user, plan: ChangePlan) -> str:
    """'' unless the user is on-call and the plan's namespace is outside their scope; checked
    for every action, so each write on-call may make (toggle, restores) stays in scope."""
    return oncall_scope_refusal(user=user, namespace=plan.namespace)


def _role_problem(user, plan: ChangePlan, *, force: bool) -> str:
    if plan.action in ONCALL_ACTIONS:
        allowed = roles.can_toggle_namespace(user)
        need = "on-call or admin"
        if allowed and root_namespace_refusal(plan.namespace):
            return root_namespace_refusal(plan.namespace)
    else:
        allowed = roles.can_manage_policies(user)
        need = "admin"
    if not allowed:
        role = roles.user_role(user)
        who = f"the {role} role" if role else "no meshui role"
        return f"This change needs the {need} role; you have {who}."
    if force and not roles.can_force_conflicts(user) and not _taken_over_by_the_toggle(plan):
        return "Only an admin may take over fields another manager owns."
    return ""


def _taken_over_by_the_toggle(plan: ChangePlan) -> bool:
    # Whether on-call may take a namespace policy's mode over depends on who manages it in
    # the cluster: the toggle decides that from the live object (services/changes/takeover).
    return plan.action == AuditAction.NAMESPACE_MODE_SET


def change_denied(*, user, plan: ChangePlan, force: bool = False) -> None:
    """Record a refused attempt and raise PermissionDenied (views call it before parsing)."""
    denial = permission_problem(user, plan, force=force) or "This change is not allowed for you."
    change_audit(user, plan, Outcome.DENIED, error=denial)
    raise PermissionDenied(denial)


def require_permitted(
    user, plan: ChangePlan, *, force: bool = False, dry_run: bool = False
) -> None:
    denial = permission_problem(user, plan, force=force)
    if denial:
        change_audit(user, plan, Outcome.DENIED, error=denial, dry_run=dry_run)
        raise PermissionDenied(denial)


def require_reason(user, plan: ChangePlan) -> None:
    """Every change says why, whoever makes it and however it arrives (forms, hand-made
    requests, retries, rollbacks, restores): refused and audited without one."""
    problem = reason_problem(plan.reason)
    if problem:
        entry = change_audit(user, plan, Outcome.FAILED, error=problem)
        raise ChangeFailure(problem, field_errors={"reason": [problem]}, entry=entry)


def root_namespace_refusal(namespace: str) -> str:
    """'' unless `namespace` is the root namespace, whose selector-less policy is the mesh's."""
    root = root_namespace()
    if namespace != root:
        return ""
    return (
        f"{namespace} is Istio's root namespace: its namespace-wide PeerAuthentication is the "
        "mesh-wide policy, so the namespace toggle never changes it. An admin changes the "
        "mesh-wide mode with the new-policy form (/changes/peer-authentication/new/?scope=mesh)."
    )
