"""The audit entry of a change attempt, whatever its outcome."""

from __future__ import annotations

from policies.models import AuditEntry
from policies.services.audit import audit_entry_record
from policies.services.changes.plans import ChangePlan

Outcome = AuditEntry.Outcome


def change_audit(user, plan: ChangePlan, outcome: str, **kwargs) -> AuditEntry | None:
    """Record one attempt at `plan` (None: a refusal past the per-minute limit, not recorded)."""
    dry_run = kwargs.pop("dry_run", False)
    if dry_run and "dry_run_result" not in kwargs and outcome == Outcome.DENIED:
        kwargs["dry_run_result"] = "preview denied"
    sent = kwargs.pop("object_sent", None)
    if sent is None:
        if plan.delete:
            kind, namespace, name, resource_version = plan.delete
            sent = {
                "delete": {
                    "kind": kind,
                    "namespace": namespace,
                    "name": name,
                    "resourceVersion": resource_version,
                }
            }
        elif plan.manifests:
            sent = plan.manifests if len(plan.manifests) > 1 else plan.manifests[0]
    return audit_entry_record(
        user=user,
        action=plan.action,
        outcome=outcome,
        target_kind=plan.target_kind,
        target_namespace=plan.namespace,
        target_name=plan.target_name,
        reason=plan.reason,
        object_sent=sent,
        **kwargs,
    )
