"""Istio's standard metrics as OpenMetrics text, the way proxies and ztunnel export them.

A series is one counter as a destination (or source) proxy reports it: its labels are Istio's
standard ones (https://istio.io/latest/docs/reference/config/metrics/), and its samples are
the counter's value at each scrape. promtool wants each series' samples together, in time
order, and `# EOF` at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REQUESTS = "istio_requests"
TCP_OPENED = "istio_tcp_connections_opened"


@dataclass(frozen=True)
class IstioSeries:
    """One counter: `per_scrape` requests (or connections) between `start` and `end` (Unix s)."""

    metric: str  # REQUESTS or TCP_OPENED
    destination_namespace: str
    destination_workload: str
    source_namespace: str = "unknown"
    source_workload: str = "unknown"
    source_principal: str = "unknown"
    security: str = "mutual_tls"  # connection_security_policy: mutual_tls | none | unknown
    reporter: str = "destination"
    start: int = 0
    end: int = 0
    per_scrape: int = 1
    destination_service: str = ""
    extra_labels: tuple[tuple[str, str], ...] = ()
    # Only the labels meshui queries: big fixtures stay small (promtool reads text).
    compact: bool = False

    def labels(self) -> dict[str, str]:
        if self.compact:
            return {
                "reporter": self.reporter,
                "source_workload": self.source_workload,
                "source_workload_namespace": self.source_namespace,
                "source_principal": self.source_principal,
                "destination_workload": self.destination_workload,
                "destination_workload_namespace": self.destination_namespace,
                "connection_security_policy": self.security,
            }
        service = self.destination_service or (
            f"{self.destination_workload}.{self.destination_namespace}.svc.cluster.local"
        )
        labels = {
            "reporter": self.reporter,
            "source_workload": self.source_workload,
            "source_workload_namespace": self.source_namespace,
            "source_principal": self.source_principal,
            "source_app": self.source_workload,
            "destination_workload": self.destination_workload,
            "destination_workload_namespace": self.destination_namespace,
            "destination_principal": (
                f"spiffe://cluster.local/ns/{self.destination_namespace}/sa/"
                f"{self.destination_workload}"
            ),
            "destination_service": service,
            "destination_service_name": service.split(".")[0],
            "destination_service_namespace": self.destination_namespace,
            "connection_security_policy": self.security,
        }
        if self.metric == REQUESTS:
            labels |= {"request_protocol": "http", "response_code": "200"}
        labels.update(self.extra_labels)
        return labels


def _label_text(labels: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{key}="{escape(value)}"' for key, value in sorted(labels.items()))


def _times(start: int, end: int, step: int, dense: tuple[tuple[int, int], ...]) -> list[int]:
    times = set(range(start, end + 1, step))
    for low, high in dense:  # scrapes every 5 minutes here (a window's edges)
        times.update(range(max(start, low - low % 300), min(end, high) + 1, 300))
    return sorted(times)


def openmetrics_text(
    series: Iterable[IstioSeries], *, step: int, dense: tuple[tuple[int, int], ...] = ()
) -> str:
    """The whole file: one family per metric, each series' samples every `step` seconds
    (and every 5 minutes within the `dense` spans)."""
    by_metric: dict[str, list[IstioSeries]] = {}
    for one in series:
        by_metric.setdefault(one.metric, []).append(one)
    lines: list[str] = []
    for metric, members in sorted(by_metric.items()):
        lines.append(f"# TYPE {metric} counter")
        for one in members:
            name_labels = f"{metric}_total{{{_label_text(one.labels())}}}"
            value = 0
            for at in _times(one.start, one.end, step, dense):
                value += one.per_scrape
                lines.append(f"{name_labels} {value} {at}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
