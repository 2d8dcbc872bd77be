"""Taking a namespace policy's mode over from the tool that manages it: who may, and what
the toggle tells them before they type a reason.

The on-call toggle changes one field, `.spec.mtls.mode` of a namespace-wide policy, by
server-side apply. When another manager owns it the apply conflicts, and taking it over
("force") depends on who that manager is (policies.ownership):
- nobody, or meshui: there is nothing to take over;
- a person's tool (kubectl and the like): on-call and admins take it over, and the page and
  the preview say so ("this takes .spec.mtls.mode over from kubectl-client-side-apply");
- a reconciler (GitOps, Helm, Terraform): it would put its own mode back. On-call is
  refused, or, when MESHUI_ONCALL_EMERGENCY_OVER_RECONCILER allows it, may apply only a
  timed change; admins may, after the same warning, by ticking "take over".
Pages decide from the snapshot what to offer; the toggle decides again from the live object
when it applies, so a crafted POST gets no further than the page would let it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.conf import settings
from django.core.exceptions import PermissionDenied

from policies import roles
from policies.cluster.errors import ClusterError
from policies.kinds import PEER_AUTHENTICATION
from policies.ownership import MODE_FIELD, OwnerKind, PolicyOwnership
from policies.selectors.changes import is_namespace_wide
from policies.services.changes.apply import live_or_none
from policies.services.changes.plans import ChangePlan
from policies.services.changes.records import Outcome, change_audit
from policies.services.ownership import peer_authentication_ownership

ONLY_ADMINS_FORCE = "Only an admin may take over fields another manager owns."
# When a reconciler puts its own value back, in words.
_REVERTED_WHEN = {
    "Argo CD": "within minutes, at its next sync",
    "Flux": "within minutes, at its next reconciliation",
    "Helm": "at the next helm upgrade of its release",
    "Terraform": "at the next terraform apply",
}


@dataclass(frozen=True)
class TakeOver:
    """What applying the toggle does to the manager of the mode, and whether this user may."""

    owner: PolicyOwnership
    allowed: bool = False  # may this user change this policy's mode (for this duration)
    automatic: bool = False  # the page takes the mode over without a tick: a person's tool
    may_force: bool = False  # may this user take the mode over (force)
    timed_only: bool = False  # only with a duration: on-call's emergency over a reconciler
    words: str = ""  # who owns it and what the toggle does, said before the form
    warning: str = ""  # a reconciler's: the change would be reverted, where its source is
    refusal: str = ""  # why not ("" when allowed)

    @property
    def denial(self) -> str:
        """Why not, in full: the warning and the refusal, for the 403 and the audit log."""
        return " ".join(part for part in (self.warning, self.refusal) if part)

    @property
    def takes_over(self) -> str:
        """The sentence the preview and the audit log carry about the take-over."""
        if self.owner.kind not in (OwnerKind.PERSON, OwnerKind.RECONCILER):
            return ""
        return f"{MODE_FIELD} over from {self.owner.manager}{_last_changed(self.owner)}"


def toggle_takeover(*, user, owner: PolicyOwnership, timed: bool) -> TakeOver:
    """What the toggle may do to a namespace-wide policy `owner` describes, for `user`."""
    admin = roles.can_force_conflicts(user)
    kind = owner.kind
    if kind in (OwnerKind.NONE, OwnerKind.MESHUI):
        words = "meshui manages this policy's mode already." if kind == OwnerKind.MESHUI else ""
        return TakeOver(owner, allowed=True, may_force=admin, words=words)
    if kind == OwnerKind.PERSON:
        words = (
            f"Its mode was last set by {owner.manager}, a person's tool"
            f"{_last_changed(owner)}. The toggle takes {MODE_FIELD} over: meshui becomes its "
            "manager, and a later change by that tool takes it back."
        )
        return TakeOver(owner, allowed=True, automatic=True, may_force=True, words=words)
    reconciler = {
        "words": f"Applying would take {MODE_FIELD} over from {owner.manager}.",
        "warning": _reverted_warning(owner),
    }
    if admin:
        return TakeOver(owner, allowed=True, may_force=True, **reconciler)
    if not settings.MESHUI_ONCALL_EMERGENCY_OVER_RECONCILER:
        refusal = "On-call may not take it over; ask an admin, or change its source."
        return TakeOver(owner, refusal=refusal, **reconciler)
    if not timed:
        refusal = "On-call may apply it only as a timed emergency change: choose how long it lasts."
        return TakeOver(owner, timed_only=True, refusal=refusal, **reconciler)
    return TakeOver(owner, allowed=True, may_force=True, timed_only=True, **reconciler)


def live_takeover(*, user, plan: ChangePlan, live: dict | None, timed: bool) -> TakeOver:
    """`toggle_takeover` for the live target: who manages its mode in the cluster now.

    On-call takes over nothing but the mode of a namespace-wide policy: a target that is not
    namespace-wide, or a plan that would change more than the mode, may not be forced."""
    decision = toggle_takeover(user=user, owner=peer_authentication_ownership(live), timed=timed)
    if roles.can_force_conflicts(user) or not decision.may_force or live is None:
        return decision
    if is_namespace_wide(live) and _changes_only_the_mode(live, plan.manifests[0]):
        return decision
    return replace(decision, automatic=False, may_force=False)


def takeover_problem(takeover: TakeOver, *, force: bool) -> str:
    """'' when the toggle may go ahead (taking the mode over if `force`), else why not."""
    if not takeover.allowed:
        return takeover.denial
    if force and not takeover.may_force:
        return ONLY_ADMINS_FORCE
    return ""


def require_takeover_permitted(
    user, plan: ChangePlan, takeover: TakeOver, *, force: bool, object_before: dict | None
) -> None:
    """PermissionDenied, audited, unless `takeover_problem` has nothing to say."""
    problem = takeover_problem(takeover, force=force)
    if problem:
        change_audit(user, plan, Outcome.DENIED, error=problem, object_before=object_before)
        raise PermissionDenied(problem)


def require_toggle_takeover_for_preview(user, plan: ChangePlan, *, force: bool) -> None:
    """The toggle's decision for a preview (a dry run), from the live target read now."""
    metadata = plan.manifests[0]["metadata"]
    try:
        live = live_or_none(PEER_AUTHENTICATION, metadata["namespace"], metadata["name"])
    except ClusterError:
        return  # the dry run says what the cluster said; the apply decides again anyway
    takeover = live_takeover(user=user, plan=plan, live=live, timed=plan.duration is not None)
    problem = takeover_problem(takeover, force=force)
    if problem:
        change_audit(user, plan, Outcome.DENIED, error=problem, dry_run=True)
        raise PermissionDenied(problem)


def _last_changed(owner: PolicyOwnership) -> str:
    return f" (last changed {owner.changed_on})" if owner.changed_on else ""


def _reverted_warning(owner: PolicyOwnership) -> str:
    who = f"{owner.tool} ({owner.manager})" if owner.tool else owner.manager
    when = _REVERTED_WHEN.get(owner.tool, "when it next reconciles")
    where = (
        f" Change it where its source lives: {owner.source}."
        if owner.source
        else " Change it in that tool's source instead."
    )
    return (
        f"This policy is managed by {who}, a reconciler: a change made here would be "
        f"reverted {when}.{where}"
    )


def _changes_only_the_mode(live: dict, manifest: dict) -> bool:
    def without_mode(spec: dict) -> dict:
        mtls = {k: v for k, v in (spec.get("mtls") or {}).items() if k != "mode"}
        return {**spec, "mtls": mtls}

    return without_mode(live.get("spec") or {}) == without_mode(manifest.get("spec") or {})
