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

from django.db.models import Q, TextField
from django.db.models.functions import Cast

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
REPORT_AUDIT_ROWS = 1000

NON_STRICT = (Mode.PERMISSIVE, Mode.DISABLE)


# --- Snapshots ------------------------------------------------------------------------------


def snapshot_at(*, at: datetime) -> Snapshot | None:
    """The snapshot in force at `at`: the newest one taken at or before it."""
    return Snapshot.objects.filter(taken_at__lte=at).current()


def snapshot_oldest() -> Snapshot | None:
    return Snapshot.objects.order_by("taken_at", "id").first()


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


def exemption_list(*, now: datetime) -> list[tuple[Exemption, str]]:
    """Every exemption with its state now: valid, expired, renewed or revoked; valid first."""
    order = {"valid": 0, "expired": 1, "renewed": 2, "revoked": 3}
    rows = [
        (exemption, exemption_state(exemption, now=now))
        for exemption in Exemption.objects.select_related("renewal")
    ]
    return sorted(rows, key=lambda row: (order[row[1]], row[0].namespace, row[0].workload))


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
    # Workloads exempt on their own (their namespace is not) are found by namespace and
    # name among a small superset, then kept as exact pairs.
    own = {target for target in exempt_workloads if target[0] not in exempt_namespaces}

    def exempt_among(uncounted) -> int:
        """Exempt rows among the ones a figure does not count."""
        if not exemptions.in_force:
            return 0
        exempt = (
            uncounted.filter(namespace__in=exempt_namespaces).count() if exempt_namespaces else 0
        )
        if own:
            candidates = uncounted.filter(
                namespace__in={namespace for namespace, _ in own},
                name__in={name for _, name in own},
            )
            exempt += sum(
                1 for target in candidates.values_list("namespace", "name") if target in own
            )
        return exempt

    workloads = snapshot.workloads
    measured = snapshot.workloads_strict_enforced is not None
    return Coverage(
        namespaces_total=snapshot.namespaces_total,
        namespaces_strict=snapshot.namespaces_strict,
        namespaces_exempt=namespaces_exempt,
        workloads_total=snapshot.workloads_total,
        workloads_strict=snapshot.workloads_strict,
        workloads_exempt=exempt_among(workloads.filter(mode__in=NON_STRICT)),
        workloads_with_sidecar=snapshot.workloads_with_sidecar,
        workloads_strict_declared=snapshot.workloads_strict_declared,
        workloads_declared_exempt=(
            exempt_among(workloads.filter(strict_declared=False)) if measured else 0
        ),
        workloads_strict_enforced=snapshot.workloads_strict_enforced,
        workloads_enforced_exempt=(
            exempt_among(workloads.filter(strict_enforced=False)) if measured else 0
        ),
    )


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


@dataclass
class Comparison:
    at_from: datetime
    at_to: datetime
    snapshot_from: Snapshot
    snapshot_to: Snapshot
    namespaces: list[ModeChange]
    workloads: list[ModeChange]
    findings_appeared: list[FindingRow]
    findings_cleared: list[FindingRow]
    audit_entries: list[AuditEntry]
    audit_entries_total: int

    @property
    def same_snapshot(self) -> bool:
        return self.snapshot_from.pk == self.snapshot_to.pk


def changes_between(
    before: dict[tuple, tuple], after: dict[tuple, tuple], *, kind_of
) -> list[ModeChange]:
    """Rows whose mode or some port's effective mode differs, plus rows only one side has.

    Port modes arrive as JSON text: equal text is equal ports; text is decoded only to
    settle a same-mode row whose text differs, or later for the rows a page shows.
    """
    changes = []
    for key in sorted(before.keys() | after.keys()):
        mode_before, ports_before = before.get(key, ("", "{}"))
        mode_after, ports_after = after.get(key, ("", "{}"))
        # The same mode and no port whose effective mode moved is no change, even when the
        # policy now names a port with the mode it had anyway.
        if mode_before == mode_after and (
            ports_before == ports_after
            or not port_moves(
                mode_before, json.loads(ports_before), mode_after, json.loads(ports_after)
            )
        ):
            continue
        namespace, name = key[0], key[1]
        changes.append(
            ModeChange(
                namespace, name, kind_of(key), mode_before, mode_after, ports_before, ports_after
            )
        )
    return changes


def snapshot_compare(*, at_from: datetime, at_to: datetime) -> Comparison | None:
    """What changed between the snapshots in force at two dates, and the audit entries between.

    None when no snapshot had been taken by `at_from`. Audit entries are taken from the first
    snapshot's time (not the first date) so a change made just before `at_from` but after
    that snapshot, which the second snapshot already shows, is still explained.
    """
    if at_from > at_to:
        at_from, at_to = at_to, at_from
    snapshot_from = snapshot_at(at=at_from)
    snapshot_to = snapshot_at(at=at_to)
    if snapshot_from is None or snapshot_to is None:
        return None

    def namespace_modes(snapshot):
        return {
            (name, name): (mode, "{}")
            for name, mode in snapshot.namespaces.values_list("name", "mode").iterator()
        }

    def workload_modes(snapshot):
        return {
            (namespace, name, kind): (mode, ports)
            for namespace, name, kind, mode, ports in snapshot.workloads.values_list(
                "namespace", "name", "kind", "mode", Cast("ports", TextField())
            ).iterator(chunk_size=5000)
        }

    def findings(snapshot):
        exemptions = exemptions_at(at=at_from if snapshot is snapshot_from else at_to)
        return {row.key: row for row in findings_with_exemptions(snapshot, exemptions)}

    findings_from, findings_to = findings(snapshot_from), findings(snapshot_to)
    audit = audit_entries_between(start=min(snapshot_from.taken_at, at_from), end=at_to)
    return Comparison(
        at_from=at_from,
        at_to=at_to,
        snapshot_from=snapshot_from,
        snapshot_to=snapshot_to,
        namespaces=changes_between(
            namespace_modes(snapshot_from),
            namespace_modes(snapshot_to),
            kind_of=lambda key: "Namespace",
        ),
        workloads=changes_between(
            workload_modes(snapshot_from), workload_modes(snapshot_to), kind_of=lambda key: key[2]
        ),
        findings_appeared=[row for key, row in findings_to.items() if key not in findings_from],
        findings_cleared=[row for key, row in findings_from.items() if key not in findings_to],
        audit_entries=list(audit[:REPORT_AUDIT_ROWS]),
        audit_entries_total=audit.count(),
    )


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
    rows = Snapshot.objects.filter(taken_at__gte=start, taken_at__lte=end).order_by(
        "taken_at", "id"
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
