"""Recording and revoking exemptions (admin only, audited), and the findings expired ones raise.

An exemption is meshui's own record: nothing is sent to the cluster. It says a namespace (or
one workload) may stay below STRICT until a date, who owns that decision and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from policies.models import AuditEntry, Exemption
from policies.roles import can_manage_exemptions
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
    *, user, action: AuditAction, exemption: Exemption, outcome: str, now: datetime
):
    return audit_entry_record(
        user=user,
        action=action,
        outcome=outcome,
        target_kind="Workload" if exemption.workload else "Namespace",
        target_namespace=exemption.namespace,
        target_name=exemption.workload or exemption.namespace,
        reason=(
            f"owner {exemption.owner}; expires {exemption.expires_at:%Y-%m-%d %H:%M} UTC; "
            f"{exemption.justification}"
        ),
        now=now,
    )


def require_exemption_manager(
    *, user, action: AuditAction, exemption: Exemption, now: datetime
) -> None:
    """Refuse (and record the refusal) unless the user may manage exemptions."""
    if can_manage_exemptions(user):
        return
    audit_exemption(
        user=user, action=action, exemption=exemption, outcome=AuditEntry.Outcome.DENIED, now=now
    )
    raise PermissionDenied("Only an admin can record or revoke exemptions.")


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


def exemption_revoke(*, user, exemption_id: int, now: datetime) -> Exemption:
    """End an exemption now. Revoking one already revoked changes nothing."""
    exemption = Exemption.objects.get(pk=exemption_id)
    require_exemption_manager(
        user=user, action=AuditAction.EXEMPTION_REVOKE, exemption=exemption, now=now
    )
    if exemption.revoked_at is not None:
        return exemption
    with transaction.atomic():
        exemption.revoked_at = now
        exemption.save(update_fields=["revoked_at"])
        audit_exemption(
            user=user,
            action=AuditAction.EXEMPTION_REVOKE,
            exemption=exemption,
            outcome=AuditEntry.Outcome.APPLIED,
            now=now,
        )
    return exemption
