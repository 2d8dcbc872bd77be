"""The Prometheus gateway: the only code that speaks HTTP to Prometheus (issue 14).

`PrometheusClient.query(promql, at=...)` runs one instant query and returns its samples, or
raises a `PrometheusError` whose `.summary` says in words what failed (unreachable, refused
credentials, a bad query, a timeout, partial data). Nothing here knows Istio.
"""

from policies.prometheus.client import (
    PrometheusClient,
    PrometheusSettings,
    QueryResult,
    Sample,
    prometheus_client_from_settings,
)
from policies.prometheus.errors import (
    BadQuery,
    BadResponse,
    PartialData,
    PrometheusError,
    Refused,
    ServerError,
    Timeout,
    Unreachable,
)

__all__ = [
    "BadQuery",
    "BadResponse",
    "PartialData",
    "PrometheusClient",
    "PrometheusError",
    "PrometheusSettings",
    "QueryResult",
    "Refused",
    "Sample",
    "ServerError",
    "Timeout",
    "Unreachable",
    "prometheus_client_from_settings",
]
