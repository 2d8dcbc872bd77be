"""Cluster limits: which clusters of the fleet one user may see and change (`ClusterLimit`).

No row: every cluster (meshui before limits). A row names clusters by name or glob; it holds
for every role, so an admin or auditor limited to `prod-eu-*` reads and changes those clusters
only. The request's cluster (policies.middleware_fleet) is always one the user may see; the
write services check again (`cluster_limit_refusal`), so a hand-made POST naming another
cluster, a retry or a restore in another cluster is refused and audited whatever the view did.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from policies.cluster_scope import cluster_scope_current
from policies.models import ClusterLimit
from policies.selectors.fleet import FleetMember, configured_cluster_name, fleet_members


@dataclass(frozen=True)
class UserClusters:
    """The clusters one user may see: `patterns` None means every cluster."""

    patterns: tuple[str, ...] | None = None

    @property
    def limited(self) -> bool:
        return self.patterns is not None

    def allows(self, name: str) -> bool:
        if self.patterns is None:
            return True
        return any(fnmatchcase(name, pattern) for pattern in self.patterns)

    @property
    def words(self) -> str:
        return "every cluster" if self.patterns is None else ", ".join(self.patterns)


EVERY_CLUSTER = UserClusters()


def cluster_limit_of(user) -> UserClusters:
    """The clusters `user` may see (read once per user object, that is per request). meshui
    itself (None) and anonymous requests are not limited: they see nothing without a role."""
    if user is None or not getattr(user, "is_authenticated", False):
        return EVERY_CLUSTER
    cached = getattr(user, "_meshui_cluster_limit", None)
    if cached is None:
        patterns = (
            ClusterLimit.objects.filter(user_id=user.pk).values_list("clusters", flat=True).first()
        )
        cached = EVERY_CLUSTER if patterns is None else UserClusters(tuple(patterns))
        user._meshui_cluster_limit = cached
    return cached


def cluster_in_scope_name() -> str:
    """The name of the cluster the running code works on."""
    return cluster_scope_current().name or configured_cluster_name()


def cluster_limit_refusal(*, user, name: str | None = None) -> str:
    """'' when `user` may see and change cluster `name` (default: the one in scope), else why
    not, in words."""
    limit = cluster_limit_of(user)
    name = cluster_in_scope_name() if name is None else name
    if limit.allows(name):
        return ""
    return (
        f"Your access is limited to the clusters {limit.words}; {name} is not one of them. "
        "An admin without a limit changes it with `manage.py cluster_limit`."
    )


def cluster_unlimited_refusal(*, user, doing: str) -> str:
    """'' unless `user` has a cluster limit: `doing` (registering clusters, exemptions) holds in
    every cluster, so it is for users without one."""
    limit = cluster_limit_of(user)
    if not limit.limited:
        return ""
    return (
        f"{doing} is for users without a cluster limit; yours is {limit.words} "
        "(`manage.py cluster_limit`)."
    )


def fleet_members_visible(*, user, include_removed: bool = False) -> list[FleetMember]:
    """The fleet's clusters `user` may see, the configured one first."""
    limit = cluster_limit_of(user)
    members = fleet_members(include_removed=include_removed)
    return [member for member in members if limit.allows(member.name)]


def audit_cluster_values_visible(*, user) -> list[str] | None:
    """The `AuditEntry.cluster` values `user` may read ("" is the configured cluster), or None
    for every one. Removed clusters count: their history is still theirs."""
    limit = cluster_limit_of(user)
    if not limit.limited:
        return None
    return [
        "" if member.is_configured else member.name
        for member in fleet_members_visible(user=user, include_removed=True)
    ]


def cluster_limit_list() -> list[tuple[str, UserClusters]]:
    """Every limit, by username (what `manage.py cluster_limit list` shows)."""
    return [
        (row.user.get_username(), UserClusters(tuple(row.clusters)))
        for row in ClusterLimit.objects.select_related("user").order_by("user__username")
    ]
