"""Writing on-call scopes: which namespaces a group's on-call may switch (admins, by command).

How a scope is read and applied is in `policies.selectors.oncall_scopes`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import transaction

from policies.errors import MeshuiError
from policies.models import OnCallScope

# A namespace name (RFC 1123 label) with fnmatch's wildcards and bracket sets in it.
_PATTERN = re.compile(r"^[a-z0-9*?\[\]!-]{1,63}$")
# A label key (optional DNS prefix, then a name) and value, as Kubernetes allows them.
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


_CLUSTER_PATTERN = re.compile(r"^[A-Za-z0-9._*?\[\]-]{1,63}$")


class OnCallScopeInvalid(MeshuiError):
    """A scope that could never match what its author meant; nothing was stored."""


def oncall_scope_create(
    *,
    group: str,
    namespace_patterns: Sequence[str] = (),
    namespace_labels: dict[str, str] | None = None,
    include_system: bool = False,
    created_by: str = "",
    clusters: Sequence[str] = (),
) -> OnCallScope:
    """Let the on-call of `group` switch namespaces matching a pattern or all the labels, in
    the clusters of the fleet whose names match `clusters` (none: every cluster)."""
    group = group.strip()
    patterns = list(dict.fromkeys(pattern.strip() for pattern in namespace_patterns))
    labels = dict(namespace_labels or {})
    if not group or len(group) > 150:
        raise OnCallScopeInvalid("Name the group (1 to 150 characters) whose on-call this is.")
    if not patterns and not labels:
        raise OnCallScopeInvalid(
            "Give at least one --namespaces pattern or --labels selector: a scope with neither "
            "would include no namespace."
        )
    for pattern in patterns:
        if not _PATTERN.match(pattern):
            raise OnCallScopeInvalid(
                f'"{pattern}" is not a namespace name pattern: lowercase letters, digits and '
                "'-', with the wildcards * ? and [...]."
            )
    for key, value in labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise OnCallScopeInvalid(f'"{key}={value}" is not a Kubernetes label and value.')
    clusters = list(dict.fromkeys(name.strip() for name in clusters if name.strip()))
    for pattern in clusters:
        if not _CLUSTER_PATTERN.match(pattern):
            raise OnCallScopeInvalid(
                f'"{pattern}" is not a cluster name pattern: letters, digits, ".", "_", "-" '
                "and the wildcards * ? and [...]."
            )
    return OnCallScope.objects.create(
        clusters=clusters,
        group=group,
        namespace_patterns=patterns,
        namespace_labels=labels,
        include_system=include_system,
        created_by=created_by,
    )


def oncall_scope_delete(*, scope_id: int | None = None, group: str | None = None) -> int:
    """Remove one scope by id, or every scope of a group; how many were removed."""
    if scope_id is None and not group:
        raise OnCallScopeInvalid("Say which scope to remove: --id or --group.")
    scopes = OnCallScope.objects.all()
    if scope_id is not None:
        scopes = scopes.filter(pk=scope_id)
    if group:
        scopes = scopes.filter(group=group.strip())
    with transaction.atomic():
        removed, _ = scopes.delete()
    if not removed:
        raise OnCallScopeInvalid("No on-call scope matches; nothing was removed.")
    return removed
