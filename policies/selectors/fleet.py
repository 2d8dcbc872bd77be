"""The clusters of the fleet and the one place that decides which cluster code works on.

A fleet is the configured cluster (MESHUI_KUBECONFIG, the pod's service account or the demo;
it has no Cluster row and its records carry no cluster) plus the clusters an admin
registered. `fleet_scope(member)` makes one of them current for the block: snapshots and sync
runs are read (policies.cluster_scope) and gateway calls are sent (cluster.connection_active)
to that cluster, so every selector, service and report written for one cluster works on any.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from policies import cluster
from policies.cluster_scope import CONFIGURED, ClusterScope, cluster_scope_active
from policies.models import Cluster, Snapshot


@dataclass(frozen=True)
class FleetMember:
    """One cluster of the fleet: a registered one (`cluster` set) or the configured one."""

    name: str
    cluster: Cluster | None = None

    @property
    def is_configured(self) -> bool:
        return self.cluster is None

    @property
    def cluster_id(self) -> int | None:
        return None if self.cluster is None else self.cluster.pk

    @property
    def scope(self) -> ClusterScope:
        return CONFIGURED if self.cluster is None else ClusterScope(self.cluster.pk, self.name)

    @property
    def connection(self) -> cluster.ClusterConnection | None:
        return None if self.cluster is None else cluster_connection(self.cluster)

    @property
    def sync_interval(self) -> int:
        if self.cluster is not None and self.cluster.sync_interval:
            return self.cluster.sync_interval
        return settings.MESHUI_SYNC_INTERVAL

    @property
    def removed(self) -> bool:
        return self.cluster is not None and self.cluster.removed_at is not None


def cluster_connection(registered: Cluster) -> cluster.ClusterConnection:
    """How the gateway reaches a registered cluster (where its credentials are)."""
    return cluster.ClusterConnection(
        name=registered.name,
        source=registered.source,
        kubeconfig=registered.kubeconfig,
        context=registered.context,
        server=registered.server,
        token_file=registered.token_file,
        ca_file=registered.ca_file,
        secret_namespace=registered.secret_namespace,
        secret_name=registered.secret_name,
        secret_key=registered.secret_key,
    )


@contextlib.contextmanager
def fleet_scope(member: FleetMember | None) -> Iterator[FleetMember | None]:
    """Work on `member`'s cluster inside the block (None: the configured cluster)."""
    if member is None:
        member_scope, connection = CONFIGURED, None
    else:
        member_scope, connection = member.scope, member.connection
    with cluster_scope_active(member_scope), cluster.connection_active(connection):
        yield member


def configured_cluster_name() -> str:
    """The configured cluster's name: MESHUI_CLUSTER_NAME, else the name its last snapshot
    recorded (its kubeconfig context), else "default"."""
    if settings.MESHUI_CLUSTER_NAME:
        return settings.MESHUI_CLUSTER_NAME
    name = (
        Snapshot.objects.filter(cluster__isnull=True)
        .newest_first()
        .values_list("cluster_name", flat=True)
        .first()
    )
    return name or "default"


def configured_cluster_in_fleet(*, registered: bool | None = None) -> bool:
    """Whether the configured cluster is synced and shown: whenever one is configured
    (MESHUI_KUBECONFIG, a pod's service account, the demo), and as the default kubeconfig's
    cluster only while no cluster is registered (`registered`: whether one is, if known)."""
    if settings.MESHUI_KUBECONFIG or settings.MESHUI_DEMO_CLUSTER or cluster.in_cluster():
        return True
    if registered is None:
        registered = Cluster.objects.registered().exists()
    return not registered


def fleet_members(*, include_removed: bool = False) -> list[FleetMember]:
    """The fleet: the configured cluster (when in the fleet) first, then registered ones by
    name; with `include_removed`, removed ones too (their history stays)."""
    rows = Cluster.objects.all() if include_removed else Cluster.objects.registered()
    registered = [FleetMember(name=row.name, cluster=row) for row in rows.order_by("name")]
    members = []
    if configured_cluster_in_fleet(registered=any(not m.removed for m in registered)):
        members.append(FleetMember(name=configured_cluster_name()))
    return members + registered


def fleet_member_named(name: str) -> FleetMember | None:
    """The fleet's cluster called `name` (registered or configured), or None."""
    row = Cluster.objects.registered().filter(name=name).first()
    if row is not None:
        return FleetMember(name=row.name, cluster=row)
    if name == configured_cluster_name():
        return FleetMember(name=name)
    return None


def fleet_member_of(cluster_id: int | None) -> FleetMember:
    """The member a record names by its cluster id (None: the configured cluster), removed
    clusters included: what was promised in a cluster (a timed restore) is kept there."""
    if cluster_id is None:
        return FleetMember(name=configured_cluster_name())
    row = Cluster.objects.get(pk=cluster_id)
    return FleetMember(name=row.name, cluster=row)


def fleet_member_recorded(cluster_name: str) -> FleetMember:
    """The member an audit entry names ("" : the configured cluster), removed ones included."""
    if not cluster_name:
        return FleetMember(name=configured_cluster_name())
    row = Cluster.objects.get(name=cluster_name)
    return FleetMember(name=row.name, cluster=row)


def fleet_member_by_id(cluster_id: int | None) -> FleetMember | None:
    """The member a task names by id (None: the configured cluster); None once removed (or,
    for the configured cluster, when none is configured and the fleet is registered ones)."""
    if cluster_id is None:
        if not configured_cluster_in_fleet():
            return None
        return FleetMember(name=configured_cluster_name())
    row = Cluster.objects.registered().filter(pk=cluster_id).first()
    return None if row is None else FleetMember(name=row.name, cluster=row)


# Beat's fan-out runs this often; a cluster is due a little early rather than a whole
# fan-out period late.
FLEET_SCHEDULE_SECONDS = 15


def fleet_syncs_due(*, now: datetime | None = None) -> list[int]:
    """Registered clusters whose own interval has passed since their last sync began (or
    that never synced), in one query."""
    now = now or timezone.now()
    due = []
    rows = (
        Cluster.objects.registered()
        .annotate(last_started=Max("sync_runs__started_at"))
        .values_list("pk", "sync_interval", "last_started")
    )
    for cluster_id, interval, last_started in rows:
        seconds = (interval or settings.MESHUI_SYNC_INTERVAL) - FLEET_SCHEDULE_SECONDS / 2
        if last_started is None or now - last_started >= timedelta(seconds=seconds):
            due.append(cluster_id)
    return due
