"""The audit log: one append-only entry for every attempted change, whatever its outcome.

Entries are only ever created here. meshui has no view, form or service that edits or deletes
one; the cluster is the source of truth for policies, the audit log for who tried what.
"""

from datetime import datetime
from enum import StrEnum

from django.utils import timezone

from policies.models import AuditEntry
from policies.roles import user_role

# The name recorded for changes meshui makes by itself (timed restores).
SYSTEM_USERNAME = "meshui"
ANONYMOUS_USERNAME = "anonymous"


class AuditAction(StrEnum):
    NAMESPACE_MODE_SET = "namespace_mode_set"
    PEER_AUTHENTICATION_APPLY = "peer_authentication_apply"
    PEER_AUTHENTICATION_MODE_UPDATE = "peer_authentication_mode_update"
    POLICY_DELETE = "policy_delete"
    RESTORE = "restore"
    ROLLBACK = "rollback"
    # Exemptions change no cluster object, but an auditor filters and reads them like changes.
    EXEMPTION_CREATE = "exemption_create"
    EXEMPTION_REVOKE = "exemption_revoke"

    @property
    def label(self) -> str:
        return {
            "namespace_mode_set": "Namespace mode set",
            "peer_authentication_apply": "PeerAuthentication applied",
            "peer_authentication_mode_update": "Policy mode edited",
            "policy_delete": "Policy deleted",
            "restore": "Timed restore",
            "rollback": "Rollback",
            "exemption_create": "Exemption recorded",
            "exemption_revoke": "Exemption revoked",
        }[self.value]


def action_label(action: str) -> str:
    """An action in words ("Namespace mode set"); one another feature records is spelled out."""
    try:
        return AuditAction(action).label
    except ValueError:
        return action.replace("_", " ").capitalize()


def audit_entry_record(
    *,
    user,
    action: AuditAction,
    outcome: str,
    target_kind: str = "",
    target_namespace: str = "",
    target_name: str = "",
    reason: str = "",
    object_sent: dict | list | None = None,
    object_before: dict | None = None,
    dry_run_result: str = "",
    error: str = "",
    restore_of: AuditEntry | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry, written at `now` (default: this moment). `user` None means meshui
    itself (a timed restore)."""
    is_person = user is not None and getattr(user, "is_authenticated", False)
    role = user_role(user) if is_person else None
    if is_person:
        username = user.get_username()
    else:
        username = SYSTEM_USERNAME if user is None else ANONYMOUS_USERNAME
    return AuditEntry.objects.create(
        created_at=now or timezone.now(),
        user=user if is_person else None,
        username=username,
        role=role.value if role else "",
        action=str(action),
        target_kind=target_kind,
        target_namespace=target_namespace,
        target_name=target_name,
        reason=reason,
        object_sent=object_sent,
        object_before=object_before,
        dry_run_result=dry_run_result,
        outcome=outcome,
        error=error,
        restore_of=restore_of,
    )
