"""CSV and JSON exports of a report: namespaces, workloads, findings, the audit log, the whole.

Writers are generators of text chunks, so a 10,000-namespace snapshot streams to the client
(or a file) row by row instead of being built in memory. Column names are a published
interface (README, "Export columns"): add columns at the end, never rename or reorder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from policies.audit_modes import mode_change
from policies.models import Snapshot
from policies.selectors.fleet import configured_cluster_name
from policies.selectors.reports import (
    ExemptionsAt,
    audit_entries_between,
    coverage_of,
    exemptions_at,
    findings_with_exemptions,
    reason_chain_text,
    snapshot_at,
)
from policies.selectors.traffic import TrafficStatus, traffic_status_at, with_readiness
from policies.spreadsheet import FORMULA_TRIGGERS, spreadsheet_safe  # noqa: F401 (re-exported)

NAMESPACE_COLUMNS = (
    "name",
    "mode",
    "source",
    "policy",
    "injection",
    "is_root",
    "workloads_total",
    "workloads_strict",
    "workloads_permissive",
    "workloads_disable",
    "workloads_with_port_exceptions",
    "workloads_with_sidecar",
    "findings_count",
    "exempt",
    "exemption_owner",
    "exemption_expires_at",
    "reason_chain",
    # Issue 14: from the traffic read in force at the report's time ("no_data" without one).
    "readiness",
    "plaintext_share",
    # Added in 0.2 (coverage that counts what is enforced, policies/engine/coverage.py).
    "workloads_strict_declared",
    "workloads_strict_enforced",
    # Added with the fleet (issue 16): the cluster the row describes, always last.
    "cluster",
)
WORKLOAD_COLUMNS = (
    "namespace",
    "name",
    "kind",
    "mode",
    "source",
    "policy",
    "ports",
    "has_sidecar",
    "ambient",
    "findings_count",
    "exempt",
    "exemption_owner",
    "exemption_expires_at",
    "reason_chain",
    "readiness",
    "plaintext_share",
    # Added in 0.2: empty for snapshots taken before coverage was recorded.
    "strict_declared",
    "strict_enforced",
    "coverage_rule",
    "host_network",
    # Added with the fleet (issue 16): the cluster the row describes, always last.
    "cluster",
)
# `cluster` (issue 16): the cluster of the fleet a row comes from, last as columns are added.
FINDING_COLUMNS = ("severity", "code", "namespace", "name", "kind", "message", "cluster")
# The audit log has one CSV shape across meshui: the audit page's export and this one.
AUDIT_COLUMNS = (
    "id",
    "created_at",
    "username",
    "role",
    "action",
    "target_kind",
    "target_namespace",
    "target_name",
    "reason",
    "outcome",
    "error",
    "dry_run_result",
    "restore_of",
    # Added with change groups: the change an attempt belongs to, and the mode it moved.
    "change_id",
    "mode_from",
    "mode_to",
    # Added with the fleet (issue 16): the cluster the row describes, always last.
    "cluster",
)
# Columns computed from what the entry recorded, not stored as they are.
AUDIT_COMPUTED = ("restore_of", "mode_from", "mode_to")
TABLE_COLUMNS = {
    "namespaces": NAMESPACE_COLUMNS,
    "workloads": WORKLOAD_COLUMNS,
    "findings": FINDING_COLUMNS,
    "audit": AUDIT_COLUMNS,
}
TABLES = tuple(TABLE_COLUMNS)
FORMATS = ("csv", "json")


def iso(moment: datetime | None) -> str | None:
    """UTC, second precision, with a Z: the one timestamp format of every export."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ExportScope:
    """What an export covers: the snapshot in force at `at`, audit entries since `since`."""

    at: datetime
    since: datetime
    snapshot: Snapshot
    exemptions: ExemptionsAt
    traffic: TrafficStatus
    # The audit entries' clusters the reader may see (AuditEntry.cluster; None: every one).
    audit_clusters: tuple[str, ...] | None = None


def export_scope(
    *, at: datetime, since: datetime, audit_clusters: list[str] | None = None
) -> ExportScope | None:
    """The snapshot in force at `at` in the cluster in scope, and what goes with it."""
    snapshot = snapshot_at(at=at)
    if snapshot is None:
        return None
    return ExportScope(
        at=at,
        since=since,
        snapshot=snapshot,
        exemptions=exemptions_at(at=at),
        traffic=traffic_status_at(at=at),
        audit_clusters=None if audit_clusters is None else tuple(audit_clusters),
    )


def exemption_fields(exemption) -> dict:
    return {
        "exempt": exemption is not None,
        "exemption_owner": exemption.owner if exemption else "",
        "exemption_expires_at": iso(exemption.expires_at) if exemption else None,
    }


# --- Rows: one dict per row, keys = JSON field names (CSV columns are a subset) -------------


# Fields added after 0.1, in the order they were added: every export keeps them last, so a
# reader of the older fields (by position in CSV, by order in JSON) sees nothing move.
APPENDED_FIELDS = (
    "readiness",
    "plaintext_share",
    "workloads_strict_declared",
    "workloads_strict_enforced",
    "strict_declared",
    "strict_enforced",
    "coverage_rule",
    "host_network",
)


def appended_last(values: dict) -> dict:
    for key in APPENDED_FIELDS:
        if key in values:
            values[key] = values.pop(key)
    return values


def namespace_rows(scope: ExportScope) -> Iterator[dict]:
    fields = (
        ("name", "mode", "policy", "source", "reason")
        + NAMESPACE_COLUMNS[4:13]
        + ("workloads_strict_declared", "workloads_strict_enforced")
        + ("readiness", "plaintext_share")
    )
    rows = with_readiness(scope.snapshot.namespaces.all(), scope.traffic)
    for values in rows.order_by("name").values(*fields).iterator(2000):
        values["policy"] = values["policy"] or None
        values.update(exemption_fields(scope.exemptions.for_namespace(values["name"])))
        yield appended_last(values)


WORKLOAD_FIELDS = (
    "namespace",
    "name",
    "kind",
    "mode",
    "policy",
    "source",
    "ports",
    "reason",
    "container_ports",
    "has_sidecar",
    "ambient",
    "findings_count",
    "readiness",
    "plaintext_share",
    "strict_declared",
    "strict_enforced",
    "coverage_rule",
    "host_network",
)


def workload_rows(
    scope: ExportScope, *, fields: tuple[str, ...] = WORKLOAD_FIELDS
) -> Iterator[dict]:
    rows = with_readiness(scope.snapshot.workloads.all(), scope.traffic, workloads=True)
    rows = rows.order_by("namespace", "name", "kind").values(*fields)
    for values in rows.iterator(2000):
        yield appended_last(workload_values(values, scope.exemptions))


def workload_values(values: dict, exemptions: ExemptionsAt) -> dict:
    """A workload row's stored values as the exports show them (the workloads list's CSV
    uses it too, so both files have one shape)."""
    reason = values["reason"] or {}
    values["policy"] = values["policy"] or None
    values["port_reasons"] = reason.get("ports") or {}
    values["reason"] = {key: value for key, value in reason.items() if key != "ports"}
    values.update(exemption_fields(exemptions.for_workload(values["namespace"], values["name"])))
    return values


def finding_rows(scope: ExportScope) -> Iterator[dict]:
    for row in findings_with_exemptions(scope.snapshot, scope.exemptions):
        yield {
            "code": row.code,
            "severity": row.severity,
            "namespace": row.namespace,
            "name": row.name,
            "kind": row.kind,
            "message": row.message,
        }


AUDIT_STORED = [column for column in AUDIT_COLUMNS if column not in AUDIT_COMPUTED] + [
    "restore_of_id",
    "object_sent",
    "object_before",
]


def audit_values(values: dict, *, configured_cluster: str) -> dict:
    """An entry's stored values (AUDIT_STORED) as the exports show them: every column.

    An entry without a cluster went to the configured one (`configured_cluster`)."""
    values["created_at"] = iso(values["created_at"])
    values["cluster"] = values["cluster"] or configured_cluster
    values["restore_of"] = values.pop("restore_of_id")
    values["mode_from"], values["mode_to"] = mode_change(
        object_sent=values.pop("object_sent"),
        object_before=values.pop("object_before"),
        outcome=values["outcome"],
    )
    return values


def audit_rows(scope: ExportScope) -> Iterator[dict]:
    entries = audit_entries_between(
        start=scope.since, end=scope.at, clusters=scope.audit_clusters
    ).values(*AUDIT_STORED)
    configured = configured_cluster_name()
    for values in entries.iterator(2000):
        yield audit_values(values, configured_cluster=configured)


ROW_SOURCES = {
    "namespaces": namespace_rows,
    "workloads": workload_rows,
    "findings": finding_rows,
    "audit": audit_rows,
}


def csv_cell(column: str, row: dict):
    if column == "reason_chain":
        return reason_chain_text(row.get("reason") or {})
    if column == "ports":
        ports = row.get("ports") or {}
        return " ".join(f"{port}={mode}" for port, mode in sorted(ports.items(), key=port_order))
    return row.get(column)


def port_order(item) -> int:
    return int(item[0]) if str(item[0]).isdigit() else 0


class LineBuffer:
    """A write() target for csv.writer that hands each formatted line back."""

    def write(self, line: str) -> str:
        return line


def csv_chunks(columns: Iterable[str], rows: Iterable[dict]) -> Iterator[str]:
    """The header line, then one line per row, every cell spreadsheet-safe."""
    columns = tuple(columns)
    writer = csv.writer(LineBuffer())
    yield writer.writerow(columns)
    batch = []
    for row in rows:
        batch.append(
            writer.writerow([spreadsheet_safe(csv_cell(column, row)) for column in columns])
        )
        if len(batch) >= 500:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def json_value(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=False, default=str)


def json_array_chunks(rows: Iterable[dict]) -> Iterator[str]:
    yield "["
    batch = []
    for index, row in enumerate(rows):
        batch.append(("," if index else "") + "\n  " + json_value(row))
        if len(batch) >= 500:
            yield "".join(batch)
            batch = []
    yield "".join(batch) + "\n]"


def table_chunks(table: str, fmt: str, scope: ExportScope) -> Iterator[str]:
    """One table (namespaces, workloads, findings, audit) as CSV or a JSON array."""
    if fmt == "csv" and table == "workloads":
        # The CSV has no container_ports column: not decoding that JSON saves a tenth.
        fields = tuple(field for field in WORKLOAD_FIELDS if field != "container_ports")
        rows = with_cluster(workload_rows(scope, fields=fields), scope)
        return csv_chunks(TABLE_COLUMNS[table], rows)
    rows = ROW_SOURCES[table](scope)
    if fmt == "csv":
        return csv_chunks(TABLE_COLUMNS[table], with_cluster(rows, scope))
    return json_array_chunks(rows)


def fleet_table_chunks(table: str, fmt: str, scopes: list[ExportScope]) -> Iterator[str]:
    """One table over every cluster (`?cluster=all`): each cluster's rows in turn, the
    clusters in the fleet's order, every row naming its cluster (in JSON too, since one
    document holds several). The audit table is the log's, once: entries name their cluster.
    `scopes` are read already, one per cluster, so streaming needs no cluster scope."""

    def rows() -> Iterator[dict]:
        if table == "audit":
            yield from audit_rows(scopes[0])
            return
        for scope in scopes:
            for row in ROW_SOURCES[table](scope):
                row.setdefault("cluster", scope.snapshot.cluster_name)
                yield row

    if fmt == "csv":
        return csv_chunks(TABLE_COLUMNS[table], rows())
    return json_array_chunks(rows())


def with_cluster(rows: Iterable[dict], scope: ExportScope) -> Iterator[dict]:
    """The CSV's `cluster` cell: the snapshot's cluster (an audit row names its own). JSON
    documents name it once, in the report's `snapshot.cluster_name`."""
    for row in rows:
        row.setdefault("cluster", scope.snapshot.cluster_name)
        yield row


def snapshot_header(scope: ExportScope, *, generated_at: datetime) -> dict:
    snapshot = scope.snapshot
    return {
        "report": {
            "at": iso(scope.at),
            "since": iso(scope.since),
            "generated_at": iso(generated_at),
        },
        "snapshot": {
            "id": snapshot.pk,
            "taken_at": iso(snapshot.taken_at),
            "cluster_name": snapshot.cluster_name,
            "cluster_server": snapshot.cluster_server,
            "istio_installed": snapshot.istio_installed,
            "object_counts": snapshot.object_counts,
        },
        "root_namespace": snapshot.root_namespace,
        "mesh": {
            "mode": snapshot.mesh_mode,
            "policy": snapshot.mesh_policy or None,
            "reason": snapshot.mesh_reason,
        },
        "coverage": coverage_of(snapshot, scope.exemptions).as_dict(),
    }


def exemption_rows(scope: ExportScope) -> Iterator[dict]:
    for exemption in scope.exemptions.in_force.values():
        yield {
            "namespace": exemption.namespace,
            "workload": exemption.workload,
            "owner": exemption.owner,
            "justification": exemption.justification,
            "expires_at": iso(exemption.expires_at),
            "created_at": iso(exemption.created_at),
            "created_by": exemption.created_by,
        }


def report_json_chunks(scope: ExportScope, *, generated_at: datetime) -> Iterator[str]:
    """The whole report as one JSON object, with `posture --format json`'s field names."""
    header = json.dumps(snapshot_header(scope, generated_at=generated_at), ensure_ascii=False)
    yield header[:-1]  # leave the object open for the streamed arrays
    for key, rows in (
        ("namespaces", namespace_rows(scope)),
        ("workloads", workload_rows(scope)),
        ("findings", finding_rows(scope)),
        ("exemptions", exemption_rows(scope)),
        ("audit", audit_rows(scope)),
    ):
        yield f', "{key}": '
        yield from json_array_chunks(rows)
    yield "}\n"
