"""meshui's own errors for what the Kubernetes API says, and the translation into them.

The gateway raises these `from` the client's exception, keeping the API server's own words in
`.message` so a page or a command can show them to a person. Code outside the gateway catches
these, never `kubernetes.client.ApiException`.
"""

from __future__ import annotations

import json

import orjson
import urllib3
from django.conf import settings
from kubernetes.client.exceptions import ApiException

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
            "OutcomeUnknown": "No answer",
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


class OutcomeUnknown(Unavailable):
    """The request may have reached the API server, but no answer came back (a timeout after
    sending, a dropped connection, a 504): whether a write took effect is not known until the
    object is read again."""


class IstioNotInstalled(NotFound):
    """The Istio CRDs this operation needs are not served by the cluster."""


# --- Translating the client's exceptions ---------------------------------------------------


def _status_body(error: ApiException) -> dict:
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(error: ApiException, status: dict) -> float | None:
    header = (error.headers or {}).get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    seconds = (status.get("details") or {}).get("retryAfterSeconds")
    return float(seconds) if isinstance(seconds, int | float) else None


def _domain_error(error: Exception, operation: str) -> ClusterError:
    """Translate a client or transport exception into meshui's own error."""
    if isinstance(error, ClusterError):
        return error
    if isinstance(error, ApiException):
        status = _status_body(error)
        message = status.get("message") or (error.body or "").strip() or error.reason or ""
        causes = list((status.get("details") or {}).get("causes") or [])
        code = error.status or 0
        kwargs = {
            "status": code,
            "reason": status.get("reason", ""),
            "causes": causes,
            "operation": operation,
        }
        if code == 0:
            return Unavailable(f"No answer from the API server: {message}", **kwargs)
        error_class = {
            401: Unauthorized,
            403: Forbidden,
            404: NotFound,
            409: Conflict,
            410: Expired,
            400: Invalid,
            422: Invalid,
        }.get(code)
        if error_class:
            return error_class(message or f"HTTP {code}", **kwargs)
        if code == 429:
            retry_after = _retry_after(error, status)
            wait = f" (asked to wait {retry_after:g} s)" if retry_after is not None else ""
            return Unavailable(
                f"The API server is rate limiting meshui: {message or 'Too Many Requests'}{wait}",
                retry_after=retry_after,
                **kwargs,
            )
        if code == 504:
            # kube-apiserver's own words: "may still be processing the request".
            return OutcomeUnknown(
                f"The API server timed out (HTTP 504): {message or error.reason}", **kwargs
            )
        if code >= 500:
            return Unavailable(
                f"The API server failed (HTTP {code}): {message or error.reason}",
                retry_after=_retry_after(error, status),
                **kwargs,
            )
        return ClusterError(message or f"HTTP {code}", **kwargs)
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        return _domain_error(error.reason, operation)
    # NewConnectionError is a kind of urllib3 TimeoutError: test for it first.
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return Unavailable(f"Could not connect to the API server: {error}", operation=operation)
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return Unavailable(
            "The API server did not accept a connection within "
            f"{settings.MESHUI_KUBE_TIMEOUT_SECONDS} s (MESHUI_KUBE_TIMEOUT_SECONDS).",
            operation=operation,
        )
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        # Connected, so the request may have been sent: a write's fate is unknown.
        return OutcomeUnknown(
            "The API server did not answer within "
            f"{settings.MESHUI_KUBE_TIMEOUT_SECONDS} s (MESHUI_KUBE_TIMEOUT_SECONDS).",
            operation=operation,
        )
    if isinstance(
        error,
        urllib3.exceptions.ProtocolError | urllib3.exceptions.HTTPError | ConnectionError,
    ):
        return OutcomeUnknown(
            f"The connection to the API server was dropped: {error}", operation=operation
        )
    if isinstance(error, ValueError):  # a body that is not JSON
        return Unavailable(
            f"The API server sent an unreadable answer: {error}", operation=operation
        )
    return ClusterError(str(error), operation=operation)


_TRANSPORT_ERRORS = (
    ApiException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,
    orjson.JSONDecodeError,
)
