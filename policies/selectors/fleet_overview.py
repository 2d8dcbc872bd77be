"""Reads across the fleet: each cluster's state, its current snapshot and freshness, the
cross-cluster findings, and one namespace side by side in every cluster.

Every read here costs the same number of queries whatever the number of clusters: the
clusters' newest runs and snapshots come from one annotated query, not one per cluster.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from policies.engine.fleet import ClusterPosture, fleet_findings
from policies.engine.model import Finding
from policies.models import (
    Cluster,
    FindingRecord,
    NamespaceRecord,
    ServiceRecord,
    Snapshot,
    SyncRun,
)
from policies.selectors.fleet import FleetMember
from policies.selectors.sync import SyncStatus, sync_status_of

_GOOD = (SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE)
_FINISHED = (*_GOOD, SyncRun.Status.FAILED)


@dataclass(frozen=True)
class FleetRow:
    """One cluster on the fleet overview."""

    member: FleetMember
    snapshot: Snapshot | None
    status: SyncStatus

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def where(self) -> str:
        connection = self.member.connection
        return "configured (MESHUI_KUBECONFIG)" if connection is None else connection.where

    @property
    def state(self) -> str:
        """connected, failing, not checked yet or not synced yet: the connection in a word."""
        last = self.status.last_run
        if last is not None:
            return "failing" if last.status == SyncRun.Status.FAILED else "connected"
        registered = self.member.cluster
        if registered is not None and registered.checked_at is not None:
            return "failing" if registered.check_error else "connected"
        return "not synced yet"

    @property
    def state_detail(self) -> str:
        last = self.status.last_run
        if last is not None and last.status == SyncRun.Status.FAILED:
            return last.error
        registered = self.member.cluster
        if last is None and registered is not None and registered.check_error:
            return registered.check_error
        if registered is not None and registered.check_version:
            return f"Kubernetes {registered.check_version}"
        return ""

    @property
    def strict_share(self) -> int | None:
        """Workloads STRICT enforced (issue 13's headline), in percent; the workload-wide
        STRICT share for a snapshot taken before enforcement was recorded."""
        if self.snapshot is None or not self.snapshot.workloads_total:
            return None
        strict = self.snapshot.workloads_strict_enforced
        if strict is None:
            strict = self.snapshot.workloads_strict
        return round(100 * strict / self.snapshot.workloads_total)

    @property
    def strict_share_enforced(self) -> bool:
        return self.snapshot is not None and self.snapshot.workloads_strict_enforced is not None

    @property
    def declared_share(self) -> int | None:
        """Workloads STRICT declared (every port STRICT by policy), in percent; None for a
        snapshot taken before it was recorded."""
        if self.snapshot is None or not self.snapshot.workloads_total:
            return None
        declared = self.snapshot.workloads_strict_declared
        return None if declared is None else round(100 * declared / self.snapshot.workloads_total)


@dataclass(frozen=True)
class FleetOverview:
    rows: list[FleetRow]
    findings: tuple[Finding, ...]

    @property
    def stale_rows(self) -> list[FleetRow]:
        return [row for row in self.rows if row.status.is_stale]


def _newest(runs, **filters):
    return Subquery(runs.filter(**filters).order_by("-started_at", "-id").values("id")[:1])


def _per_cluster_ids(members: list[FleetMember]) -> dict[int | None, dict[str, int | None]]:
    """{cluster id or None: {snapshot, last_run, last_good, running}} in two queries."""
    snapshots = Snapshot.objects.filter(cluster=OuterRef("pk")).order_by("-taken_at", "-id")
    runs = SyncRun.objects.filter(cluster=OuterRef("pk"))
    ids: dict[int | None, dict[str, int | None]] = {}
    registered = [m.cluster_id for m in members if m.cluster_id is not None]
    if registered:
        for row in (
            Cluster.objects.filter(pk__in=registered)
            .annotate(
                snapshot_id=Subquery(snapshots.values("id")[:1]),
                last_run_id=_newest(runs, status__in=_FINISHED),
                last_good_id=_newest(runs, status__in=_GOOD),
                running_id=_newest(runs, status=SyncRun.Status.RUNNING),
            )
            .values("pk", "snapshot_id", "last_run_id", "last_good_id", "running_id")
        ):
            ids[row["pk"]] = {
                "snapshot": row["snapshot_id"],
                "last_run": row["last_run_id"],
                "last_good": row["last_good_id"],
                "running": row["running_id"],
            }
    if any(m.cluster_id is None for m in members):
        # The configured cluster has no row to annotate: four small queries, whatever the
        # size of the fleet.
        configured_runs = SyncRun.objects.filter(cluster__isnull=True).order_by(
            "-started_at", "-id"
        )
        ids[None] = {
            "snapshot": Snapshot.objects.filter(cluster__isnull=True)
            .newest_first()
            .values_list("id", flat=True)
            .first(),
            "last_run": configured_runs.filter(status__in=_FINISHED)
            .values_list("id", flat=True)
            .first(),
            "last_good": configured_runs.filter(status__in=_GOOD)
            .values_list("id", flat=True)
            .first(),
            "running": configured_runs.filter(status=SyncRun.Status.RUNNING)
            .values_list("id", flat=True)
            .first(),
        }
    return ids


def fleet_overview(
    *, members: list[FleetMember], now: datetime | None = None, namespace: str | None = None
) -> FleetOverview:
    """Each cluster's current snapshot and freshness, and the cross-cluster findings (about
    `namespace` only, when given: the mesh-wide one and that namespace's)."""
    now = now or timezone.now()
    ids = _per_cluster_ids(members)
    run_ids = {
        run_id
        for entry in ids.values()
        for key in ("last_run", "last_good", "running")
        if (run_id := entry.get(key))
    }
    runs = SyncRun.objects.in_bulk(run_ids) if run_ids else {}
    snapshot_ids = [entry["snapshot"] for entry in ids.values() if entry.get("snapshot")]
    snapshots = Snapshot.objects.in_bulk(snapshot_ids) if snapshot_ids else {}
    rows = []
    for member in members:
        entry = ids.get(member.cluster_id, {})
        snapshot = snapshots.get(entry.get("snapshot"))
        rows.append(
            FleetRow(
                member=member,
                snapshot=snapshot,
                status=sync_status_of(
                    now=now,
                    snapshot=snapshot,
                    last_run=runs.get(entry.get("last_run")),
                    last_success=runs.get(entry.get("last_good")),
                    newest_running=runs.get(entry.get("running")),
                    interval_seconds=member.sync_interval,
                ),
            )
        )
    return FleetOverview(rows=rows, findings=fleet_findings(_postures(rows, namespace=namespace)))


def _postures(rows: list[FleetRow], *, namespace: str | None = None) -> list[ClusterPosture]:
    """What the cross-cluster findings compare, in four queries for the whole fleet.

    The database first names the candidates, namespaces and Services with more than one
    mode among the clusters' current snapshots; only their rows are read and handed to the
    engine, which decides. A namespace or Service with one mode everywhere can yield no
    finding, so leaving it out changes nothing but the time (10 clusters of 1,000
    namespaces: a few rows instead of 20,000). `namespace` limits it to one namespace.
    """
    by_snapshot = {row.snapshot.pk: row for row in rows if row.snapshot is not None}
    if len(by_snapshot) < 2:
        return []
    namespace_rows = NamespaceRecord.objects.filter(snapshot_id__in=by_snapshot)
    service_rows = ServiceRecord.objects.filter(snapshot_id__in=by_snapshot).exclude(
        workload_modes=[]
    )
    if namespace is not None:
        namespace_rows = namespace_rows.filter(name=namespace)
        service_rows = service_rows.filter(namespace=namespace)
    differing_services = list(
        service_rows.values("namespace", "name")
        .annotate(modes=Count("workload_modes", distinct=True))
        .filter(modes__gt=1)
        .values_list("namespace", "name")
    )
    candidates = set(
        namespace_rows.values("name")
        .annotate(modes=Count("mode", distinct=True))
        .filter(modes__gt=1)
        .values_list("name", flat=True)
    ) | {service_namespace for service_namespace, _name in differing_services}
    namespaces: dict[int, dict[str, str]] = defaultdict(dict)
    for snapshot_id, name, mode in namespace_rows.filter(name__in=candidates).values_list(
        "snapshot_id", "name", "mode"
    ):
        namespaces[snapshot_id][name] = mode
    services: dict[int, dict[tuple[str, str], tuple[str, ...]]] = defaultdict(dict)
    if differing_services:
        wanted = Q()
        for service_namespace, name in differing_services:
            wanted |= Q(namespace=service_namespace, name=name)
        for snapshot_id, service_namespace, name, modes in service_rows.filter(wanted).values_list(
            "snapshot_id", "namespace", "name", "workload_modes"
        ):
            services[snapshot_id][(service_namespace, name)] = tuple(modes)
    return [
        ClusterPosture(
            cluster=row.name,
            root_namespace=row.snapshot.root_namespace,
            mesh_mode=row.snapshot.mesh_mode,
            mesh_policy=row.snapshot.mesh_policy,
            namespaces=namespaces[snapshot_id],
            services=services[snapshot_id],
        )
        for snapshot_id, row in by_snapshot.items()
    ]


@dataclass(frozen=True)
class NamespaceInCluster:
    """One namespace as one cluster's current snapshot has it (record None: not there)."""

    row: FleetRow
    record: NamespaceRecord | None


def namespace_across_clusters(
    *, name: str, overview: FleetOverview
) -> tuple[list[NamespaceInCluster], list[Finding]]:
    """`name` in every cluster side by side (one query), and the fleet findings about it."""
    by_snapshot = {row.snapshot.pk: row for row in overview.rows if row.snapshot is not None}
    records = {
        record.snapshot_id: record
        for record in NamespaceRecord.objects.filter(snapshot_id__in=by_snapshot, name=name)
    }
    side_by_side = [
        NamespaceInCluster(
            row=row,
            record=records.get(row.snapshot.pk) if row.snapshot is not None else None,
        )
        for row in overview.rows
    ]
    findings = [finding for finding in overview.findings if finding.namespace == name]
    return side_by_side, findings


@dataclass(frozen=True)
class FleetNamespaceRow:
    """One namespace name and its effective mode in each cluster (None: not there)."""

    name: str
    modes: list[str | None]
    differs: bool

    @property
    def clusters_present(self) -> int:
        return sum(1 for mode in self.modes if mode is not None)


def fleet_namespace_rows(
    *, overview: FleetOverview, search: str = "", differing_only: bool = False
) -> list[FleetNamespaceRow]:
    """Every namespace name of the fleet with its mode in each cluster, in the overview's
    cluster order, sorted by name: one query whatever the number of clusters."""
    columns = {row.snapshot.pk: index for index, row in enumerate(overview.rows) if row.snapshot}
    records = NamespaceRecord.objects.filter(snapshot_id__in=columns)
    if search:
        records = records.filter(name__icontains=search)
    by_name: dict[str, list[str | None]] = {}
    for snapshot_id, name, mode in records.values_list("snapshot_id", "name", "mode"):
        by_name.setdefault(name, [None] * len(overview.rows))[columns[snapshot_id]] = mode
    differing = {finding.namespace for finding in overview.findings if finding.kind == "Namespace"}
    rows = [
        FleetNamespaceRow(name=name, modes=modes, differs=name in differing)
        for name, modes in sorted(by_name.items())
    ]
    return [row for row in rows if row.differs] if differing_only else rows


def fleet_finding_records(*, overview: FleetOverview):
    """Every cluster's findings in its current snapshot, worst first, with `cluster` (the
    cluster's name) on each row: one query, to page through."""
    snapshot_ids = [row.snapshot.pk for row in overview.rows if row.snapshot is not None]
    return (
        FindingRecord.objects.filter(snapshot_id__in=snapshot_ids)
        .annotate(cluster=F("snapshot__cluster_name"))
        .order_by("-severity_rank", "namespace", "name", "code", "cluster")
    )


# The Snapshot counters a fleet report adds up across clusters.
FLEET_TOTALS = (
    "namespaces_total",
    "namespaces_strict",
    "namespaces_permissive",
    "namespaces_disable",
    "workloads_total",
    "workloads_strict",
    "workloads_permissive",
    "workloads_disable",
    "findings_error",
    "findings_warning",
    "findings_info",
)


@dataclass(frozen=True)
class FleetReport:
    """The whole fleet's report: each cluster's summary, the fleet's totals (clusters with a
    snapshot), and the findings across clusters."""

    overview: FleetOverview
    totals: dict[str, int | None]

    @property
    def rows(self) -> list[FleetRow]:
        return self.overview.rows

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.overview.findings

    @property
    def clusters_reported(self) -> int:
        return sum(1 for row in self.rows if row.snapshot is not None)

    @property
    def strict_share(self) -> int | None:
        """Workloads STRICT enforced across the fleet (the headline, as in each cluster's row),
        in percent; a cluster whose snapshot predates enforcement counts its STRICT by mode."""
        total = self.totals["workloads_total"]
        return round(100 * self.totals["workloads_strict_enforced"] / total) if total else None

    @property
    def strict_share_enforced(self) -> bool:
        """Every reported cluster recorded enforcement (else the headline mixes in modes)."""
        return all(row.strict_share_enforced for row in self.rows if row.snapshot is not None)

    @property
    def declared_share(self) -> int | None:
        """Workloads STRICT declared across the fleet, in percent; None unless every reported
        cluster recorded it."""
        total = self.totals["workloads_total"]
        declared = self.totals["workloads_strict_declared"]
        return round(100 * declared / total) if total and declared is not None else None

    @property
    def fleet_errors(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == "error")

    @property
    def fleet_warnings(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == "warning")


def fleet_report(*, overview: FleetOverview) -> FleetReport:
    """Add up the clusters' current snapshots (no query beyond the overview's)."""
    totals = dict.fromkeys(FLEET_TOTALS, 0)
    enforced, declared = 0, 0
    for row in overview.rows:
        snapshot = row.snapshot
        if snapshot is None:
            continue
        for name in FLEET_TOTALS:
            totals[name] += getattr(snapshot, name)
        # As FleetRow.strict_share: STRICT by mode where enforcement was not recorded yet.
        enforced += (
            snapshot.workloads_strict
            if snapshot.workloads_strict_enforced is None
            else snapshot.workloads_strict_enforced
        )
        if declared is not None and snapshot.workloads_strict_declared is not None:
            declared += snapshot.workloads_strict_declared
        else:
            declared = None
    totals["workloads_strict_enforced"] = enforced
    totals["workloads_strict_declared"] = declared
    return FleetReport(overview=overview, totals=totals)
