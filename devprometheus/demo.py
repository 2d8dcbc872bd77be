"""Traffic for `make run`'s demo mesh (devcluster/seeds/demo), ending now.

What it shows: shop (PERMISSIVE) is all mutual TLS, so ready for STRICT; legacy (DISABLE)
takes plaintext from shop/cart (its DestinationRule sends plaintext) and from batch's
nightly report (no sidecar), so it is not; payments and reviews (ambient: ztunnel's TCP
metrics and the waypoint's requests) are already STRICT; inventory has no sidecars, so no
proxy reports its traffic: no traffic seen.
"""

from __future__ import annotations

from devprometheus.openmetrics import REQUESTS, TCP_OPENED, IstioSeries

DAY = 86400
STEP = 300


def _spiffe(namespace: str, account: str) -> str:
    return f"spiffe://cluster.local/ns/{namespace}/sa/{account}"


def demo_series(end: int) -> list[IstioSeries]:
    full = {"start": end - 8 * DAY, "end": end}

    def mtls(metric, namespace, workload, source_namespace, source_workload, per_scrape=3):
        return IstioSeries(
            metric,
            namespace,
            workload,
            source_namespace,
            source_workload,
            _spiffe(source_namespace, source_workload),
            per_scrape=per_scrape,
            **full,
        )

    return [
        mtls(REQUESTS, "shop", "frontend", "istio-system", "istio-ingressgateway", 40),
        mtls(REQUESTS, "shop", "cart", "shop", "frontend", 25),
        mtls(REQUESTS, "shop", "checkout", "shop", "frontend", 8),
        mtls(REQUESTS, "payments", "api", "shop", "checkout", 8),
        mtls(REQUESTS, "payments", "ledger", "payments", "api", 8),
        mtls(TCP_OPENED, "reviews", "reviews", "shop", "frontend", 12),
        mtls(TCP_OPENED, "reviews", "ratings", "reviews", "reviews", 12),
        mtls(REQUESTS, "reviews", "reviews", "shop", "frontend", 30),
        # legacy is DISABLE: sidecars report "none"; HTTP metadata exchange still names cart.
        IstioSeries(
            REQUESTS,
            "legacy",
            "mainframe-bridge",
            "shop",
            "cart",
            "unknown",
            "none",
            per_scrape=5,
            **full,
        ),
        # The nightly report (no sidecar) calls the bridge once a night: a counter born
        # inside the window, one request at a time.
        IstioSeries(
            REQUESTS,
            "legacy",
            "mainframe-bridge",
            "unknown",
            "unknown",
            "unknown",
            "none",
            start=end - 20 * 3600,
            end=end - 20 * 3600,
        ),
    ]
