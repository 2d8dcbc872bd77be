"""Reading Istio's traffic from Prometheus into TrafficRead rows (issue 14).

`traffic_read` is the only writer: a fixed number of aggregate queries (never one per
workload), evaluated at one moment, turned into per-namespace and per-workload volumes,
plaintext callers and a traffic verdict, stored in one transaction. A failure of any
query fails the whole read (recorded with its reason in words) and stores no rows, so no
verdict is ever built on a partial answer.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from policies.engine.readiness import UNKNOWN, TrafficTotals, traffic_readiness
from policies.models import TrafficCaller, TrafficNamespace, TrafficRead, TrafficWorkload
from policies.prometheus import PrometheusClient, PrometheusError, Sample
from policies.prometheus import prometheus_client_from_settings as _client_from_settings
from policies.traffic_queries import (
    REQUESTS,
    TrafficQuery,
    history_oldest_query,
    promql_duration,
    refresh_queries,
)

logger = logging.getLogger(__name__)

BULK_BATCH_SIZE = 2000
PARALLEL_QUERIES = 3
# A preview asks Prometheus itself about at most this many namespaces; beyond, the stored read.
FRESH_QUERY_NAMESPACES_MAX = 50
# Succeeded reads kept (with their rows); failed ones are kept for a day, for the record.
READS_KEPT = 3
FAILED_READS_KEPT_FOR = timedelta(days=1)


def prometheus_client() -> PrometheusClient | None:
    """meshui's Prometheus client, or None when traffic data is off."""
    return _client_from_settings(settings)


def _label(sample: Sample, name: str) -> str:
    # Series with missing or empty labels (an old Istio, a relabelling) read as "unknown".
    return sample.labels.get(name) or UNKNOWN


@dataclass
class _Edge:
    requests: float = 0.0
    connections: float = 0.0
    last_seen: float | None = None


@dataclass
class TrafficFigures:
    """What one set of query results says, before it is stored."""

    totals: dict[tuple[str, str], TrafficTotals] = field(default_factory=dict)
    callers: dict[tuple[str, str, str, str, str], _Edge] = field(default_factory=dict)


def traffic_figures(results: dict[tuple[str, str], list[Sample]]) -> TrafficFigures:
    """Totals per destination workload and plaintext edges, from (purpose, metric) results."""
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    callers: dict[tuple[str, str, str, str, str], _Edge] = defaultdict(_Edge)
    for (purpose, metric), samples in results.items():
        requests = metric == REQUESTS
        for sample in samples:
            namespace = _label(sample, "destination_workload_namespace")
            workload = _label(sample, "destination_workload")
            if namespace == UNKNOWN:
                continue  # passthrough or unlabelled: no destination to judge
            if purpose == "totals":
                mtls = _label(sample, "connection_security_policy") == "mutual_tls"
                slot = (0 if mtls else 1) + (0 if requests else 2)
                totals[(namespace, workload)][slot] += sample.value
                continue
            edge = callers[
                (
                    namespace,
                    workload,
                    _label(sample, "source_workload_namespace"),
                    _label(sample, "source_workload"),
                    _label(sample, "source_principal"),
                )
            ]
            if purpose == "callers":
                if requests:
                    edge.requests += sample.value
                else:
                    edge.connections += sample.value
            elif purpose == "last_seen":
                edge.last_seen = max(edge.last_seen or 0.0, sample.value)
    # The callers query counts a plaintext counter born and gone within the window, which the
    # cheaper totals query misses (traffic_queries.totals_query): plaintext is never below it.
    plaintext_of: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (namespace, workload, *_source), edge in callers.items():
        plaintext_of[(namespace, workload)][0] += edge.requests
        plaintext_of[(namespace, workload)][1] += edge.connections
    for key, (requests, connections) in plaintext_of.items():
        values = totals[key]
        values[1] = max(values[1], requests)
        values[3] = max(values[3], connections)
    return TrafficFigures(
        totals={key: TrafficTotals(*values) for key, values in totals.items()},
        # An edge only in last_seen grew by a fraction the window's increase rounds away.
        callers={key: edge for key, edge in callers.items() if edge.requests or edge.connections},
    )


def _history_seconds(client: PrometheusClient, at: datetime, window_seconds: int) -> int:
    covers = client.query(refresh_queries(window_seconds)[0].promql, at=at)
    if covers.samples and covers.samples[0].value > 0:
        return window_seconds
    oldest = client.query(history_oldest_query(promql_duration(window_seconds)).promql, at=at)
    if not oldest.samples:
        return 0
    return max(0, min(window_seconds, int(at.timestamp() - oldest.samples[0].value)))


def _volume_fields(totals: TrafficTotals, callers: int, history: int, window: int) -> dict:
    return {
        "mtls_requests": totals.mtls_requests,
        "plaintext_requests": totals.plaintext_requests,
        "mtls_connections": totals.mtls_connections,
        "plaintext_connections": totals.plaintext_connections,
        "plaintext_callers": callers,
        "plaintext_share": totals.plaintext_share,
        "readiness": traffic_readiness(
            totals=totals,
            plaintext_callers=callers,
            history=timedelta(seconds=history),
            window=timedelta(seconds=window),
        ).value,
    }


def _store(read: TrafficRead, figures: TrafficFigures) -> None:
    history, window = read.history_seconds or 0, read.window_seconds
    callers_of_workload: dict[tuple[str, str], int] = defaultdict(int)
    sources_of_namespace: dict[str, set] = defaultdict(set)
    for ns, wl, src_ns, src_wl, principal in figures.callers:
        callers_of_workload[(ns, wl)] += 1
        sources_of_namespace[ns].add((src_ns, src_wl, principal))
    namespace_totals: dict[str, TrafficTotals] = defaultdict(TrafficTotals)
    workload_keys = set(figures.totals) | set(callers_of_workload)
    for ns, wl in workload_keys:
        namespace_totals[ns] = namespace_totals[ns] + figures.totals.get((ns, wl), TrafficTotals())
    TrafficWorkload.objects.bulk_create(
        (
            TrafficWorkload(
                read=read,
                namespace=ns,
                workload=wl,
                **_volume_fields(
                    figures.totals.get((ns, wl), TrafficTotals()),
                    callers_of_workload.get((ns, wl), 0),
                    history,
                    window,
                ),
            )
            for ns, wl in sorted(workload_keys)
        ),
        batch_size=BULK_BATCH_SIZE,
    )
    TrafficNamespace.objects.bulk_create(
        (
            TrafficNamespace(
                read=read,
                namespace=ns,
                **_volume_fields(totals, len(sources_of_namespace.get(ns, ())), history, window),
            )
            for ns, totals in sorted(namespace_totals.items())
        ),
        batch_size=BULK_BATCH_SIZE,
    )
    TrafficCaller.objects.bulk_create(
        (
            TrafficCaller(
                read=read,
                destination_namespace=ns,
                destination_workload=wl,
                source_namespace=src_ns,
                source_workload=src_wl,
                source_principal=principal,
                requests=edge.requests,
                connections=edge.connections,
                last_seen=(datetime.fromtimestamp(edge.last_seen, UTC) if edge.last_seen else None),
            )
            for (ns, wl, src_ns, src_wl, principal), edge in sorted(figures.callers.items())
        ),
        batch_size=BULK_BATCH_SIZE,
    )


def traffic_read(*, trigger: str = "schedule", now: datetime | None = None) -> TrafficRead | None:
    """Read the window's traffic from Prometheus and store it; None when traffic data is off.

    Prometheus failing is recorded on the read (`.error`, in words) and never raised: a page
    or a sync must not break because Prometheus is down.
    """
    client = prometheus_client()
    if client is None:
        return None
    at = (now or timezone.now()).replace(microsecond=0)
    window = settings.MESHUI_TRAFFIC_WINDOW_SECONDS
    queries: list[TrafficQuery] = refresh_queries(window)
    read = TrafficRead.objects.create(
        started_at=timezone.now(),
        trigger=trigger,
        at=at,
        window_seconds=window,
        prometheus_url=settings.MESHUI_PROMETHEUS_URL,
        queries=[query.promql for query in queries],
    )
    started = time.monotonic()
    try:
        with client:
            read.history_seconds = _history_seconds(client, at, window)
            # The six aggregate queries run side by side: Prometheus spreads them over its
            # cores, and the read takes as long as the slowest one instead of their sum.
            with ThreadPoolExecutor(max_workers=PARALLEL_QUERIES) as pool:
                answers = {
                    (query.purpose, query.metric): pool.submit(client.query, query.promql, at=at)
                    for query in queries[1:]
                }
                results = {key: answer.result().samples for key, answer in answers.items()}
        read.query_count = len(queries) + (0 if read.history_seconds == window else 1)
        figures = traffic_figures(results)
        with transaction.atomic():
            _store(read, figures)
            read.status = TrafficRead.Status.SUCCEEDED
            _finish(read, started)
    except PrometheusError as error:
        logger.warning("traffic read failed: %s", error.summary)
        read.status = TrafficRead.Status.FAILED
        read.error = error.summary
        _finish(read, started)
        return read
    _prune()
    return read


def _finish(read: TrafficRead, started: float) -> None:
    read.finished_at = timezone.now()
    read.duration_ms = int((time.monotonic() - started) * 1000)
    read.save()


def _prune() -> None:
    kept = list(
        TrafficRead.objects.filter(status=TrafficRead.Status.SUCCEEDED)
        .order_by("-started_at")
        .values_list("pk", flat=True)[:READS_KEPT]
    )
    if kept:
        TrafficRead.objects.filter(status=TrafficRead.Status.SUCCEEDED).exclude(
            pk__in=kept
        ).delete()
    TrafficRead.objects.exclude(status=TrafficRead.Status.SUCCEEDED).filter(
        started_at__lt=timezone.now() - FAILED_READS_KEPT_FOR
    ).delete()


# --- The impact preview: who this change would refuse ------------------------------------


@dataclass(frozen=True)
class RefusedCallers:
    """The plaintext callers of what a change makes STRICT, and where the list comes from.

    `in_use` is false when traffic data is off or was never read: the preview then keeps its
    guess about sidecar-less workloads.
    """

    in_use: bool
    callers: tuple = ()
    source: str = ""  # "fresh" (asked Prometheus now) or "stored" (the last read)
    note: str = ""  # where the list comes from, and how old it is
    warning: str = ""  # the sentence at the top of the preview ("" when nobody is refused)
    ports: tuple[str, ...] = ()  # ports that become STRICT on their own (metrics carry none)


def _strict_targets(impact) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    targets, ports = [], []
    for change in impact.becomes_strict:
        targets.append((change.namespace, change.name))
        if change.port is not None:
            ports.append(change.label)
    return sorted(set(targets)), tuple(ports)


def _fresh_callers(targets, window_seconds: int, at: datetime) -> list:
    from policies.engine.readiness import Caller
    from policies.traffic_queries import preview_query

    namespaces = tuple(sorted({namespace for namespace, _ in targets}))
    wanted = set(targets)
    client = prometheus_client()
    timeout = float(settings.MESHUI_PROMETHEUS_PREVIEW_TIMEOUT_SECONDS)
    with client:
        samples = client.query(
            preview_query(window_seconds, namespaces).promql, at=at, timeout_seconds=timeout
        ).samples
    edges: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for sample in samples:
        key = (
            _label(sample, "destination_workload_namespace"),
            _label(sample, "destination_workload"),
            _label(sample, "source_workload_namespace"),
            _label(sample, "source_workload"),
            _label(sample, "source_principal"),
        )
        if key[:2] in wanted:
            edges[key][0 if sample.labels.get("metric") == REQUESTS else 1] += sample.value
    return [
        Caller(*key, requests, connections, None)
        for key, (requests, connections) in sorted(edges.items())
    ]


def refused_callers(impact, *, now: datetime | None = None) -> RefusedCallers:
    """Who sent plaintext (within the window) to what this change makes STRICT.

    One fresh targeted query with a short timeout; when Prometheus does not answer in time,
    the stored read, saying how old it is. Traffic data off or never read: not in use.
    """
    from policies.selectors.traffic import callers_into, traffic_status

    status = traffic_status(now=now)
    if impact is None or not status.enabled:
        return RefusedCallers(in_use=False)
    targets, ports = _strict_targets(impact)
    if not targets:
        return RefusedCallers(
            in_use=status.available, note=status.sentence if status.available else ""
        )
    window = settings.MESHUI_TRAFFIC_WINDOW_SECONDS
    span = promql_duration(window)
    namespaces = {namespace for namespace, _ in targets}
    why_stored = ""
    if len(namespaces) > FRESH_QUERY_NAMESPACES_MAX:
        # A mesh-wide change: one regex of thousands of names is no targeted query.
        why_stored = f"{len(namespaces)} namespaces change, too many for the preview's own query"
    else:
        try:
            callers = _fresh_callers(targets, window, now or timezone.now())
        except PrometheusError as error:
            why_stored = f"Prometheus did not answer the preview's query ({error.summary})"
    if not why_stored:
        source, note = "fresh", f"Asked Prometheus just now, over the last {span}."
    elif not status.available:
        return RefusedCallers(in_use=False, note=f"{why_stored}; no stored traffic read.")
    else:
        callers = callers_into(status, targets)
        source = "stored"
        note = f"{why_stored}; these are from the traffic read {status.age}, over the last {span}."
    refused = len(callers)
    if refused:
        warning = (
            f"STRICT would refuse {refused} plaintext caller{'s' if refused != 1 else ''} "
            f"seen over the last {span}: "
            + ", ".join(caller.label for caller in callers[:5])
            + ("…" if refused > 5 else ".")
        )
    else:
        warning = ""
    return RefusedCallers(
        in_use=True, callers=tuple(callers), source=source, note=note, warning=warning, ports=ports
    )
