"""Recording, revoking and renewing exemptions (admin only, audited), and the findings expired
ones raise.

An exemption is meshui's own record: nothing is sent to the cluster. It says a namespace (or
one workload) may stay below STRICT until a date, who owns that decision and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from policies.models import AuditEntry, Exemption
from policies.reasons import reason_problem
from policies.roles import can_manage_exemptions
from policies.selectors.cluster_limits import cluster_unlimited_refusal
from policies.selectors.reports import FindingRow, exemptions_at, snapshot_at
from policies.services.audit import AuditAction, audit_entry_record

# Exemptions are meant to be revisited: a year is the longest one may run before renewal.
EXEMPTION_LONGEST = timedelta(days=366)


def exemption_findings(now: datetime) -> list[FindingRow]:
    """EXEMPTION_EXPIRED findings: exemptions past expiry that nobody revoked or renewed.

    Sync calls this when it writes a snapshot. Reports also work them out at the report's
    own moment, so an exemption that expires between two syncs shows at once.
    """
    # Shaped like the engine's Finding, so sync stores them beside the engine's findings.
    return [expired.as_finding() for expired in exemptions_at(at=now).expired]


def audit_exemption(
    *,
    user,
    action: AuditAction,
    exemption: Exemption,
    outcome: str,
    now: datetime,
    reason: str = "",
    error: str = "",
    result: str = "",
):
    """One audit entry about an exemption: the user's reason (revoke, renew) first, then the
    exemption's own facts, so the entry reads alone."""
    facts = (
        f"owner {exemption.owner}; expires {exemption.expires_at:%Y-%m-%d %H:%M} UTC; "
        f"{exemption.justification}"
    )
    return audit_entry_record(
        user=user,
        action=action,
        outcome=outcome,
        target_kind="Workload" if exemption.workload else "Namespace",
        target_namespace=exemption.namespace,
        target_name=exemption.workload or exemption.namespace,
        reason=f"{reason} (exemption: {facts})" if reason else facts,
        error=error,
        dry_run_result=result,
        now=now,
    )


def require_exemption_reason(
    *, user, action: AuditAction, exemption: Exemption, reason: str, now: datetime
) -> str:
    """The change's reason, stripped; refused (and audited) by the rule every change follows."""
    problem = reason_problem(reason)
    if problem:
        audit_exemption(
            user=user,
            action=action,
            exemption=exemption,
            outcome=AuditEntry.Outcome.FAILED,
            now=now,
            error=problem,
        )
        raise ValidationError({"reason": problem})
    return reason.strip()


def require_exemption_manager(
    *, user, action: AuditAction, exemption: Exemption, now: datetime
) -> None:
    """Refuse (and record the refusal) unless the user may manage exemptions: an admin
    without a cluster limit, since an exemption holds in every cluster of the fleet."""
    if not can_manage_exemptions(user):
        problem = "Only an admin can record, revoke or renew exemptions."
    else:
        problem = cluster_unlimited_refusal(
            user=user, doing="Exemptions hold in every cluster: recording, revoking or renewing one"
        )
    if not problem:
        return
    audit_exemption(
        user=user,
        action=action,
        exemption=exemption,
        outcome=AuditEntry.Outcome.DENIED,
        now=now,
        error=problem,
    )
    raise PermissionDenied(problem)


def exemption_refusal_record(
    *, user, action: AuditAction, namespace: str, workload: str, now: datetime
) -> None:
    """Record and raise the refusal of a non-admin's attempt the view turned away early."""
    attempted = Exemption(
        namespace=namespace[:63],
        workload=workload[:253],
        owner="",
        justification="",
        expires_at=now,
        created_at=now,
        created_by=user.get_username(),
    )
    require_exemption_manager(user=user, action=action, exemption=attempted, now=now)


def validate_target(*, namespace: str, workload: str, now: datetime) -> None:
    """The target must exist in the current snapshot (when there is one): catches typos."""
    snapshot = snapshot_at(at=now)
    if snapshot is None:
        return
    if not snapshot.namespaces.filter(name=namespace).exists():
        raise ValidationError(
            {"namespace": f"There is no namespace {namespace!r} in the current snapshot."}
        )
    if workload and not snapshot.workloads.filter(namespace=namespace, name=workload).exists():
        raise ValidationError(
            {"workload": f"There is no workload {workload!r} in namespace {namespace!r}."}
        )


def exemption_create(
    *,
    user,
    namespace: str,
    workload: str = "",
    owner: str,
    justification: str,
    expires_at: datetime,
    now: datetime,
) -> Exemption:
    """Record that a namespace (or one workload) may stay below STRICT until `expires_at`."""
    exemption = Exemption(
        namespace=namespace,
        workload=workload,
        owner=owner.strip(),
        justification=justification.strip(),
        expires_at=expires_at,
        created_at=now,
        created_by=user.get_username(),
    )
    require_exemption_manager(
        user=user, action=AuditAction.EXEMPTION_CREATE, exemption=exemption, now=now
    )
    if expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if expires_at > now + EXEMPTION_LONGEST:
        raise ValidationError(
            {"expires_at": "An exemption may run for at most a year; renew it when it ends."}
        )
    if not exemption.owner:
        raise ValidationError({"owner": "Name the person or team who owns this exemption."})
    if not exemption.justification:
        raise ValidationError({"justification": "Say why this may stay below STRICT."})
    validate_target(namespace=namespace, workload=workload, now=now)
    current = exemptions_at(at=now).in_force.get((namespace, workload))
    if current is not None:
        raise ValidationError(
            f"{namespace}{'/' + workload if workload else ''} already has an exemption until "
            f"{current.expires_at:%Y-%m-%d %H:%M} UTC (owner {current.owner}). "
            "Revoke it first to record a new one."
        )
    with transaction.atomic():
        exemption.save()
        audit_exemption(
            user=user,
            action=AuditAction.EXEMPTION_CREATE,
            exemption=exemption,
            outcome=AuditEntry.Outcome.APPLIED,
            now=now,
        )
    return exemption


def exemption_revoke(*, user, exemption_id: int, reason: str, now: datetime) -> Exemption:
    """End an exemption now, saying why. Revoking one already revoked changes nothing."""
    exemption = Exemption.objects.get(pk=exemption_id)
    action = AuditAction.EXEMPTION_REVOKE
    require_exemption_manager(user=user, action=action, exemption=exemption, now=now)
    reason = require_exemption_reason(
        user=user, action=action, exemption=exemption, reason=reason, now=now
    )
    with transaction.atomic():
        exemption = Exemption.objects.select_for_update().get(pk=exemption_id)
        if exemption.revoked_at is not None:
            return exemption
        exemption.revoked_at = now
        exemption.save(update_fields=["revoked_at"])
        audit_exemption(
            user=user,
            action=action,
            exemption=exemption,
            outcome=AuditEntry.Outcome.APPLIED,
            now=now,
            reason=reason,
        )
    return exemption


def exemption_renew(
    *, user, exemption_id: int, expires_at: datetime, reason: str, now: datetime
) -> Exemption:
    """Extend an exemption to a later expiry in one audited step, with no gap: the current
    record ends now and a new one with the same target, owner and justification starts now.
    (Editing the expiry in place would rewrite history: a report as at a day between the
    old expiry and the renewal must still show the exemption expired then.)"""
    current = Exemption.objects.get(pk=exemption_id)
    action = AuditAction.EXEMPTION_RENEW
    require_exemption_manager(user=user, action=action, exemption=current, now=now)
    reason = require_exemption_reason(
        user=user, action=action, exemption=current, reason=reason, now=now
    )
    if current.revoked_at is not None:
        raise ValidationError(
            "This exemption was revoked or renewed already; record a new one instead."
        )
    if expires_at <= max(current.expires_at, now):
        raise ValidationError(
            {
                "expires_at": "A renewal runs later than the current expiry "
                f"({current.expires_at:%Y-%m-%d}) and later than now."
            }
        )
    if expires_at > now + EXEMPTION_LONGEST:
        raise ValidationError({"expires_at": "An exemption may run for at most a year from today."})
    with transaction.atomic():
        current = Exemption.objects.select_for_update().get(pk=exemption_id)
        if current.revoked_at is not None:
            raise ValidationError("Someone revoked or renewed this exemption a moment ago.")
        current.revoked_at = now
        current.save(update_fields=["revoked_at"])
        renewed = Exemption.objects.create(
            namespace=current.namespace,
            workload=current.workload,
            owner=current.owner,
            justification=current.justification,
            expires_at=expires_at,
            created_at=now,
            created_by=user.get_username(),
            renewed_from=current,
        )
        audit_exemption(
            user=user,
            action=action,
            exemption=renewed,
            outcome=AuditEntry.Outcome.APPLIED,
            now=now,
            reason=reason,
            result=f"Expiry moved from {current.expires_at:%Y-%m-%d %H:%M} to "
            f"{expires_at:%Y-%m-%d %H:%M} UTC (exemption #{current.pk} renewed as "
            f"#{renewed.pk}).",
        )
    return renewed
