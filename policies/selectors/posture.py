"""Reads for the browser pages: the current snapshot, filtered, sorted and paged.

Pages read snapshots, never the cluster. Every query here filters on the snapshot id
first (the tables' indexes lead with it), and each page costs a fixed number of
queries whatever the size of the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.paginator import Page
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone

from policies.engine import selector_matches
from policies.engine.meaning import namespace_enforcement_words
from policies.models import (
    Exemption,
    FindingRecord,
    FindingWorkload,
    NamespaceRecord,
    PolicyRecord,
    ServiceRecord,
    Snapshot,
    SyncRun,
    WorkloadRecord,
)
from policies.selectors.paging import page_clamped
from policies.selectors.reports import Coverage, coverage_of, exemptions_at
from policies.selectors.restores import TimedState, timed_states

# The snapshot pages show: the newest one (a failed sync never replaces it), and how fresh
# it is. One definition for pages, changes, metrics and sync.
from policies.selectors.sync import SyncStatus, snapshot_current, sync_status
from policies.selectors.traffic import (
    TrafficStatus,
    readiness_on_page,
    ready_permissive_count,
    traffic_status,
    with_readiness,
)

TOP_FINDINGS = 5
NAMESPACE_FINDINGS_SHOWN = 100


# --- Overview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    snapshot: Snapshot | None
    sync: SyncStatus
    top_findings: list[FindingRecord] = field(default_factory=list)
    progress: SyncProgress | None = None  # a sync running now, followed until it is done
    # STRICT shares scored as the report scores them: exempt rows below STRICT left out.
    coverage: Coverage | None = None
    # Namespaces in a timed mode, the soonest restore first.
    timed: list[TimedState] = field(default_factory=list)
    # Issue 14: PERMISSIVE namespaces whose traffic says they are ready for STRICT.
    traffic: TrafficStatus | None = None
    ready_permissive: int = 0


def overview_read(*, now: datetime | None = None) -> Overview:
    """The overview: aggregates live on the snapshot row, so this is a handful of small reads."""
    snapshot = snapshot_current()
    top_findings: list[FindingRecord] = []
    coverage = None
    if snapshot is not None:
        top_findings = list(
            FindingRecord.objects.filter(snapshot=snapshot).order_by(
                "-severity_rank", "code", "namespace", "name"
            )[:TOP_FINDINGS]
        )
        in_force = exemptions_at(at=now or timezone.now(), in_force_only=True)
        coverage = coverage_of(snapshot, in_force)
    sync = sync_status(snapshot=snapshot)
    progress = None
    if sync.running is not None:
        progress = SyncProgress(after=sync.running.id - 1, run=sync.running)
    traffic = traffic_status(now=now)
    ready_permissive = (
        ready_permissive_count(NamespaceRecord.objects.filter(snapshot=snapshot), traffic)
        if snapshot is not None and traffic.available
        else 0
    )
    return Overview(
        snapshot=snapshot,
        sync=sync,
        top_findings=top_findings,
        progress=progress,
        coverage=coverage,
        timed=sorted(timed_states(now=now).values(), key=lambda state: state.until),
        traffic=traffic,
        ready_permissive=ready_permissive,
    )


# --- Namespaces ----------------------------------------------------------------------------

# Sort keys offered in the URL (`?sort=findings`, `?sort=-findings`) and their columns;
# every ordering ends with the name so pages are stable.
NAMESPACE_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "mode": ("mode", "name"),
    "source": ("source", "name"),
    "workloads": ("workloads_total", "name"),
    "strict": ("workloads_strict", "name"),
    "permissive": ("workloads_permissive", "name"),
    "disable": ("workloads_disable", "name"),
    "exceptions": ("workloads_with_port_exceptions", "name"),
    "sidecars": ("sidecar_share", "name"),
    "enforced": ("enforced_share", "name"),
    "findings": ("findings_count", "name"),
    # Issue 14: readiness for STRICT from traffic, and the plaintext share behind it.
    "readiness": ("readiness_rank", "name"),
    "plaintext": ("plaintext_share", "name"),
}


@dataclass(frozen=True)
class NamespaceList:
    snapshot: Snapshot | None
    sync: SyncStatus
    page: Page | None
    traffic: TrafficStatus | None = None


def with_exemptions(page: Page, exemption_of) -> Page:
    """The page's rows, each with `.exemption`: the one in force for it, or None.

    Pages badge exempt rows as the report does; the exemptions come from one query, so a
    page costs the same whatever its size.
    """
    page.object_list = list(page.object_list)
    for row in page.object_list:
        row.exemption = exemption_of(row)
    return page


def _matching(rows: QuerySet, **filters) -> QuerySet:
    """`rows` narrowed by every filter that has a value (an empty filter means "any")."""
    return rows.filter(**{lookup: value for lookup, value in filters.items() if value})


def sort_ordering(columns: tuple[str, ...], descending: bool) -> list:
    if not descending:
        return list(columns)
    # Descending on the key column, the tie-break columns ascending (a workload's name
    # alone ties across namespaces).
    return [f"-{columns[0]}", *columns[1:]]


def namespace_list_read(
    *,
    search: str = "",
    mode: str = "",
    source: str = "",
    readiness: str = "",
    sort: str = "name",
    page_number: int = 1,
    per_page: int = 50,
) -> NamespaceList:
    """One page of the current snapshot's namespaces, filtered and sorted."""
    snapshot = snapshot_current()
    sync = sync_status(snapshot=snapshot)
    traffic = traffic_status()
    if snapshot is None:
        return NamespaceList(snapshot=None, sync=sync, page=None, traffic=traffic)
    rows = _matching(
        NamespaceRecord.objects.filter(snapshot=snapshot).defer("reason"),
        name__icontains=search,
        mode=mode,
        source=source,
    )
    key = sort.removeprefix("-")
    # Readiness is annotated only to sort or filter by it; else the page's rows get it below.
    by_readiness = bool(readiness) or key in ("readiness", "plaintext")
    if by_readiness:
        rows = _matching(with_readiness(rows, traffic), readiness=readiness)
    if key == "sidecars":
        rows = rows.annotate(
            sidecar_share=Case(
                When(workloads_total=0, then=Value(-1.0)),
                default=Cast(F("workloads_with_sidecar"), FloatField())
                / Cast(F("workloads_total"), FloatField()),
                output_field=FloatField(),
            )
        )
    if key == "enforced":
        # Namespaces without workloads, or from before coverage was recorded, sort first.
        rows = rows.annotate(
            enforced_share=Case(
                When(workloads_total=0, then=Value(-1.0)),
                When(workloads_strict_enforced__isnull=True, then=Value(-1.0)),
                default=Cast(F("workloads_strict_enforced"), FloatField())
                / Cast(F("workloads_total"), FloatField()),
                output_field=FloatField(),
            )
        )
    rows = rows.order_by(*sort_ordering(NAMESPACE_SORTS[key], sort.startswith("-")))
    rows = _with_policy_owner(rows)
    page = page_clamped(rows, per_page, page_number)
    page.object_list = list(page.object_list)
    if traffic.enabled and not by_readiness:
        readiness_on_page(page.object_list, traffic)
    names = [row.name for row in page.object_list]
    exemptions = exemptions_at(at=timezone.now(), namespaces=names, in_force_only=True)
    with_exemptions(page, lambda row: exemptions.for_namespace(row.name))
    # Each row's timed mode, if any ("STRICT until 14:30, then PERMISSIVE"): one query.
    timed = timed_states(namespaces=names)
    for row in page.object_list:
        row.timed = timed.get(row.name)
    return NamespaceList(snapshot=snapshot, sync=sync, page=page, traffic=traffic)


def _namespace_policies(snapshot_ref, namespace_ref) -> QuerySet:
    """A namespace's selector-less PeerAuthentications, the one Istio uses first (the one the
    toggle changes): effective, then oldest, then by name."""
    return PolicyRecord.objects.filter(
        snapshot=snapshot_ref,
        kind=PolicyRecord.Kind.PEER_AUTHENTICATION,
        namespace=namespace_ref,
        scope__in=("namespace", "mesh"),
    ).order_by(
        Case(When(status="effective", then=Value(0)), default=Value(1)), "created_at", "name"
    )


def _with_policy_owner(rows: QuerySet) -> QuerySet:
    """Each namespace row with `policy_owner_kind` and `policy_owner_manager`: who manages its
    namespace-wide policy's mode, read in the same query (one subquery per column)."""
    policy = _namespace_policies(OuterRef("snapshot"), OuterRef("name"))
    return rows.annotate(
        policy_owner_kind=Subquery(policy.values("owner_kind")[:1]),
        policy_owner_manager=Subquery(policy.values("owner_manager")[:1]),
    )


@dataclass(frozen=True)
class NamespaceDetail:
    snapshot: Snapshot
    sync: SyncStatus
    namespace: NamespaceRecord
    workloads: Page  # each row with `.exemption`
    peer_authentications: list[PolicyRecord]
    destination_rules: list[PolicyRecord]
    findings: list[FindingRecord]
    exemption: Exemption | None  # the namespace's own, in force now
    namespace_policy: PolicyRecord | None  # its namespace-wide policy, the toggle's target
    timed: TimedState | None = None  # a timed mode meshui restores later
    enforcement: str = ""  # who enforces its mode: its workloads' sidecars, ztunnel, nobody


def namespace_detail_read(*, name: str, workload_page: int = 1, per_page: int = 100):
    """A namespace of the current snapshot with its workloads, policies and findings.

    Returns None when there is no snapshot or the namespace is not in it.
    """
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    namespace = NamespaceRecord.objects.filter(snapshot=snapshot, name=name).first()
    if namespace is None:
        return None
    workloads = WorkloadRecord.objects.filter(snapshot=snapshot, namespace=name).order_by(
        "name", "kind"
    )
    policies = list(
        PolicyRecord.objects.filter(snapshot=snapshot, namespace=name).order_by("kind", "name")
    )
    findings = list(
        FindingRecord.objects.filter(snapshot=snapshot, namespace=name).order_by(
            "-severity_rank", "name", "code"
        )[:NAMESPACE_FINDINGS_SHOWN]
    )
    exemptions = exemptions_at(at=timezone.now(), namespaces=[name], in_force_only=True)
    workload_rows = page_clamped(workloads, per_page, workload_page)
    with_exemptions(workload_rows, lambda row: exemptions.for_workload(row.namespace, row.name))
    return NamespaceDetail(
        snapshot=snapshot,
        sync=sync_status(snapshot=snapshot),
        namespace=namespace,
        workloads=workload_rows,
        peer_authentications=[
            p for p in policies if p.kind == PolicyRecord.Kind.PEER_AUTHENTICATION
        ],
        destination_rules=[p for p in policies if p.kind == PolicyRecord.Kind.DESTINATION_RULE],
        findings=findings,
        exemption=exemptions.for_namespace(name),
        namespace_policy=_namespace_policy(policies),
        timed=timed_states(namespaces=[name]).get(name),
        enforcement=_namespace_enforcement(workloads),
    )


def _namespace_enforcement(workloads) -> str:
    """Who enforces a namespace's mode, counted over its workloads in one query."""
    counts = workloads.aggregate(
        total=Count("id"),
        sidecar=Count("id", filter=Q(has_sidecar=True)),
        ztunnel=Count("id", filter=Q(has_sidecar=False, ambient=True)),
    )
    return namespace_enforcement_words(**counts)


def _namespace_policy(policies: list[PolicyRecord]) -> PolicyRecord | None:
    """Among a namespace's policies (already read), the one `_namespace_policies` puts first."""
    wide = [
        p
        for p in policies
        if p.kind == PolicyRecord.Kind.PEER_AUTHENTICATION and p.scope in ("namespace", "mesh")
    ]
    wide.sort(key=lambda p: (p.status != "effective", p.created_at is None, p.created_at, p.name))
    return wide[0] if wide else None


# --- Workloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PortRow:
    port: str
    mode: str
    declared: str  # the mode the winning policy names for this port ("" when it names none)
    reason: dict


@dataclass(frozen=True)
class WorkloadDetail:
    snapshot: Snapshot
    sync: SyncStatus
    workload: WorkloadRecord
    namespace: NamespaceRecord | None
    ports: list[PortRow]
    deciding_policy: PolicyRecord | None
    services: list[ServiceRecord]
    findings: list[FindingRecord]
    exemption: Exemption | None  # the workload's own or its namespace's, in force now

    @property
    def findings_elsewhere(self) -> bool:
        """Whether a finding shown is about an object in another namespace."""
        return any(finding.namespace != self.workload.namespace for finding in self.findings)


def _port_rows(workload: WorkloadRecord) -> list[PortRow]:
    """Every port worth showing (the ones the winning policy names and the container ports)."""
    port_reasons = (workload.reason or {}).get("ports") or {}
    named = {str(port): mode for port, mode in (workload.ports or {}).items()}
    rows = []
    for port in named:
        reason = port_reasons.get(port) or {}
        # The port step of the chain holds what the policy declares (UNSET included).
        port_step = next(
            (step for step in reason.get("chain") or [] if step.get("level") == "port"), {}
        )
        rows.append(
            PortRow(
                port=port,
                mode=reason.get("mode") or named[port],
                declared=port_step.get("mode") or named[port],
                reason=reason,
            )
        )
    for port in {str(p) for p in workload.container_ports or []} - set(named):
        rows.append(PortRow(port=port, mode=workload.mode, declared="", reason={}))
    # By number; anything that is not a number (never expected) sorts after every real port.
    return sorted(rows, key=lambda row: (int(row.port) if row.port.isdigit() else 65536, row.port))


def workload_findings(*, snapshot: Snapshot, workload: WorkloadRecord) -> list[FindingRecord]:
    """The findings about a workload and those that break it from elsewhere (a
    DestinationRule in another namespace, say), worst first."""
    about = Q(namespace=workload.namespace, name=workload.name)
    for code, namespace, name, kind in FindingWorkload.objects.filter(
        snapshot=snapshot, namespace=workload.namespace, name=workload.name, kind=workload.kind
    ).values_list("finding_code", "finding_namespace", "finding_name", "finding_kind"):
        about |= Q(code=code, namespace=namespace, name=name, kind=kind)
    return list(
        FindingRecord.objects.filter(about, snapshot=snapshot).order_by(
            "-severity_rank", "code", "namespace", "name"
        )
    )


def workload_detail_read(*, namespace: str, kind: str, name: str) -> WorkloadDetail | None:
    """One workload of the current snapshot, per port, with what decides its mode."""
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    workload = WorkloadRecord.objects.filter(
        snapshot=snapshot, namespace=namespace, kind=kind, name=name
    ).first()
    if workload is None:
        return None
    namespace_row = (
        NamespaceRecord.objects.filter(snapshot=snapshot, name=namespace).defer("reason").first()
    )
    deciding_policy = None
    if workload.policy and "/" in workload.policy:
        policy_namespace, policy_name = workload.policy.split("/", 1)
        deciding_policy = PolicyRecord.objects.filter(
            snapshot=snapshot,
            kind=PolicyRecord.Kind.PEER_AUTHENTICATION,
            namespace=policy_namespace,
            name=policy_name,
        ).first()
    services = [
        service
        for service in ServiceRecord.objects.filter(snapshot=snapshot, namespace=namespace)
        # A Service without a selector selects no pods (its endpoints are managed elsewhere).
        if service.selector and selector_matches(service.selector, workload.labels or {})
    ]
    return WorkloadDetail(
        snapshot=snapshot,
        sync=sync_status(snapshot=snapshot),
        workload=workload,
        namespace=namespace_row,
        ports=_port_rows(workload),
        deciding_policy=deciding_policy,
        services=services,
        findings=workload_findings(snapshot=snapshot, workload=workload),
        exemption=exemptions_at(
            at=timezone.now(), namespaces=[namespace], in_force_only=True
        ).for_workload(namespace, name),
    )


# --- Policies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyList:
    """PeerAuthentications and DestinationRules, each paged on its own (None: not asked for)."""

    snapshot: Snapshot | None
    sync: SyncStatus
    peer_authentications: Page | None
    destination_rules: Page | None


def policy_list_read(
    *,
    kind: str = "",
    namespace: str = "",
    search: str = "",
    mode: str = "",
    scope: str = "",
    status: str = "",
    tls_mode: str = "",
    pa_page: int = 1,
    dr_page: int = 1,
    per_page: int = 50,
) -> PolicyList:
    """PeerAuthentications (filtered by mode, scope, status) and DestinationRules (by TLS
    mode) across namespaces; `kind` limits the page to one of them."""
    snapshot = snapshot_current()
    sync = sync_status(snapshot=snapshot)
    if snapshot is None:
        return PolicyList(
            snapshot=None, sync=sync, peer_authentications=None, destination_rules=None
        )
    shared = {"namespace": namespace, "name__icontains": search}
    peer_authentications = destination_rules = None
    if kind in ("", PolicyRecord.Kind.PEER_AUTHENTICATION):
        rows = _matching(
            PolicyRecord.objects.filter(
                snapshot=snapshot, kind=PolicyRecord.Kind.PEER_AUTHENTICATION
            ),
            mode=mode,
            scope=scope,
            status=status,
            **shared,
        ).order_by("namespace", "name")
        peer_authentications = page_clamped(rows, per_page, pa_page)
    if kind in ("", PolicyRecord.Kind.DESTINATION_RULE):
        rows = _matching(
            PolicyRecord.objects.filter(snapshot=snapshot, kind=PolicyRecord.Kind.DESTINATION_RULE),
            mode=tls_mode,
            **shared,
        ).order_by("namespace", "name")
        destination_rules = page_clamped(rows, per_page, dr_page)
    return PolicyList(
        snapshot=snapshot,
        sync=sync,
        peer_authentications=peer_authentications,
        destination_rules=destination_rules,
    )


def policy_read(*, kind: str, namespace: str, name: str) -> PolicyRecord | None:
    """One policy of the current snapshot (for its YAML view)."""
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    return PolicyRecord.objects.filter(
        snapshot=snapshot, kind=kind, namespace=namespace, name=name
    ).first()


# --- Findings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingList:
    snapshot: Snapshot | None
    sync: SyncStatus
    page: Page | None
    codes: list[dict]  # [{"code": ..., "count": ...}] in this snapshot, for the filter


def finding_list_read(
    *,
    code: str = "",
    severity: str = "",
    namespace: str = "",
    page_number: int = 1,
    per_page: int = 50,
) -> FindingList:
    """One page of the current snapshot's findings, worst first."""
    snapshot = snapshot_current()
    sync = sync_status(snapshot=snapshot)
    if snapshot is None:
        return FindingList(snapshot=None, sync=sync, page=None, codes=[])
    codes = list(
        FindingRecord.objects.filter(snapshot=snapshot)
        .values("code")
        .annotate(count=Count("id"))
        .order_by("code")
    )
    rows = _matching(
        FindingRecord.objects.filter(snapshot=snapshot),
        code=code,
        severity=severity,
        namespace=namespace,
    ).order_by("-severity_rank", "namespace", "name", "code", "id")
    return FindingList(
        snapshot=snapshot,
        sync=sync,
        page=page_clamped(rows, per_page, page_number),
        codes=codes,
    )


# --- Sync progress -------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncProgress:
    """The sync a user asked for: queued (no run newer than `after` yet), running, or done."""

    after: int
    run: SyncRun | None

    @property
    def state(self) -> str:
        if self.run is None:
            return "queued"
        return "running" if self.run.status == SyncRun.Status.RUNNING else "done"


def sync_progress_read(*, after: int) -> SyncProgress:
    """The newest sync run of the cluster in scope started after run id `after` (0: any)."""
    run = SyncRun.objects.in_scope().filter(id__gt=after).order_by("-id").first()
    return SyncProgress(after=after, run=run)


def sync_run_latest_id() -> int:
    return SyncRun.objects.in_scope().order_by("-id").values_list("id", flat=True).first() or 0
