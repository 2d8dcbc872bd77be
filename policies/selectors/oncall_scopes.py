"""On-call scopes: which namespaces an on-call user may switch, by name pattern or label.

A user's scope is the union of the `OnCallScope` rows naming one of their groups: their Django
groups and, for single sign-on users, the role claim's values at their last login. Admins are
not limited; auditors switch nothing whatever the rows say. With no rows at all on-call is
global (deployments from before scopes keep working), except for system namespaces. Once an
admin has written one row, an on-call user whose groups no row names may switch nothing: a
misspelt group in a scope must narrow what someone may do, never widen it to everything.

System namespaces (MESHUI_SYSTEM_NAMESPACES and Istio's root namespace) are outside every
scope unless a row names one exactly or sets `include_system`. Labels are the current
snapshot's, so a label-based scope follows the cluster at the next sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.conf import settings

from policies.cluster_scope import cluster_scope_current
from policies.models import IdentityProviderGroups, NamespaceRecord, OnCallScope
from policies.roles import Role, group_names, user_role
from policies.selectors.changes import root_namespace
from policies.selectors.fleet import configured_cluster_name
from policies.selectors.sync import snapshot_current


@dataclass(frozen=True)
class ScopeRule:
    """One `OnCallScope` row: namespaces named by a pattern, or carrying every label."""

    patterns: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    include_system: bool = False

    def covers(self, name: str, labels: dict, *, system: bool) -> bool:
        if name in self.patterns:
            return True  # named exactly: an admin's explicit choice, system namespace or not
        if system and not self.include_system:
            return False
        if any(fnmatchcase(name, pattern) for pattern in self.patterns):
            return True
        return bool(self.labels) and all(labels.get(key) == value for key, value in self.labels)

    clusters: tuple[str, ...] = ()

    @property
    def words(self) -> str:
        text = ", ".join([*self.patterns, *(f"{key}={value}" for key, value in self.labels)])
        text = f"{text} with system namespaces" if self.include_system else text
        return f"{text} in cluster {', '.join(self.clusters)}" if self.clusters else text

    @classmethod
    def of(cls, row: OnCallScope) -> ScopeRule:
        return cls(
            patterns=tuple(row.namespace_patterns or ()),
            labels=tuple(sorted((row.namespace_labels or {}).items())),
            include_system=row.include_system,
            clusters=tuple(row.clusters or ()),
        )


@dataclass(frozen=True)
class NamespaceScope:
    """The namespaces one user may switch. `rules` None: no scope rows exist, every namespace
    but the system ones; () : none. `unlimited`: an admin."""

    rules: tuple[ScopeRule, ...] | None
    system: tuple[str, ...]
    groups: tuple[str, ...] = ()
    unlimited: bool = False

    def allows(self, name: str, labels: dict | None) -> bool:
        if self.unlimited:
            return True
        system = name in self.system
        if self.rules is None:
            return not system
        return any(rule.covers(name, labels or {}, system=system) for rule in self.rules)

    @property
    def words(self) -> str:
        if self.unlimited:
            return "every namespace"
        if self.rules is None:
            return f"every namespace except the system ones: {', '.join(self.system)}"
        return "; ".join(rule.words for rule in self.rules)

    def refusal(self, name: str, labels: dict | None) -> str:
        """'' when the scope includes `name` (labels None: not in the snapshot), else why not."""
        if self.allows(name, labels):
            return ""
        if self.rules == ():
            groups = ", ".join(self.groups) or "none"
            return (
                f"Your on-call scope is empty: no on-call scope names one of your groups "
                f"({groups}), so you may switch no namespace. An admin adds one with "
                "`manage.py oncall_scope add`."
            )
        message = f"Your on-call scope ({self.words}) does not include namespace {name}."
        if name in self.system:
            message += (
                f" {name} is a system namespace: it is in an on-call scope only when an admin "
                f"names it (`manage.py oncall_scope add --namespaces {name}`)."
            )
        elif labels is None and any(rule.labels for rule in self.rules or ()):
            message += f" meshui has no labels for {name}: it is not in the current snapshot."
        return message


def system_namespaces(*, root: str | None = None) -> tuple[str, ...]:
    """MESHUI_SYSTEM_NAMESPACES, then Istio's root namespace (`root`, else the snapshot's)."""
    names = list(dict.fromkeys(settings.MESHUI_SYSTEM_NAMESPACES))
    root = root or root_namespace()
    return (*names, root) if root not in names else tuple(names)


def user_scope_groups(user) -> set[str]:
    """The group names a scope row may name for `user`: Django groups and IdP groups."""
    identity_provider = (
        IdentityProviderGroups.objects.filter(user_id=user.pk)
        .values_list("names", flat=True)
        .first()
    )
    return group_names(user) | {str(name) for name in identity_provider or ()}


def oncall_scope_of(*, user, root: str | None = None) -> NamespaceScope:
    """The namespaces `user` may switch (role first: admins everything, auditors nothing)."""
    role = user_role(user)
    if role == Role.ADMIN:
        return NamespaceScope(rules=None, system=(), unlimited=True)
    system = system_namespaces(root=root)
    if role != Role.ONCALL:
        return NamespaceScope(rules=(), system=system)
    groups = user_scope_groups(user)
    rows = _rows_in_this_cluster(list(OnCallScope.objects.filter(group__in=groups)))
    if not rows and not OnCallScope.objects.exists():
        return NamespaceScope(rules=None, system=system)
    return NamespaceScope(
        rules=tuple(ScopeRule.of(row) for row in rows), system=system, groups=tuple(sorted(groups))
    )


def _rows_in_this_cluster(rows: list[OnCallScope]) -> list[OnCallScope]:
    """The rows that hold in the cluster in scope: those naming no cluster (every cluster of
    the fleet), and those with a cluster pattern that matches its name."""
    if not any(row.clusters for row in rows):
        return rows
    name = cluster_scope_current().name or configured_cluster_name()
    return [
        row
        for row in rows
        if not row.clusters or any(fnmatchcase(name, pattern) for pattern in row.clusters)
    ]


def namespace_labels_seen(namespace: str) -> dict | None:
    """The namespace's labels in the current snapshot; None when it is not there."""
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    return (
        NamespaceRecord.objects.filter(snapshot=snapshot, name=namespace)
        .values_list("labels", flat=True)
        .first()
    )


def oncall_scope_refusal(*, user, namespace: str) -> str:
    """'' when `namespace` is in the user's on-call scope (always, for admins), else why not."""
    scope = oncall_scope_of(user=user)
    if scope.unlimited:
        return ""
    return scope.refusal(namespace, namespace_labels_seen(namespace))


def oncall_scope_allows(*, user, namespace: str) -> bool:
    return not oncall_scope_refusal(user=user, namespace=namespace)


def namespaces_toggleable(*, user, namespaces: Iterable[NamespaceRecord], root: str) -> set[str]:
    """Of these snapshot rows, the namespaces whose toggle `user` may use: the role, the scope
    and never the root namespace. One scope read for the lot, however many rows."""
    namespaces = list(namespaces)
    if not namespaces or user_role(user) not in (Role.ADMIN, Role.ONCALL):
        return set()
    scope = oncall_scope_of(user=user, root=root)
    return {
        row.name
        for row in namespaces
        if row.name != root and not row.is_root and scope.allows(row.name, row.labels)
    }


def namespace_toggle_allowed(*, user, namespace: str) -> bool:
    """Whether to offer `user` the toggle of one namespace: the role, never the root
    namespace, and the on-call scope (the service checks all three again on a write)."""
    if user_role(user) not in (Role.ADMIN, Role.ONCALL) or namespace == root_namespace():
        return False
    return oncall_scope_allows(user=user, namespace=namespace)


@dataclass(frozen=True)
class ToggleOffer:
    """Whether a namespace's page offers `user` the toggle, and if not for their scope, why."""

    allowed: bool
    scope_refusal: str = ""


def namespace_toggle_offer(*, user, namespace: NamespaceRecord, root: str) -> ToggleOffer:
    """The toggle for one snapshot row: offered, or (for on-call) the scope's words why not."""
    if namespaces_toggleable(user=user, namespaces=[namespace], root=root):
        return ToggleOffer(allowed=True)
    if user_role(user) != Role.ONCALL or namespace.is_root or namespace.name == root:
        return ToggleOffer(allowed=False)
    scope = oncall_scope_of(user=user, root=root)
    return ToggleOffer(allowed=False, scope_refusal=scope.refusal(namespace.name, namespace.labels))


def oncall_scope_list() -> list[tuple[OnCallScope, ScopeRule]]:
    """Every scope row with its rule, by group (what `manage.py oncall_scope list` shows)."""
    return [(row, ScopeRule.of(row)) for row in OnCallScope.objects.order_by("group", "id")]
