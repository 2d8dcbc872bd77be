"""Reads for auditors: the report at a date, comparisons, trends and exemptions in force.

Every function takes the moment it reports on (`at`) explicitly, so a report on a past date
uses the snapshot and the exemptions that were in force then, never today's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)

from policies.engine import SEVERITY_RANK, Mode, Severity
from policies.models import (
    AuditEntry,
    Exemption,
    NamespaceRecord,
    Snapshot,
    WorkloadRecord,
)
from policies.selectors.restores import TimedState

EXEMPTION_EXPIRED = "EXEMPTION_EXPIRED"

NON_STRICT = (Mode.PERMISSIVE, Mode.DISABLE)


# --- Snapshots ------------------------------------------------------------------------------


def snapshot_at(*, at: datetime) -> Snapshot | None:
    """The snapshot in force at `at`: the newest one taken at or before it."""
    return Snapshot.objects.filter(taken_at__lte=at).current()


def snapshot_oldest() -> Snapshot | None:
    return Snapshot.objects.in_scope().order_by("taken_at", "id").first()


# --- Exemptions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiredExemption:
    """An exemption that ran out and was neither revoked nor renewed: a finding."""

    exemption: Exemption

    code = EXEMPTION_EXPIRED
    severity = Severity.WARNING.value

    @property
    def namespace(self) -> str:
        return self.exemption.namespace

    @property
    def name(self) -> str:
        return self.exemption.workload or self.exemption.namespace

    @property
    def kind(self) -> str:
        return "Workload" if self.exemption.workload else "Namespace"

    @property
    def message(self) -> str:
        exemption = self.exemption
        target = (
            f"workload {exemption.namespace}/{exemption.workload}"
            if exemption.workload
            else f"namespace {exemption.namespace}"
        )
        return (
            f"The exemption for {target} (owner {exemption.owner}) expired on "
            f"{exemption.expires_at:%Y-%m-%d %H:%M} UTC: renew it or bring it to STRICT."
        )

    def as_finding(self) -> FindingRow:
        """The finding, shaped like the engine's (sync stores it, reports list it)."""
        return FindingRow(
            self.code, self.severity, self.namespace, self.name, self.kind, self.message
        )


@dataclass
class ExemptionsAt:
    """Exemptions as they stood at one moment, looked up by (namespace, workload)."""

    in_force: dict[tuple[str, str], Exemption] = field(default_factory=dict)
    expired: list[ExpiredExemption] = field(default_factory=list)

    def for_namespace(self, namespace: str) -> Exemption | None:
        return self.in_force.get((namespace, ""))

    def for_workload(self, namespace: str, workload: str) -> Exemption | None:
        """A workload is covered by its own exemption or by its namespace's."""
        return self.in_force.get((namespace, workload)) or self.in_force.get((namespace, ""))


def exemptions_at(
    *, at: datetime, namespaces: Iterable[str] | None = None, in_force_only: bool = False
) -> ExemptionsAt:
    """Exemptions in force at `at`, and the expired ones nobody revoked or renewed by then.

    Pages narrow the read to the `namespaces` they show, and skip expired ones they do not
    list (`in_force_only`), so a page costs the same however many exemptions were recorded.
    """
    recorded = Exemption.objects.filter(created_at__lte=at).filter(
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=at)
    )
    if namespaces is not None:
        recorded = recorded.filter(namespace__in=list(namespaces))
    if in_force_only:
        recorded = recorded.filter(expires_at__gt=at)
    state = ExemptionsAt()
    newest_expired: dict[tuple[str, str], Exemption] = {}
    for exemption in recorded.order_by("created_at", "id"):
        target = (exemption.namespace, exemption.workload)
        if exemption.expires_at > at:
            current = state.in_force.get(target)
            if current is None or exemption.expires_at > current.expires_at:
                state.in_force[target] = exemption
        else:
            newest_expired[target] = exemption
    state.expired = [
        ExpiredExemption(exemption)
        for target, exemption in sorted(newest_expired.items())
        if target not in state.in_force
    ]
    return state


EXEMPTION_STATES = ("valid", "expired", "renewed", "revoked")  # the list's order
EXEMPTIONS_PER_PAGE = 50


@dataclass(frozen=True)
class ExemptionListing:
    """One page of the exemption list, (exemption, state) each, and the count of each state
    among the exemptions the namespace filter keeps."""

    rows: list[tuple[Exemption, str]]
    page: Page
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def exemption_states(*, now: datetime) -> QuerySet:
    """Exemptions annotated with their state now (`state`) and its place in the list
    (`state_rank`): valid, expired, renewed, revoked, as `exemption_state` judges them."""
    stopped = Q(revoked_at__isnull=False, revoked_at__lte=now)
    renewed = Exists(Exemption.objects.filter(renewed_from=OuterRef("pk")))
    state = Case(
        When(stopped & Q(renewed), then=Value("renewed")),
        When(stopped, then=Value("revoked")),
        When(expires_at__gt=now, then=Value("valid")),
        default=Value("expired"),
        output_field=CharField(),
    )
    rank = Case(
        *(When(state_name=name, then=Value(index)) for index, name in enumerate(EXEMPTION_STATES)),
        output_field=IntegerField(),
    )
    return Exemption.objects.annotate(state_name=state).annotate(state_rank=rank)


def exemption_list_read(
    *, now: datetime, state: str = "", namespace: str = "", page: int = 1
) -> ExemptionListing:
    """One page of the exemptions with their state now, valid first, then by target; filtered
    by state and by namespace (name contains). Three queries whatever the number recorded."""
    rows = exemption_states(now=now)
    if namespace:
        rows = rows.filter(namespace__icontains=namespace)
    counts = dict.fromkeys(EXEMPTION_STATES, 0)
    counts.update(rows.order_by().values_list("state_name").annotate(count=Count("id")))
    if state:
        rows = rows.filter(state_name=state)
    ordered = rows.order_by("state_rank", "namespace", "workload", "-created_at", "-id")
    total = counts[state] if state else sum(counts.values())
    paginator = Paginator(ordered, EXEMPTIONS_PER_PAGE)
    paginator.count = total  # counted above, with the states
    current = paginator.get_page(page)
    return ExemptionListing(
        rows=[(exemption, exemption.state_name) for exemption in current.object_list],
        page=current,
        counts=counts,
    )


def exemption_get(*, exemption_id: int) -> Exemption | None:
    return Exemption.objects.select_related("renewal").filter(pk=exemption_id).first()


def exemption_state(exemption: Exemption, *, now: datetime) -> str:
    if exemption.revoked_at is not None and exemption.revoked_at <= now:
        renewed = getattr(exemption, "renewal", None) is not None
        return "renewed" if renewed else "revoked"
    return "valid" if exemption.expires_at > now else "expired"


# --- Reason chains --------------------------------------------------------------------------


def reason_chain_text(reason: dict) -> str:
    """A reason chain on one line: `mesh PERMISSIVE (ns/name, overridden) > namespace ...`."""
    steps = []
    for step in reason.get("chain") or []:
        winner = step.get("winner") or {}
        policy = f"{winner['namespace']}/{winner['name']}" if winner.get("name") else "no policy"
        mode = step.get("mode") or "-"
        steps.append(f"{step.get('level', '?')} {mode} ({policy}, {step.get('outcome', '?')})")
    return " > ".join(steps)


# --- The posture report ---------------------------------------------------------------------


def share(part: int | None, whole: int) -> float | None:
    """part/whole, or None when there is nothing to measure (no namespaces is not 0 % STRICT)
    or the part was not recorded (None: a figure older snapshots lack)."""
    return part / whole if whole and part is not None else None


@dataclass(frozen=True)
class Coverage:
    """STRICT coverage with exempt rows taken out of the score while their exemption holds.

    Only exempt rows *below* STRICT leave the score: an exempt row that is STRICT anyway
    still counts as STRICT, so an exemption can never lower the figure. The workload figure
    comes three ways (policies/engine/coverage.py): *STRICT enforced* (the headline: every
    port STRICT and a sidecar or ztunnel enforcing it), *STRICT declared* (every port STRICT
    by policy) and the workload-wide mode alone (`workloads_strict`, kept for old readers).
    Each figure leaves out the exempt rows it does not count. The declared and enforced
    figures are None for snapshots taken before they were recorded.
    """

    namespaces_total: int
    namespaces_strict: int
    namespaces_exempt: int
    workloads_total: int
    workloads_strict: int
    workloads_exempt: int
    workloads_with_sidecar: int
    workloads_strict_declared: int | None = None
    workloads_declared_exempt: int = 0
    workloads_strict_enforced: int | None = None
    workloads_enforced_exempt: int = 0

    @property
    def namespaces_scored(self) -> int:
        return self.namespaces_total - self.namespaces_exempt

    @property
    def workloads_scored(self) -> int:
        return self.workloads_total - self.workloads_exempt

    @property
    def workloads_declared_scored(self) -> int:
        return self.workloads_total - self.workloads_declared_exempt

    @property
    def workloads_enforced_scored(self) -> int:
        return self.workloads_total - self.workloads_enforced_exempt

    @property
    def measured(self) -> bool:
        """Whether the snapshot recorded the declared and enforced figures."""
        return self.workloads_strict_enforced is not None

    @property
    def namespaces_strict_share(self) -> float | None:
        return share(self.namespaces_strict, self.namespaces_scored)

    @property
    def workloads_strict_share(self) -> float | None:
        return share(self.workloads_strict, self.workloads_scored)

    @property
    def workloads_declared_share(self) -> float | None:
        return share(self.workloads_strict_declared, self.workloads_declared_scored)

    @property
    def workloads_enforced_share(self) -> float | None:
        return share(self.workloads_strict_enforced, self.workloads_enforced_scored)

    @property
    def workloads_declared_not_enforced(self) -> int | None:
        """STRICT on paper, with nothing enforcing it."""
        if self.workloads_strict_enforced is None or self.workloads_strict_declared is None:
            return None
        return self.workloads_strict_declared - self.workloads_strict_enforced

    @property
    def workloads_sidecar_share(self) -> float | None:
        return share(self.workloads_with_sidecar, self.workloads_total)

    def as_dict(self) -> dict:
        return {
            "namespaces_total": self.namespaces_total,
            "namespaces_strict": self.namespaces_strict,
            "namespaces_exempt": self.namespaces_exempt,
            "namespaces_strict_share": self.namespaces_strict_share,
            "workloads_total": self.workloads_total,
            "workloads_strict": self.workloads_strict,
            "workloads_exempt": self.workloads_exempt,
            "workloads_strict_share": self.workloads_strict_share,
            "workloads_with_sidecar": self.workloads_with_sidecar,
            "workloads_sidecar_share": self.workloads_sidecar_share,
            "workloads_strict_declared": self.workloads_strict_declared,
            "workloads_declared_exempt": self.workloads_declared_exempt,
            "workloads_strict_declared_share": self.workloads_declared_share,
            "workloads_strict_enforced": self.workloads_strict_enforced,
            "workloads_enforced_exempt": self.workloads_enforced_exempt,
            "workloads_strict_enforced_share": self.workloads_enforced_share,
        }


@dataclass(frozen=True)
class NamespaceRow:
    record: NamespaceRecord
    exemption: Exemption | None
    timed: TimedState | None = None  # a timed mode as it stood at the report's moment


@dataclass(frozen=True)
class PortRow:
    port: str
    mode: str
    reason: dict


@dataclass(frozen=True)
class WorkloadRow:
    record: WorkloadRecord
    exemption: Exemption | None
    weak_ports: tuple[PortRow, ...]


@dataclass(frozen=True)
class FindingRow:
    code: str
    severity: str
    namespace: str
    name: str
    kind: str
    message: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.code, self.namespace, self.name, self.kind)


def weak_ports(workload: WorkloadRecord) -> tuple[PortRow, ...]:
    """Ports of a workload that end up below STRICT, each with its own reason chain."""
    port_reasons = (workload.reason or {}).get("ports") or {}
    return tuple(
        PortRow(port=port, mode=mode, reason=port_reasons.get(port) or {})
        for port, mode in sorted(workload.ports.items(), key=lambda item: int(item[0]))
        if mode != Mode.STRICT
    )


def findings_with_exemptions(snapshot: Snapshot, exemptions: ExemptionsAt) -> list[FindingRow]:
    """The snapshot's findings plus expired exemptions as of the report time, worst first.

    Expired exemptions are judged at the report's moment, not the snapshot's: a snapshot
    taken before an expiry still reports it when the report is asked for after it.
    """
    rows = [
        FindingRow(*values)
        for values in snapshot.findings.values_list(
            "code", "severity", "namespace", "name", "kind", "message"
        )
    ]
    present = {row.key for row in rows}
    for expired in exemptions.expired:
        row = expired.as_finding()
        if row.key not in present:
            rows.append(row)
    rows.sort(key=lambda row: (-SEVERITY_RANK.get(row.severity, 0), row.namespace, row.name))
    return rows


def coverage_of(snapshot: Snapshot, exemptions: ExemptionsAt) -> Coverage:
    exempt_namespaces = {namespace for namespace, workload in exemptions.in_force if not workload}
    exempt_workloads = {target for target in exemptions.in_force if target[1]}
    # Counted in the database: the overview calls this on every visit, whatever the mesh size.
    namespaces_exempt = (
        snapshot.namespaces.filter(mode__in=NON_STRICT, name__in=exempt_namespaces).count()
        if exempt_namespaces
        else 0
    )
    measured = snapshot.workloads_strict_enforced is not None
    # The rows each figure does not count; exempt ones among them leave its score.
    uncounted = {"workloads": Q(mode__in=NON_STRICT)}
    if measured:
        uncounted |= {"declared": Q(strict_declared=False), "enforced": Q(strict_enforced=False)}
    exempt = exempt_among_uncounted(
        snapshot.workloads,
        uncounted,
        namespaces=exempt_namespaces,
        # Workloads exempt on their own (their namespace is not).
        workloads={target for target in exempt_workloads if target[0] not in exempt_namespaces},
    )
    return Coverage(
        namespaces_total=snapshot.namespaces_total,
        namespaces_strict=snapshot.namespaces_strict,
        namespaces_exempt=namespaces_exempt,
        workloads_total=snapshot.workloads_total,
        workloads_strict=snapshot.workloads_strict,
        workloads_exempt=exempt["workloads"],
        workloads_with_sidecar=snapshot.workloads_with_sidecar,
        workloads_strict_declared=snapshot.workloads_strict_declared,
        workloads_declared_exempt=exempt.get("declared", 0),
        workloads_strict_enforced=snapshot.workloads_strict_enforced,
        workloads_enforced_exempt=exempt.get("enforced", 0),
    )


def exempt_among_uncounted(
    records: QuerySet,
    uncounted: dict[str, Q],
    *,
    namespaces: set[str],
    workloads: set[tuple[str, str]],
) -> dict[str, int]:
    """For each figure, how many exempt workloads (of exempt `namespaces`, or exempt on their
    own: `workloads`, (namespace, name) pairs) are among the `records` it does not count.

    Two queries for every figure together (each lists hundreds of names, which costs more
    to send and plan than to run): the rows of exempt namespaces counted per figure, then
    workloads exempt on their own found by namespace and name among a small superset and
    kept as exact pairs.
    """
    exempt = dict.fromkeys(uncounted, 0)
    if namespaces:
        exempt.update(
            records.filter(namespace__in=namespaces).aggregate(
                **{figure: Count("pk", filter=rows) for figure, rows in uncounted.items()}
            )
        )
    if workloads:
        candidates = records.filter(
            namespace__in={namespace for namespace, _ in workloads},
            name__in={name for _, name in workloads},
        ).annotate(
            **{
                f"uncounted_{figure}": ExpressionWrapper(rows, output_field=BooleanField())
                for figure, rows in uncounted.items()
            }
        )
        for namespace, name, *flags in candidates.values_list(
            "namespace", "name", *(f"uncounted_{figure}" for figure in uncounted)
        ):
            if (namespace, name) in workloads:
                for figure, flag in zip(uncounted, flags, strict=True):
                    exempt[figure] += bool(flag)
    return exempt


def audit_entries_between(
    *, start: datetime, end: datetime, clusters: tuple[str, ...] | list[str] | None = None
):
    """Audit entries in (start, end], oldest first: the changes that happened in a period;
    with `clusters`, only entries about those (AuditEntry.cluster values)."""
    entries = AuditEntry.objects.filter(created_at__gt=start, created_at__lte=end)
    if clusters is not None:
        entries = entries.filter(cluster__in=clusters)
    return entries.order_by("created_at", "id")


# --- Compare two dates ----------------------------------------------------------------------


class ChangeKind(StrEnum):
    """What happened to a row between two snapshots."""

    ADDED = "added"  # not in the first snapshot
    REMOVED = "removed"  # not in the second snapshot
    MODE = "mode"  # its effective mode changed (its ports may have too)
    PORTS = "ports"  # same mode; some port's effective mode changed


@dataclass(frozen=True)
class ModeChange:
    namespace: str
    name: str
    kind: str
    before: str  # "" = absent at the first date
    after: str  # "" = absent at the second date
    ports_before_json: str
    ports_after_json: str

    # Decoded only for the rows a page shows: a big comparison lists the first thousand.
    @property
    def ports_before(self) -> dict:
        return json.loads(self.ports_before_json)

    @property
    def ports_after(self) -> dict:
        return json.loads(self.ports_after_json)

    @property
    def change(self) -> ChangeKind:
        if not self.before:
            return ChangeKind.ADDED
        if not self.after:
            return ChangeKind.REMOVED
        return ChangeKind.MODE if self.before != self.after else ChangeKind.PORTS

    @property
    def port_moves(self) -> list[tuple[str, str, str]]:
        """(port, mode before, mode after) for each port whose effective mode moved."""
        return port_moves(self.before, self.ports_before, self.after, self.ports_after)


def port_moves(
    mode_before: str, ports_before: dict, mode_after: str, ports_after: dict
) -> list[tuple[str, str, str]]:
    """Ports whose effective mode differs: a port no policy names takes the workload's mode."""
    moves = []
    for port in sorted(ports_before.keys() | ports_after.keys(), key=_port_number):
        before = ports_before.get(port, mode_before)
        after = ports_after.get(port, mode_after)
        if before != after:
            moves.append((port, before, after))
    return moves


def _port_number(port: str) -> int:
    return int(port) if str(port).isdigit() else 0


# --- Trends ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    taken_at: datetime
    namespaces_total: int
    namespaces_strict: int
    workloads_total: int
    workloads_strict: int
    findings_error: int
    findings_warning: int
    findings_info: int
    workloads_strict_declared: int | None = None  # None: not recorded by that snapshot
    workloads_strict_enforced: int | None = None

    @property
    def namespaces_strict_share(self) -> float | None:
        return share(self.namespaces_strict, self.namespaces_total)

    @property
    def workloads_strict_share(self) -> float | None:
        return share(self.workloads_strict, self.workloads_total)

    @property
    def workloads_declared_share(self) -> float | None:
        return share(self.workloads_strict_declared, self.workloads_total)

    @property
    def workloads_enforced_share(self) -> float | None:
        return share(self.workloads_strict_enforced, self.workloads_total)

    @property
    def findings_total(self) -> int:
        return self.findings_error + self.findings_warning + self.findings_info


TREND_FIELDS = (
    "taken_at",
    "namespaces_total",
    "namespaces_strict",
    "workloads_total",
    "workloads_strict",
    "findings_error",
    "findings_warning",
    "findings_info",
    "workloads_strict_declared",
    "workloads_strict_enforced",
)


def coverage_trend(*, start: datetime, end: datetime, max_points: int = 240) -> list[TrendPoint]:
    """One point per snapshot in [start, end], thinned to the last snapshot of each time slot.

    Reads only the snapshot table's aggregate columns (one indexed query); the STRICT shares
    here are raw, before exemptions, because exemption-adjusted figures need every row of
    every snapshot.
    """
    rows = (
        Snapshot.objects.in_scope()
        .filter(taken_at__gte=start, taken_at__lte=end)
        .order_by("taken_at", "id")
    )
    points = [TrendPoint(*values) for values in rows.values_list(*TREND_FIELDS).iterator()]
    return thin_points(points, start=start, end=end, max_points=max_points)


def thin_points(
    points: list[TrendPoint], *, start: datetime, end: datetime, max_points: int
) -> list[TrendPoint]:
    if len(points) <= max_points:
        return points
    slot = (end - start) / max_points
    last_in_slot: dict[int, TrendPoint] = {}
    for point in points:
        last_in_slot[int((point.taken_at - start) / slot)] = point
    return [last_in_slot[index] for index in sorted(last_in_slot)]
