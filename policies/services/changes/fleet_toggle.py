"""The on-call toggle across clusters: one namespace, switched in every cluster chosen.

Namespace sameness makes `payments` one namespace in every cluster, so an incident often
needs it switched everywhere at once. This is the one-cluster toggle (`toggle.py`), run once
per cluster in that cluster's scope: the same plan, permission and scope check (an on-call
scope may hold in some clusters only), take-over decision, dry run, apply and audit entry,
each cluster on its own. A preview is shown per cluster, and the confirm applies in each
cluster exactly the policy version previewed there. Outcomes are per cluster: when some
clusters apply and others fail, that is reported as a partial success, each failure with its
reason and a way to try that cluster again (a fresh preview there, never a replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied

from policies.selectors.changes import namespace_toggle_owner_seen, namespace_toggle_target_seen
from policies.selectors.fleet import FleetMember, fleet_scope
from policies.services.changes.apply import ChangeResult
from policies.services.changes.failures import ChangeFailure, PartialChange
from policies.services.changes.plans import SEEN_ABSENT, ChangePlan, namespace_mode_plan
from policies.services.changes.preview import ChangePreview, change_preview
from policies.services.changes.takeover import TakeOver, toggle_takeover
from policies.services.changes.toggle import namespace_mode_set


@dataclass(frozen=True)
class ClusterTarget:
    """What a confirm applies in one cluster: the policy previewed there, by version."""

    member: FleetMember
    seen_name: str
    seen_resource_version: str


@dataclass(frozen=True)
class ClusterPreview:
    """One cluster's preview; `refusal` when the user may not switch it there."""

    member: FleetMember
    plan: ChangePlan | None
    preview: ChangePreview | None
    takeover: TakeOver | None
    seen_name: str
    seen_resource_version: str
    refusal: str = ""

    @property
    def can_apply(self) -> bool:
        return self.preview is not None and self.preview.dry_run_ok and not self.refusal


@dataclass(frozen=True)
class ClusterOutcome:
    """What happened in one cluster: applied (`result`), half done, or failed (`failure`)."""

    member: FleetMember
    result: ChangeResult | None = None
    failure: ChangeFailure | None = None
    partial_entry_id: int | None = None

    @property
    def applied(self) -> bool:
        return self.result is not None

    @property
    def entry_id(self) -> int | None:
        if self.result is not None:
            return self.result.entry.pk
        if self.partial_entry_id is not None:
            return self.partial_entry_id
        entry = getattr(self.failure, "entry", None)
        return entry.pk if entry is not None else None


def fleet_namespace_mode_preview(
    *,
    user,
    namespace: str,
    mode: str,
    reason: str,
    duration: timedelta | None,
    members: list[FleetMember],
) -> list[ClusterPreview]:
    """Preview the switch in each cluster (audited as a dry run there, like any preview)."""
    previews = []
    for member in members:
        with fleet_scope(member):
            seen_name, target = namespace_toggle_target_seen(namespace)
            version = (target or {}).get("metadata", {}).get("resourceVersion") or SEEN_ABSENT
            takeover = toggle_takeover(
                user=user, owner=namespace_toggle_owner_seen(namespace), timed=bool(duration)
            )
            plan = namespace_mode_plan(
                namespace=namespace, mode=mode, reason=reason, duration=duration
            )
            try:
                preview = change_preview(user=user, plan=plan, force=takeover.automatic)
            except PermissionDenied as refused:
                previews.append(
                    ClusterPreview(member, plan, None, takeover, seen_name, version, str(refused))
                )
                continue
            previews.append(ClusterPreview(member, plan, preview, takeover, seen_name, version))
    return previews


def fleet_namespace_mode_set(
    *,
    user,
    namespace: str,
    mode: str,
    reason: str,
    duration: timedelta | None,
    targets: list[ClusterTarget],
) -> list[ClusterOutcome]:
    """Apply the previewed switch in each cluster, one after the other; one cluster's failure
    (refused, changed since the preview, unreachable) never stops the others."""
    outcomes = []
    for target in targets:
        with fleet_scope(target.member):
            takeover = toggle_takeover(
                user=user, owner=namespace_toggle_owner_seen(namespace), timed=bool(duration)
            )
            try:
                result = namespace_mode_set(
                    user=user,
                    namespace=namespace,
                    mode=mode,
                    reason=reason,
                    duration=duration,
                    seen_name=target.seen_name or None,
                    seen_resource_version=target.seen_resource_version,
                    take_over_from=takeover.owner.manager if takeover.automatic else "",
                )
            except PartialChange as partial:
                outcomes.append(
                    ClusterOutcome(
                        target.member, failure=partial, partial_entry_id=partial.entry.pk
                    )
                )
            except ChangeFailure as failure:
                outcomes.append(ClusterOutcome(target.member, failure=failure))
            except PermissionDenied as refused:
                outcomes.append(
                    ClusterOutcome(target.member, failure=ChangeFailure(str(refused), status=403))
                )
            else:
                outcomes.append(ClusterOutcome(target.member, result=result))
    return outcomes
