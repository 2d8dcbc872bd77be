"""Prometheus gauges read from the current snapshot at scrape time, and who may scrape them.

A custom collector (not module-level Gauge objects) so every scrape reports what the
database holds now, from any process: the web workers don't run the syncs.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from policies.engine import Mode
from policies.models import NamespaceRecord, Snapshot, SyncRun, TimedRestore
from policies.selectors.fleet import fleet_members, fleet_scope
from policies.selectors.reports import exemptions_at
from policies.selectors.restores import restores_overdue
from policies.selectors.sync import snapshot_current
from policies.selectors.traffic import traffic_status, with_readiness

MODES = (Mode.STRICT, Mode.PERMISSIVE, Mode.DISABLE)
logger = logging.getLogger(__name__)


def mode_counts(snapshot: Snapshot | None, prefix: str) -> dict[str, int]:
    if snapshot is None:
        return dict.fromkeys(MODES, 0)
    return {mode: getattr(snapshot, f"{prefix}_{mode.lower()}") for mode in MODES}


class PostureCollector(Collector):
    """Gauges for the posture (current snapshot), exemptions, timed restores and sync health.

    With a fleet (any registered cluster), every per-cluster gauge carries a `cluster` label
    (last, after the others), one series per cluster; a meshui of one cluster exposes the
    series it always did, without the label.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        members = fleet_members()
        labelled = not (len(members) == 1 and members[0].is_configured)
        clusters = []
        for member in members:
            with fleet_scope(member):
                clusters.append((member, snapshot_current()))
        extra = ["cluster"] if labelled else []

        def labels(member, *values: str) -> list[str]:
            return [*values, member.name] if labelled else list(values)

        namespaces = GaugeMetricFamily(
            "meshui_namespaces",
            "Namespaces in the current snapshot, by effective mTLS mode.",
            labels=["mode", *extra],
        )
        workloads = GaugeMetricFamily(
            "meshui_workloads",
            "Workloads in the current snapshot, by effective mTLS mode.",
            labels=["mode", *extra],
        )
        with_sidecar = GaugeMetricFamily(
            "meshui_workloads_with_sidecar",
            "Workloads in the current snapshot whose pods carry an Istio sidecar.",
            labels=extra,
        )
        # Absent (rather than 0) for a snapshot taken before they were recorded, so an
        # upgrade never looks like coverage falling to nothing.
        enforced = GaugeMetricFamily(
            "meshui_workloads_strict_enforced",
            "Workloads every port of which is STRICT by policy and a sidecar or ztunnel "
            "enforces it (the coverage headline).",
            labels=extra,
        )
        declared = GaugeMetricFamily(
            "meshui_workloads_strict_declared",
            "Workloads every port of which is STRICT by policy, enforced or not.",
            labels=extra,
        )
        total = GaugeMetricFamily(
            "meshui_workloads_total",
            "Workloads in the current snapshot (the denominator of the coverage shares).",
            labels=extra,
        )
        for member, snapshot in clusters:
            if snapshot is not None and snapshot.workloads_strict_enforced is not None:
                enforced.add_metric(labels(member), snapshot.workloads_strict_enforced)
                declared.add_metric(labels(member), snapshot.workloads_strict_declared)
            total.add_metric(labels(member), snapshot.workloads_total if snapshot else 0)
        if enforced.samples:
            yield enforced
            yield declared
        yield total
        findings = GaugeMetricFamily(
            "meshui_findings",
            "Findings in the current snapshot, by code and severity.",
            labels=["code", "severity", *extra],
        )
        for member, snapshot in clusters:
            for mode, count in mode_counts(snapshot, "namespaces").items():
                namespaces.add_metric(labels(member, mode), count)
            for mode, count in mode_counts(snapshot, "workloads").items():
                workloads.add_metric(labels(member, mode), count)
            with_sidecar.add_metric(
                labels(member), snapshot.workloads_with_sidecar if snapshot else 0
            )
            if snapshot is not None:
                counted = snapshot.findings.values("code", "severity").annotate(count=Count("id"))
                for row in counted.order_by("code", "severity"):
                    findings.add_metric(labels(member, row["code"], row["severity"]), row["count"])
        yield namespaces
        yield workloads
        yield with_sidecar
        yield findings

        state = exemptions_at(at=now)
        exemptions = GaugeMetricFamily(
            "meshui_exemptions",
            "Exemptions by state: valid now, or expired and neither revoked nor renewed.",
            labels=["state"],
        )
        exemptions.add_metric(["valid"], len(state.in_force))
        exemptions.add_metric(["expired"], len(state.expired))
        yield exemptions

        overdue = restores_overdue(now=now)
        yield GaugeMetricFamily(
            "meshui_timed_restores_overdue",
            "Timed namespace-mode restores past due by more than one sweep interval (not run: "
            "nothing ran them, or the cluster refused or did not answer).",
            value=len(overdue),
        )
        yield GaugeMetricFamily(
            "meshui_timed_restores_pending",
            "Timed namespace-mode restores still to run.",
            value=TimedRestore.objects.filter(status=TimedRestore.Status.PENDING).count(),
        )

        families = {}
        for member, snapshot in clusters:
            with fleet_scope(member):
                for family in self.sync_metrics(snapshot, extra=extra, label=labels(member)):
                    if family.name in families:
                        families[family.name].samples.extend(family.samples)
                    else:
                        families[family.name] = family
        yield from families.values()
        # Traffic comes from the one Prometheus of the configured cluster (issue 14).
        configured = next((snap for member, snap in clusters if member.is_configured), None)
        yield from self.traffic_metrics(configured)

    def traffic_metrics(self, snapshot: Snapshot | None) -> Iterable[GaugeMetricFamily]:
        """Readiness for STRICT per namespace count (issue 14); nothing while traffic is off."""
        status = traffic_status()
        if not status.enabled:
            return
        readiness = GaugeMetricFamily(
            "meshui_namespaces_readiness",
            "Namespaces in the current snapshot per readiness for STRICT, from traffic.",
            labels=["readiness", "mode"],
        )
        if snapshot is not None:
            rows = with_readiness(NamespaceRecord.objects.filter(snapshot=snapshot), status)
            counts = rows.values("readiness", "mode").annotate(count=Count("id"))
            for row in counts.order_by("readiness", "mode"):
                readiness.add_metric([row["readiness"], row["mode"]], row["count"])
        yield readiness
        if status.read is not None:
            yield GaugeMetricFamily(
                "meshui_traffic_read_timestamp_seconds",
                "When the traffic shown was read from Prometheus (Unix time).",
                value=status.read.at.timestamp(),
            )
        yield GaugeMetricFamily(
            "meshui_traffic_read_failing",
            "1 when the latest traffic read from Prometheus failed, else 0.",
            value=1 if status.failure is not None else 0,
        )

    def sync_metrics(
        self, snapshot: Snapshot | None, *, extra: list[str], label: list[str]
    ) -> Iterable[GaugeMetricFamily]:
        """Sync health of the cluster in scope; `label` its label values (or none)."""

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, documentation, labels=extra)
            family.add_metric(label, value)
            return family

        good = (SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE)
        runs = SyncRun.objects.in_scope()
        last_success = (
            runs.filter(status__in=good, finished_at__isnull=False)
            .order_by("-finished_at", "-id")
            .first()
        )
        if last_success is not None:
            yield gauge(
                "meshui_last_sync_success_timestamp_seconds",
                "When the last successful sync finished (Unix time).",
                last_success.finished_at.timestamp(),
            )
            yield gauge(
                "meshui_last_sync_duration_seconds",
                "How long the last successful sync took.",
                (last_success.duration_ms or 0) / 1000,
            )
        if snapshot is not None:
            yield gauge(
                "meshui_snapshot_timestamp_seconds",
                "When the current snapshot was taken (Unix time).",
                snapshot.taken_at.timestamp(),
            )
        failures = runs.filter(status=SyncRun.Status.FAILED)
        if last_success is not None:
            failures = failures.filter(started_at__gt=last_success.started_at)
        failed = failures.aggregate(count=Count("id"), last=Max("started_at"))
        yield gauge(
            "meshui_sync_consecutive_failures",
            "Failed syncs since the last successful one (0 when the last sync succeeded).",
            failed["count"],
        )
        yield gauge(
            "meshui_sync_failures",
            "Failed syncs still in the history (pruned with snapshot retention).",
            runs.filter(status=SyncRun.Status.FAILED).count(),
        )
        if failed["last"] is not None:
            yield gauge(
                "meshui_last_sync_failure_timestamp_seconds",
                "When the newest failed sync since the last success started (Unix time).",
                failed["last"].timestamp(),
            )


def metrics_text() -> bytes:
    """The exposition text of a fresh registry holding only meshui's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PostureCollector())
    return generate_latest(registry)


# --- Who may scrape -------------------------------------------------------------------------


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def address_allowed(address: str, networks: Iterable[str]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if client in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            # A typo in the setting must never open the endpoint: skip the entry, say so.
            logger.warning("MESHUI_METRICS_NETWORKS: %r is not a network; ignored", network)
            continue
    return False


def scrape_refusal(*, authorization: str, remote_addr: str) -> str | None:
    """Why a scrape is refused, or None when it may proceed.

    A bearer token (MESHUI_METRICS_TOKEN) or a client address inside MESHUI_METRICS_NETWORKS
    lets a scrape in. With neither configured the endpoint stays shut. The address is the
    socket's REMOTE_ADDR, never X-Forwarded-For, which any client can write.
    """
    token = settings.MESHUI_METRICS_TOKEN
    networks = settings.MESHUI_METRICS_NETWORKS
    if not token and not networks:
        return (
            "The metrics endpoint is disabled: set MESHUI_METRICS_TOKEN or "
            "MESHUI_METRICS_NETWORKS to allow scrapes."
        )
    presented = bearer_token(authorization)
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return None
    if networks and address_allowed(remote_addr, networks):
        return None
    if token and presented:
        return "The bearer token is not the metrics token."
    return "Scraping needs 'Authorization: Bearer <MESHUI_METRICS_TOKEN>' or an allowed network."
