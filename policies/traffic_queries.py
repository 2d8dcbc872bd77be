"""The PromQL meshui runs against Istio's standard metrics (issue 14), in one place.

Only destination-reported series count: `reporter="destination"` (sidecars and ztunnel) and
`reporter="waypoint"` (ambient's L7 proxy). The client side reports
`connection_security_policy="unknown"` for everything and would count each call twice.
Anything not `mutual_tls` is plaintext: sidecars say `none`, ztunnel says `unknown`.

A refresh runs a fixed number of aggregate queries, whatever the mesh's size (see
`refresh_queries`); a preview runs one, limited to the namespaces it changes.

How volume is counted (`_volume`): `increase(c[w])` needs two samples of a series inside
the window, so a counter that first appeared inside it with one request (a new plaintext
caller, the one that matters most) reads 0 or nothing. Istio creates a counter at its first
request, so a series absent at the window's start holds, at its last sample, everything it
counted: `last_over_time(c[w]) unless last_over_time(c[15m] offset w)` gives those series
their whole value, and `or increase(c[w])` adds every older series (`or` keeps the left
side's series where both match). The 15 minutes look back past a scrape or two at the
window's start, for scrape intervals up to 15 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUESTS = "istio_requests_total"
TCP_CONNECTIONS = "istio_tcp_connections_opened_total"
METRICS = (REQUESTS, TCP_CONNECTIONS)
DESTINATION_REPORTERS = 'reporter=~"destination|waypoint"'
PLAINTEXT = 'connection_security_policy!="mutual_tls"'
PRESENCE_LOOKBACK = "15m"
# Resolution of "last seen": the newest hour in which a plaintext counter grew.
LAST_SEEN_STEP = "1h"

DESTINATION = ("destination_workload_namespace", "destination_workload")
SOURCE = ("source_workload_namespace", "source_workload", "source_principal")


def promql_duration(seconds: int) -> str:
    """A PromQL duration for whole seconds, in the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _matchers(*extra: str) -> str:
    return ",".join((DESTINATION_REPORTERS, *extra))


def _namespace_matcher(namespaces: tuple[str, ...]) -> str:
    # Namespace names are DNS labels (a-z, 0-9, -): nothing to escape in a regex.
    return f'destination_workload_namespace=~"{"|".join(sorted(namespaces))}"'


def _volume(metric: str, matchers: str, window: str, *, births_gone_since: bool = True) -> str:
    """Each series' volume over the window (see the module's docstring).

    `births_gone_since=False` reads a born series' value at the window's end only (`c` instead
    of `last_over_time(c[w])`): one scan of the window's samples instead of two, for the
    totals, which are large; a counter born and gone within the window is then missed there,
    but never by the callers query, which keeps the full form.
    """
    selector = f"{metric}{{{matchers}}}"
    born = f"last_over_time({selector}[{window}])" if births_gone_since else selector
    return (
        f"({born} unless last_over_time({selector}[{PRESENCE_LOOKBACK}] offset {window})) "
        f"or increase({selector}[{window}])"
    )


@dataclass(frozen=True)
class TrafficQuery:
    """One PromQL query and what its result rows mean."""

    purpose: str  # "totals", "callers", "last_seen", "history"
    metric: str
    promql: str


def totals_query(metric: str, window: str, namespaces: tuple[str, ...] = ()) -> TrafficQuery:
    """Volume per destination workload, split by connection_security_policy."""
    extra = (_namespace_matcher(namespaces),) if namespaces else ()
    by = ", ".join((*DESTINATION, "connection_security_policy"))
    return TrafficQuery(
        "totals",
        metric,
        f"sum by ({by}) ({_volume(metric, _matchers(*extra), window, births_gone_since=False)})"
        " > 0",
    )


def callers_query(metric: str, window: str, namespaces: tuple[str, ...] = ()) -> TrafficQuery:
    """Plaintext volume per (destination workload, source workload, source principal)."""
    extra = (PLAINTEXT, _namespace_matcher(namespaces)) if namespaces else (PLAINTEXT,)
    by = ", ".join((*DESTINATION, *SOURCE))
    return TrafficQuery(
        "callers", metric, f"sum by ({by}) ({_volume(metric, _matchers(*extra), window)}) > 0"
    )


def last_seen_query(metric: str, window: str, namespaces: tuple[str, ...] = ()) -> TrafficQuery:
    """When each plaintext caller was last seen: the newest hour its counter grew in.

    A subquery over the window at one-hour steps; a counter grew in an hour when its increase
    there is positive or it first appeared in it (the same reasoning as `_volume`).
    """
    extra = (PLAINTEXT, _namespace_matcher(namespaces)) if namespaces else (PLAINTEXT,)
    selector = f"{metric}{{{_matchers(*extra)}}}"
    step = LAST_SEEN_STEP
    grew = (
        f"increase({selector}[{step}]) > 0 or (last_over_time({selector}[{step}]) "
        f"unless last_over_time({selector}[{PRESENCE_LOOKBACK}] offset {step}))"
    )
    by = ", ".join((*DESTINATION, *SOURCE))
    return TrafficQuery(
        "last_seen",
        metric,
        f"max by ({by}) (max_over_time(timestamp({grew})[{window}:{step}]))",
    )


def _any_istio_series() -> str:
    names = "|".join(METRICS)
    return f'{{__name__=~"{names}",{DESTINATION_REPORTERS}}}'


def history_covers_query(window_seconds: int) -> TrafficQuery:
    """Any Istio sample within the window's first hour: then Prometheus holds all of it."""
    offset = promql_duration(window_seconds - 3600)
    return TrafficQuery(
        "history", "", f"count(last_over_time({_any_istio_series()}[1h] offset {offset}))"
    )


def history_oldest_query(window: str) -> TrafficQuery:
    """The oldest moment within the window (15-minute steps) at which any Istio series existed;
    run only when the window is not all held, so it reads little."""
    return TrafficQuery(
        "history_oldest",
        "",
        f"min_over_time(timestamp(count({_any_istio_series()}))[{window}:15m])",
    )


def refresh_queries(window_seconds: int) -> list[TrafficQuery]:
    """The refresh's queries (the history check comes first and may add one more)."""
    window = promql_duration(window_seconds)
    queries = [history_covers_query(window_seconds)]
    for metric in METRICS:
        queries += [
            totals_query(metric, window),
            callers_query(metric, window),
            last_seen_query(metric, window),
        ]
    return queries


def preview_query(window_seconds: int, namespaces: tuple[str, ...]) -> TrafficQuery:
    """The preview's one targeted read: plaintext callers into these namespaces only, requests
    and connections told apart by a `metric` label."""
    window = promql_duration(window_seconds)
    parts = [
        f'label_replace(({callers_query(metric, window, namespaces).promql}), "metric", '
        f'"{metric}", "", "")'
        for metric in METRICS
    ]
    return TrafficQuery("preview", "", " or ".join(parts))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def window_seconds_parse(text: str) -> int:
    """Seconds in a window such as `7d`, `36h` or `90m`; ValueError in words otherwise."""
    raw = text.strip().lower()
    number, unit = raw[:-1], raw[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise ValueError(f"MESHUI_TRAFFIC_WINDOW={text!r} is not a duration such as 7d, 36h or 90m")
    seconds = int(number) * _UNITS[unit]
    if seconds < 3600:
        raise ValueError(f"MESHUI_TRAFFIC_WINDOW={text!r} is shorter than an hour")
    return seconds
