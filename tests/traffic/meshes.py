"""Istio traffic fixtures: the series real proxies and ztunnel export, as IstioSeries.

All end at END (a fixed moment: every query passes `time=`, so cached blocks stay valid).
Names follow tests/engine's meshes: shop, web, legacy, ambient-shop, vault.
"""

from __future__ import annotations

from datetime import UTC, datetime

from devprometheus import IstioSeries
from devprometheus.openmetrics import REQUESTS, TCP_OPENED

HOUR = 3600
DAY = 24 * HOUR
END = 1_780_000_200 - 1_780_000_200 % HOUR  # 2026-05-28T20:00:00Z, a whole hour
END_AT = datetime.fromtimestamp(END, UTC)
EIGHT_DAYS_AGO = END - 8 * DAY
STEP = 300  # scrape interval of the fixtures: 5 minutes


def spiffe(namespace: str, account: str) -> str:
    return f"spiffe://cluster.local/ns/{namespace}/sa/{account}"


def mesh_series(end: int = END) -> list[IstioSeries]:
    """A sidecar mesh, an ambient namespace, a caller without sidecar, a new plaintext caller,
    a STRICT namespace, and client-side series that must never count (ending at `end`)."""
    full = {"start": end - 8 * DAY, "end": end}
    return [
        # shop: all mutual TLS (sidecars), reported by both ends; only the destination counts.
        IstioSeries(REQUESTS, "shop", "cart", "web", "frontend", spiffe("web", "frontend"), **full),
        IstioSeries(
            REQUESTS,
            "shop",
            "cart",
            "web",
            "frontend",
            "unknown",
            "unknown",
            reporter="source",
            **full,
        ),
        IstioSeries(REQUESTS, "shop", "payments", "shop", "cart", spiffe("shop", "cart"), **full),
        # legacy: a caller without a sidecar (unknown workload and principal, plaintext) and a
        # meshed caller whose DestinationRule sends plaintext.
        IstioSeries(
            REQUESTS, "legacy", "ledger", "web", "frontend", spiffe("web", "frontend"), **full
        ),
        IstioSeries(REQUESTS, "legacy", "ledger", security="none", per_scrape=2, **full),
        IstioSeries(
            TCP_OPENED,
            "legacy",
            "reports",
            "batch",
            "nightly",
            spiffe("batch", "nightly"),
            security="none",
            **full,
        ),
        # ambient-shop: ztunnel reports TCP only, "unknown" for a plaintext peer; the waypoint
        # reports requests.
        IstioSeries(
            TCP_OPENED,
            "ambient-shop",
            "orders",
            "web",
            "frontend",
            spiffe("web", "frontend"),
            **full,
        ),
        IstioSeries(
            TCP_OPENED,
            "ambient-shop",
            "orders",
            "unknown",
            "unknown",
            "unknown",
            security="unknown",
            **full,
        ),
        IstioSeries(
            REQUESTS,
            "ambient-shop",
            "orders",
            "web",
            "frontend",
            spiffe("web", "frontend"),
            reporter="waypoint",
            **full,
        ),
        IstioSeries(
            TCP_OPENED,
            "ambient-ready",
            "stock",
            "web",
            "frontend",
            spiffe("web", "frontend"),
            **full,
        ),
        # newbie: mutual TLS all along, and one plaintext request two days ago from a caller
        # never seen before (a counter born inside the window with the value 1).
        IstioSeries(
            REQUESTS, "newbie", "api", "web", "frontend", spiffe("web", "frontend"), **full
        ),
        IstioSeries(
            REQUESTS,
            "newbie",
            "api",
            "ops",
            "cron",
            spiffe("ops", "cron"),
            security="none",
            start=end - 2 * DAY,
            end=end - 2 * DAY,
        ),
        # gone-quiet: plaintext that stopped before the window: no traffic in it.
        IstioSeries(
            REQUESTS,
            "gone-quiet",
            "old",
            security="none",
            start=end - 8 * DAY,
            end=end - 7 * DAY - 6 * HOUR,
        ),
        # vault: STRICT; what is accepted is mutual TLS; a meshed caller sending plaintext
        # (DISABLE) is refused and leaves only its own source-reported failures.
        IstioSeries(REQUESTS, "vault", "secrets", "shop", "cart", spiffe("shop", "cart"), **full),
        IstioSeries(
            REQUESTS,
            "vault",
            "secrets",
            "legacy",
            "ledger",
            "unknown",
            "unknown",
            reporter="source",
            extra_labels=(("response_flags", "UF"),),
            **full,
        ),
    ]


def short_history_series() -> list[IstioSeries]:
    """Only six hours held (Istio's sample Prometheus keeps 6 h), all mutual TLS."""
    recent = {"start": END - 6 * HOUR, "end": END}
    return [
        IstioSeries(
            REQUESTS, "shop", "cart", "web", "frontend", spiffe("web", "frontend"), **recent
        ),
    ]


def short_history_with_plaintext_series() -> list[IstioSeries]:
    recent = {"start": END - 6 * HOUR, "end": END}
    return [
        *short_history_series(),
        IstioSeries(REQUESTS, "legacy", "ledger", security="none", **recent),
    ]


# The large fixture is scraped hourly, and every 5 minutes around the window's start and the
# last hour (where the queries look closely): 1,000 namespaces stay a small file.
LARGE_STEP = HOUR
LARGE_DENSE = ((END - 7 * DAY - HOUR, END - 7 * DAY + HOUR), (END - 2 * HOUR, END))


def large_mesh_series(namespaces: int = 1000) -> list[IstioSeries]:
    """`namespaces` namespaces of three workloads: a chain of mutual TLS calls, every tenth
    namespace with a plaintext caller without sidecar, every seventh on TCP."""
    full = {"start": EIGHT_DAYS_AGO, "end": END, "compact": True}
    series = []
    for index in range(namespaces):
        ns = f"team-{index:04d}"
        metric = TCP_OPENED if index % 7 == 0 else REQUESTS
        series += [
            IstioSeries(
                metric, ns, "api", "ingress", "gateway", spiffe("ingress", "gateway"), **full
            ),
            IstioSeries(metric, ns, "db", ns, "api", spiffe(ns, "api"), **full),
            IstioSeries(metric, ns, "cache", ns, "api", spiffe(ns, "api"), **full),
        ]
        if index % 10 == 0:
            series.append(IstioSeries(metric, ns, "db", security="none", **full))
    return series
