"""Fault injection: the next N matching requests fail, stall or lose their connection."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

_REASONS = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", None),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "The resourceVersion for the provided list is too old."),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected by devcluster"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "the server was unable to return a response in the time allotted, but may still be "
        "processing the request",
    ),
}


@dataclass
class Fault:
    """One rule. `action` is an HTTP status code, "slow" or "drop"."""

    action: int | str
    verb: str = "*"
    resource: str = "*"
    namespace: str | None = None
    name: str | None = None
    times: int = 1
    delay: float = 0.0
    retry_after: int = 1
    message: str | None = None

    def matches(
        self, verb: str, plural: str, group: str, namespace: str | None, name: str | None
    ) -> bool:
        # An apply is a PATCH to kube (verb "patch"); "apply" narrows a rule to applies only.
        if self.verb not in ("*", verb) and not (self.verb == "patch" and verb == "apply"):
            return False
        if self.resource != "*" and self.resource not in (
            plural,
            f"{plural}.{group}" if group else plural,
        ):
            return False
        if self.namespace is not None and self.namespace != namespace:
            return False
        return self.name is None or self.name == name

    def error(self, verb: str, plural: str, group: str, namespace: str | None) -> ApiError:
        code = int(self.action)
        reason, default = _REASONS.get(code, ("InternalError", f"injected failure {code}"))
        message = self.message or default
        if code == 403 and not self.message:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            message = (
                f"{plural}{'.' + group if group else ''} is forbidden: User "
                f'"system:serviceaccount:meshui:meshui" cannot {verb} resource "{plural}" in API '
                f'group "{group}" {scope}'
            )
        details: dict[str, Any] | None = {}
        headers = {}
        if code == 429:
            details = {"retryAfterSeconds": self.retry_after}
            headers["Retry-After"] = str(self.retry_after)
        if code == 401:
            details = None
        return ApiError(code, reason, message, details, headers=headers)


class FaultPlan:
    """The pending faults, consumed first-come first-served (thread-safe)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if not (isinstance(fault.action, int) or fault.action in ("slow", "drop")):
            raise ValueError(
                f"unknown fault action {fault.action!r}: a status code, 'slow' or 'drop'"
            )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(
        self, verb: str, plural: str, group: str, namespace: str | None, name: str | None
    ) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(verb, plural, group, namespace, name):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None
