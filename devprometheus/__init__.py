"""A real Prometheus on loopback, serving backfilled Istio metrics (tests and `make run`'s demo).

Debian's `prometheus` package gives the two binaries: `promtool tsdb create-blocks-from
openmetrics` turns an OpenMetrics file into TSDB blocks, and `prometheus` serves a copy of
them (it rewrites its data directory). Product code never imports this package.
"""

from devprometheus.openmetrics import IstioSeries, openmetrics_text
from devprometheus.server import (
    PrometheusNotInstalled,
    RunningPrometheus,
    blocks_build,
    prometheus_available,
    prometheus_start,
)

__all__ = [
    "IstioSeries",
    "PrometheusNotInstalled",
    "RunningPrometheus",
    "blocks_build",
    "openmetrics_text",
    "prometheus_available",
    "prometheus_start",
]
