"""meshui's own errors for what the Kubernetes API says, importable without the client.

The gateway (policies/cluster.py) raises these `from` the client's exception, keeping the API
server's own words in `.message` so a page or a command can show them to a person. Code
outside the gateway catches these, never `kubernetes.client.ApiException`.
"""

from __future__ import annotations

from policies.errors import MeshuiError


class ClusterError(MeshuiError):
    """Something the cluster refused or could not answer. `.message` is for people."""

    #: The HTTP status the API answered, or 0 when no answer arrived (timeout, refused).
    default_status = 0
    #: Worth trying again later without changing anything (5xx, 429, timeouts).
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        causes: list[dict] | None = None,
        operation: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation  # what meshui was doing, e.g. "listing Pods"
        self.status = self.default_status if status is None else status
        self.reason = reason  # the Status object's machine reason, e.g. "AlreadyExists"
        self.causes = list(causes or [])

    def __str__(self) -> str:
        return self.message

    @property
    def summary(self) -> str:
        """One line for a person: what failed, while doing what, in the API's words."""
        title = {
            "NotFound": "Not found",
            "Forbidden": "Forbidden",
            "Unauthorized": "Unauthorized",
            "Conflict": "Conflict",
            "Invalid": "Invalid",
            "Expired": "Expired",
            "Unavailable": "Cluster unavailable",
            "IstioNotInstalled": "Istio not installed",
        }.get(type(self).__name__, "Cluster error")
        where = f" while {self.operation}" if self.operation else ""
        return f"{title}{where}: {self.message}"


class NotFound(ClusterError):
    default_status = 404


class Forbidden(ClusterError):
    default_status = 403


class Unauthorized(ClusterError):
    default_status = 401


class Conflict(ClusterError):
    """409: a stale resourceVersion, an existing name, or fields owned by another manager.

    For server-side apply conflicts `.causes` lists the contested fields and their managers.
    """

    default_status = 409

    @property
    def is_field_manager_conflict(self) -> bool:
        return any(cause.get("reason") == "FieldManagerConflict" for cause in self.causes)


class Invalid(ClusterError):
    """422 (or 400): the object was rejected; `.causes` holds {field, reason, message} dicts."""

    default_status = 422


class Expired(ClusterError):
    """410: a list continue token or resourceVersion is too old; restart the list."""

    default_status = 410
    retryable = True


class Unavailable(ClusterError):
    """No usable answer: timeout, dropped connection, 5xx, or 429 (`.retry_after` seconds)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class IstioNotInstalled(NotFound):
    """The Istio CRDs this operation needs are not served by the cluster."""
