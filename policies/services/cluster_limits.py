"""Writing cluster limits: the clusters one user may see and change (admins, by command;
audited). How a limit is read and applied is in `policies.selectors.cluster_limits`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.db import transaction

from policies.errors import MeshuiError
from policies.models import AuditAction, AuditEntry, ClusterLimit
from policies.selectors.fleet import fleet_members
from policies.services.audit import audit_entry_record

_CLUSTER_PATTERN = re.compile(r"^[A-Za-z0-9._*?\[\]-]{1,63}$")


class ClusterLimitInvalid(MeshuiError):
    """A limit that could not mean what its author meant; nothing was stored."""


def _user_named(username: str):
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise ClusterLimitInvalid(f"No meshui user is named {username!r}.")
    return user


def cluster_limit_set(*, username: str, clusters: Sequence[str], set_by: str = "") -> ClusterLimit:
    """Limit `username` to the clusters whose names match `clusters` (names or globs),
    replacing any limit they had; audited. A pattern matching no cluster of the fleet today is
    allowed (a cluster registered later may match it), but at least one is required."""
    user = _user_named(username)
    patterns = list(dict.fromkeys(name.strip() for name in clusters if name.strip()))
    if not patterns:
        raise ClusterLimitInvalid(
            "Give at least one --clusters name or glob; to lift a limit use `cluster_limit remove`."
        )
    for pattern in patterns:
        if not _CLUSTER_PATTERN.match(pattern):
            raise ClusterLimitInvalid(
                f'"{pattern}" is not a cluster name pattern: letters, digits, ".", "_", "-" '
                "and the wildcards * ? and [...]."
            )
    with transaction.atomic():
        limit, _created = ClusterLimit.objects.update_or_create(
            user=user, defaults={"clusters": patterns, "created_by": set_by}
        )
        audit_entry_record(
            user=None,
            action=AuditAction.CLUSTER_LIMIT_SET,
            outcome=AuditEntry.Outcome.APPLIED,
            target_kind="User",
            target_name=user.get_username(),
            object_sent={"clusters": patterns, "set_by": set_by},
            cluster_name="",
        )
    return limit


def cluster_limit_clear(*, username: str, set_by: str = "") -> None:
    """Lift `username`'s limit: every cluster again; audited."""
    user = _user_named(username)
    with transaction.atomic():
        removed, _ = ClusterLimit.objects.filter(user=user).delete()
        if not removed:
            raise ClusterLimitInvalid(f"{user.get_username()} has no cluster limit.")
        audit_entry_record(
            user=None,
            action=AuditAction.CLUSTER_LIMIT_CLEAR,
            outcome=AuditEntry.Outcome.APPLIED,
            target_kind="User",
            target_name=user.get_username(),
            object_sent={"set_by": set_by},
            cluster_name="",
        )


def cluster_names_matching(patterns: Sequence[str]) -> list[str]:
    """The fleet's clusters a limit would allow today (for the command's answer)."""
    from fnmatch import fnmatchcase

    return [
        member.name
        for member in fleet_members()
        if any(fnmatchcase(member.name, pattern) for pattern in patterns)
    ]
