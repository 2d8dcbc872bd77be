"""meshui's own errors for what Prometheus answers (or does not).

Each carries `.summary`, one line for people: the sync record and the traffic panel show it.
"""

from __future__ import annotations

from policies.errors import MeshuiError


class PrometheusError(MeshuiError):
    """Prometheus could not give a complete answer. `.summary` is for people."""

    title = "Prometheus error"

    def __init__(self, message: str, *, status: int = 0, error_type: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # the HTTP status, 0 when no answer arrived
        self.error_type = error_type  # Prometheus' errorType, e.g. "bad_data"

    def __str__(self) -> str:
        return self.message

    @property
    def summary(self) -> str:
        return f"{self.title}: {self.message}"


class Unreachable(PrometheusError):
    title = "Prometheus unreachable"


class Timeout(PrometheusError):
    title = "Prometheus timed out"


class Refused(PrometheusError):
    """401 or 403: the credentials meshui sends are missing, wrong or not allowed."""

    title = "Prometheus refused meshui's credentials"


class BadQuery(PrometheusError):
    """400/422 with errorType bad_data or execution: the query itself is at fault."""

    title = "Prometheus rejected the query"


class ServerError(PrometheusError):
    """5xx, or an answer with status "error" that is not the query's fault."""

    title = "Prometheus failed"


class BadResponse(PrometheusError):
    """Something that is not Prometheus' JSON API answered (a proxy's HTML page, a login page)."""

    title = "Not a Prometheus answer"


class PartialData(PrometheusError):
    """Prometheus answered with warnings: the result may be missing series (a down store,
    a query limit). meshui never builds a verdict on it."""

    title = "Partial data from Prometheus"
