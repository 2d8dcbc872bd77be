"""Is a namespace or workload ready for STRICT? A verdict from destination-side traffic.

Pure: the caller hands in what Prometheus said (totals split into mutual TLS and plaintext,
the plaintext callers, how much history Prometheus holds) and the effective mode; this
module words the verdict. It never says "ready" without traffic over the whole window.

Why STRICT gets its own verdict: a STRICT sidecar's inbound listener has filter chains for
TLS only (pilot's `getFilterChainMatchOptions`: `inboundStrict*FilterChainMatchOptions`
match transport protocol "tls"), so a plaintext connection matches no chain and Envoy closes
it before Istio's stats filter, which lives inside the chain, sees it. A refused plaintext
caller therefore leaves no destination-reported series at all; a caller with a sidecar may
show up only in its own source-reported failures (response flags such as UF).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# Istio's word for "the peer has no Istio identity": a caller without a sidecar (or from
# outside the mesh) is reported with source_workload="unknown".
UNKNOWN = "unknown"
UNKNOWN_CALLER = "unknown caller (no sidecar or outside the mesh)"


class Readiness(StrEnum):
    """The verdict's kind; the order of `READINESS_ORDER` is the namespace list's sort."""

    READY = "ready"
    NOT_READY = "not_ready"
    NO_TRAFFIC = "no_traffic"
    NOT_ENOUGH_HISTORY = "not_enough_history"
    ALREADY_STRICT = "already_strict"
    NO_DATA = "no_data"  # traffic data off, or never read successfully

    @property
    def label(self) -> str:
        return READINESS_LABELS[self]


READINESS_LABELS = {
    Readiness.READY: "Ready for STRICT",
    Readiness.NOT_READY: "Not ready",
    Readiness.NO_TRAFFIC: "No traffic seen",
    Readiness.NOT_ENOUGH_HISTORY: "Not enough history",
    Readiness.ALREADY_STRICT: "Already STRICT",
    Readiness.NO_DATA: "No traffic data",
}
READINESS_ORDER = (
    Readiness.READY,
    Readiness.NOT_READY,
    Readiness.NOT_ENOUGH_HISTORY,
    Readiness.NO_TRAFFIC,
    Readiness.ALREADY_STRICT,
    Readiness.NO_DATA,
)


@dataclass(frozen=True, slots=True)
class TrafficTotals:
    """Destination-reported volume over the window; plaintext is anything not mutual_tls."""

    mtls_requests: float = 0.0
    plaintext_requests: float = 0.0
    mtls_connections: float = 0.0
    plaintext_connections: float = 0.0

    @property
    def total(self) -> float:
        return (
            self.mtls_requests
            + self.plaintext_requests
            + self.mtls_connections
            + self.plaintext_connections
        )

    @property
    def plaintext(self) -> float:
        return self.plaintext_requests + self.plaintext_connections

    @property
    def plaintext_share(self) -> float | None:
        """Plaintext requests and connections over all of them, None without traffic."""
        return self.plaintext / self.total if self.total else None

    def __add__(self, other: TrafficTotals) -> TrafficTotals:
        return TrafficTotals(
            self.mtls_requests + other.mtls_requests,
            self.plaintext_requests + other.plaintext_requests,
            self.mtls_connections + other.mtls_connections,
            self.plaintext_connections + other.plaintext_connections,
        )


@dataclass(frozen=True, slots=True)
class Caller:
    """One source that sent plaintext to a destination workload within the window."""

    destination_namespace: str
    destination_workload: str
    source_namespace: str
    source_workload: str
    source_principal: str
    requests: float
    connections: float
    last_seen: datetime | None

    @property
    def is_unknown(self) -> bool:
        return self.source_workload in ("", UNKNOWN)

    @property
    def label(self) -> str:
        """Who it is, in words: `ns/workload`, or the unknown caller with what is known."""
        if not self.is_unknown:
            return f"{self.source_namespace}/{self.source_workload}"
        known = []
        if self.source_principal not in ("", UNKNOWN):
            known.append(f"principal {self.source_principal}")
        if self.source_namespace not in ("", UNKNOWN):
            known.append(f"namespace {self.source_namespace}")
        return UNKNOWN_CALLER + (f": {', '.join(known)}" if known else "")


@dataclass(frozen=True, slots=True)
class Verdict:
    readiness: Readiness
    sentence: str
    caveat: str = ""


def _duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} d" if hours % 24 < 1 else f"{hours / 24:.1f} d"
    if hours >= 1:
        return f"{hours:.0f} h"
    return f"{max(delta.total_seconds() / 60, 0):.0f} min"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def traffic_readiness(
    *,
    totals: TrafficTotals,
    plaintext_callers: int,
    history: timedelta,
    window: timedelta,
) -> Readiness:
    """What the traffic alone says, mode aside (stored per namespace and workload).

    Plaintext is conclusive however short the history; "ready" needs the whole window held
    and some traffic in it, all mutual TLS.
    """
    if plaintext_callers or totals.plaintext:
        return Readiness.NOT_READY
    if history < window:
        return Readiness.NOT_ENOUGH_HISTORY
    if not totals.total:
        return Readiness.NO_TRAFFIC
    return Readiness.READY


def readiness_verdict(
    *,
    mode: str,
    traffic: Readiness,
    totals: TrafficTotals,
    plaintext_callers: int,
    history: timedelta,
    window: timedelta,
) -> Verdict:
    """The verdict shown for a namespace or workload whose effective mode is `mode`."""
    held = _duration(history)
    span = _duration(window)
    share = totals.plaintext_share
    if mode == "STRICT":
        seen = (
            f"{share:.1%} of what was accepted over the last {span} was plaintext"
            if share is not None
            else f"no traffic reached it over the last {span}"
        )
        callers = (
            f" ({_count(plaintext_callers, 'plaintext caller')}, from before it became STRICT "
            "or on a port that is not)"
            if plaintext_callers
            else ""
        )
        return Verdict(
            Readiness.ALREADY_STRICT,
            f"Already STRICT: {seen}{callers}.",
            caveat=(
                "Refused callers are invisible here: a STRICT proxy closes a plaintext "
                "connection before Istio's metrics see it, so it leaves no destination-side "
                "series. A caller with a sidecar shows its failures only in its own "
                "source-reported metrics."
            ),
        )
    if traffic == Readiness.NO_DATA:
        return Verdict(Readiness.NO_DATA, "No traffic data.")
    if traffic == Readiness.NOT_READY:
        return Verdict(
            Readiness.NOT_READY,
            f"Not ready: {_count(plaintext_callers, 'plaintext caller')} over the last "
            f"{span if history >= window else held}; STRICT would refuse "
            f"{'it' if plaintext_callers == 1 else 'them'}.",
        )
    if traffic == Readiness.NOT_ENOUGH_HISTORY:
        return Verdict(
            Readiness.NOT_ENOUGH_HISTORY,
            f"Not enough history: Prometheus holds {held} of the {span} window "
            f"({'all mutual TLS so far' if totals.total else 'no traffic in it'}); "
            "a caller that runs less often may not show yet.",
        )
    if traffic == Readiness.NO_TRAFFIC:
        return Verdict(
            Readiness.NO_TRAFFIC,
            f"No traffic seen over the last {span}: no evidence either way.",
        )
    return Verdict(
        Readiness.READY,
        f"Ready for STRICT: all traffic over the last {span} was mutual TLS.",
    )
