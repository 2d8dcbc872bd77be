"""Reads of the stored traffic (issue 14): what pages, reports and /metrics show.

Pages read only the database: the newest succeeded TrafficRead, and the newest failed one
after it (to say what failed and how old the shown data is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from policies.cluster_scope import cluster_scope_current
from policies.engine.readiness import (
    READINESS_ORDER,
    Caller,
    Readiness,
    TrafficTotals,
    Verdict,
    readiness_verdict,
)
from policies.models import TrafficCaller, TrafficNamespace, TrafficRead, TrafficWorkload
from policies.traffic_queries import METRICS, callers_query, promql_duration, totals_query

CALLERS_SHOWN = 100


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@dataclass(frozen=True)
class TrafficStatus:
    """Whether traffic data is on, the read pages use, and the failure after it if any."""

    enabled: bool
    read: TrafficRead | None = None
    failure: TrafficRead | None = None
    now: datetime = field(default_factory=timezone.now)
    # The pages are about a registered cluster of the fleet: MESHUI_PROMETHEUS_URL is the
    # configured cluster's Prometheus, whose series name namespaces, not clusters.
    other_cluster: str = ""

    @property
    def available(self) -> bool:
        return self.read is not None

    @property
    def history(self) -> timedelta:
        return timedelta(seconds=(self.read.history_seconds or 0) if self.read else 0)

    @property
    def window(self) -> timedelta:
        seconds = self.read.window_seconds if self.read else settings.MESHUI_TRAFFIC_WINDOW_SECONDS
        return timedelta(seconds=seconds)

    @property
    def age(self) -> str:
        return _ago(self.now - self.read.at) if self.read else ""

    @property
    def sentence(self) -> str:
        """One line on where the numbers come from, or why there are none."""
        if self.other_cluster:
            return (
                f"Traffic data is read for the configured cluster only: meshui's Prometheus "
                f"(MESHUI_PROMETHEUS_URL) scrapes that cluster, not {self.other_cluster}, so "
                "readiness for STRICT is not shown here."
            )
        if not self.enabled:
            return (
                "Traffic data is off: set MESHUI_PROMETHEUS_URL to the Prometheus that scrapes "
                "Istio, and readiness for STRICT appears here."
            )
        parts = []
        if self.read:
            parts.append(
                f"Traffic read {self.age} from Prometheus over the last "
                f"{promql_duration(self.read.window_seconds)}."
            )
        if self.failure:
            parts.append(
                f"The latest read ({_ago(self.now - self.failure.started_at)}) failed: "
                f"{self.failure.error}" + (" Showing the last good read." if self.read else "")
            )
        if not parts:
            parts.append("No traffic read yet: the first runs within a few minutes.")
        return " ".join(parts)


def traffic_status(*, now: datetime | None = None) -> TrafficStatus:
    """The traffic read pages show, in at most two small queries."""
    now = now or timezone.now()
    scope = cluster_scope_current()
    if not scope.is_configured:
        return TrafficStatus(enabled=False, now=now, other_cluster=scope.name)
    if not settings.MESHUI_PROMETHEUS_URL:
        return TrafficStatus(enabled=False, now=now)
    read = TrafficRead.objects.filter(status=TrafficRead.Status.SUCCEEDED).first()
    failures = TrafficRead.objects.filter(status=TrafficRead.Status.FAILED)
    if read is not None:
        failures = failures.filter(started_at__gt=read.started_at)
    return TrafficStatus(enabled=True, read=read, failure=failures.first(), now=now)


def absent_readiness(status: TrafficStatus) -> Readiness:
    """The verdict of a namespace or workload without rows in the read: nothing was seen."""
    if not status.available:
        return Readiness.NO_DATA
    if status.history < status.window:
        return Readiness.NOT_ENOUGH_HISTORY
    return Readiness.NO_TRAFFIC


def traffic_status_at(*, at: datetime) -> TrafficStatus:
    """The traffic read in force at `at` (the newest taken at or before it), for reports."""
    scope = cluster_scope_current()
    if not scope.is_configured:
        return TrafficStatus(enabled=False, now=at, other_cluster=scope.name)
    read = (
        TrafficRead.objects.filter(status=TrafficRead.Status.SUCCEEDED, at__lte=at)
        .order_by("-at")
        .first()
    )
    return TrafficStatus(
        enabled=bool(settings.MESHUI_PROMETHEUS_URL) or read is not None, read=read, now=at
    )


def with_readiness(
    rows: QuerySet, status: TrafficStatus, *, name_field: str = "name", workloads: bool = False
) -> QuerySet:
    """NamespaceRecord rows annotated with `readiness`, `readiness_rank` and `plaintext_share`.

    STRICT namespaces are `already_strict` whatever the traffic says; the rest take the
    stored traffic verdict, or `absent_readiness` when Prometheus saw nothing of them.
    """
    if not status.available:
        return rows.annotate(
            readiness=Case(
                When(mode="STRICT", then=Value(Readiness.ALREADY_STRICT.value)),
                default=Value(Readiness.NO_DATA.value),
                output_field=CharField(),
            ),
            plaintext_share=Value(None, output_field=FloatField()),
            readiness_rank=Case(
                When(mode="STRICT", then=Value(READINESS_ORDER.index(Readiness.ALREADY_STRICT))),
                default=Value(READINESS_ORDER.index(Readiness.NO_DATA)),
                output_field=IntegerField(),
            ),
        )
    if workloads:
        stored = TrafficWorkload.objects.filter(
            read=status.read, namespace=OuterRef("namespace"), workload=OuterRef("name")
        )
    else:
        stored = TrafficNamespace.objects.filter(read=status.read, namespace=OuterRef(name_field))
    absent = absent_readiness(status)
    # Each expression holds its subquery once: nesting one Case in another would repeat the
    # subquery in the SQL for every branch (and the sort would pay each on every row).
    stored_rank = stored.annotate(
        rank=Case(
            *(
                When(readiness=value.value, then=Value(rank))
                for rank, value in enumerate(READINESS_ORDER)
            ),
            output_field=IntegerField(),
        )
    ).values("rank")[:1]
    return rows.annotate(
        readiness=Case(
            When(mode="STRICT", then=Value(Readiness.ALREADY_STRICT.value)),
            default=Coalesce(Subquery(stored.values("readiness")[:1]), Value(absent.value)),
            output_field=CharField(),
        ),
        readiness_rank=Case(
            When(mode="STRICT", then=Value(READINESS_ORDER.index(Readiness.ALREADY_STRICT))),
            default=Coalesce(Subquery(stored_rank), Value(READINESS_ORDER.index(absent))),
            output_field=IntegerField(),
        ),
        plaintext_share=Subquery(stored.values("plaintext_share")[:1]),
        plaintext_callers=Subquery(stored.values("plaintext_callers")[:1]),
    )


def readiness_on_page(rows: list, status: TrafficStatus) -> None:
    """Set `readiness`, `plaintext_share` and `plaintext_callers` on a page of namespace rows
    in one query, for pages that neither sort nor filter by them (cheaper than annotating)."""
    stored = {}
    if status.available:
        stored = {
            row.namespace: row
            for row in TrafficNamespace.objects.filter(
                read=status.read, namespace__in=[row.name for row in rows]
            )
        }
    absent = absent_readiness(status)
    for row in rows:
        traffic = stored.get(row.name)
        row.plaintext_share = traffic.plaintext_share if traffic else None
        row.plaintext_callers = traffic.plaintext_callers if traffic else 0
        if row.mode == "STRICT":
            row.readiness = Readiness.ALREADY_STRICT.value
        else:
            row.readiness = traffic.readiness if traffic else absent.value


@dataclass(frozen=True)
class TrafficPanel:
    """The traffic panel of a namespace or workload page."""

    status: TrafficStatus
    verdict: Verdict | None = None
    totals: TrafficTotals = TrafficTotals()
    callers: list[Caller] = field(default_factory=list)
    callers_total: int = 0
    promql: list[str] = field(default_factory=list)


def _totals(row) -> TrafficTotals:
    if row is None:
        return TrafficTotals()
    return TrafficTotals(
        row.mtls_requests, row.plaintext_requests, row.mtls_connections, row.plaintext_connections
    )


def _callers(rows: QuerySet) -> list[Caller]:
    return [
        Caller(
            row.destination_namespace,
            row.destination_workload,
            row.source_namespace,
            row.source_workload,
            row.source_principal,
            row.requests,
            row.connections,
            row.last_seen,
        )
        for row in rows
    ]


def _panel(
    status: TrafficStatus, *, mode: str, row, callers: QuerySet, namespace: str, workload: str = ""
) -> TrafficPanel:
    window = promql_duration(int(status.window.total_seconds()))
    promql = []
    for metric in METRICS:
        for query in (
            totals_query(metric, window, (namespace,)),
            callers_query(metric, window, (namespace,)),
        ):
            text = query.promql
            if workload:
                text = text.replace(
                    f'destination_workload_namespace=~"{namespace}"',
                    f'destination_workload_namespace="{namespace}",destination_workload="{workload}"',
                )
            promql.append(text)
    if not status.available:
        return TrafficPanel(status=status, promql=promql)
    totals = _totals(row)
    traffic = Readiness(row.readiness) if row is not None else absent_readiness(status)
    callers_total = callers.count()
    verdict = readiness_verdict(
        mode=mode,
        traffic=traffic,
        totals=totals,
        plaintext_callers=row.plaintext_callers if row is not None else 0,
        history=status.history,
        window=status.window,
    )
    shown = callers.order_by("-requests", "-connections", "source_namespace", "source_workload")
    return TrafficPanel(
        status=status,
        verdict=verdict,
        totals=totals,
        callers=_callers(shown[:CALLERS_SHOWN]),
        callers_total=callers_total,
        promql=promql,
    )


def namespace_traffic(*, namespace: str, mode: str) -> TrafficPanel:
    """Share, plaintext callers (per destination workload) and verdict of one namespace."""
    status = traffic_status()
    read = status.read
    row = TrafficNamespace.objects.filter(read=read, namespace=namespace).first() if read else None
    callers = TrafficCaller.objects.filter(read=read, destination_namespace=namespace)
    return _panel(status, mode=mode, row=row, callers=callers, namespace=namespace)


def workload_traffic(*, namespace: str, workload: str, mode: str) -> TrafficPanel:
    """The same for one workload (Istio's `destination_workload`, its controller's name)."""
    status = traffic_status()
    read = status.read
    row = (
        TrafficWorkload.objects.filter(read=read, namespace=namespace, workload=workload).first()
        if read
        else None
    )
    callers = TrafficCaller.objects.filter(
        read=read, destination_namespace=namespace, destination_workload=workload
    )
    return _panel(
        status, mode=mode, row=row, callers=callers, namespace=namespace, workload=workload
    )


def readiness_counts(namespaces: QuerySet, status: TrafficStatus) -> dict[str, int]:
    """How many namespaces have each readiness (for the overview and /metrics)."""
    counts = {value.value: 0 for value in READINESS_ORDER}
    for row in with_readiness(namespaces, status).values("readiness"):
        counts[row["readiness"]] += 1
    return counts


def ready_permissive_count(namespaces: QuerySet, status: TrafficStatus) -> int:
    """PERMISSIVE namespaces whose traffic says they are ready for STRICT."""
    return (
        with_readiness(namespaces.filter(mode="PERMISSIVE"), status)
        .filter(readiness=Readiness.READY.value)
        .count()
    )


def callers_into(status: TrafficStatus, targets: list[tuple[str, str]]) -> list[Caller]:
    """Stored plaintext callers of these (namespace, workload) destinations ("" = all)."""
    if not status.available or not targets:
        return []
    match = Q()
    for namespace, workload in targets:
        match |= Q(
            destination_namespace=namespace,
            **({"destination_workload": workload} if workload else {}),
        )
    rows = TrafficCaller.objects.filter(match, read=status.read).order_by(
        "destination_namespace", "destination_workload", "-requests", "-connections"
    )
    return _callers(rows)
