"""The audit log: one append-only entry for every attempted change, whatever its outcome.

Entries are only ever created here. meshui has no view, form or service that edits or deletes
one; the cluster is the source of truth for policies, the audit log for who tried what.
"""

from django.utils import timezone

from policies.models import AuditAction, AuditEntry
from policies.roles import user_role

# The name recorded for changes meshui makes by itself (timed restores).
SYSTEM_USERNAME = "meshui"
ANONYMOUS_USERNAME = "anonymous"


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
) -> AuditEntry:
    """Append one entry. `user` None means meshui itself (a timed restore)."""
    is_person = user is not None and getattr(user, "is_authenticated", False)
    role = user_role(user) if is_person else None
    if is_person:
        username = user.get_username()
    else:
        username = SYSTEM_USERNAME if user is None else ANONYMOUS_USERNAME
    return AuditEntry.objects.create(
        created_at=timezone.now(),
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
