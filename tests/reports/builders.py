"""Small keyword builders for snapshots, audit entries and exemptions (reports' own tests)."""

from datetime import UTC, datetime

from policies.engine import SEVERITY_RANK
from policies.models import (
    AuditEntry,
    Exemption,
    FindingRecord,
    NamespaceRecord,
    Snapshot,
    WorkloadRecord,
)
from tests.factories import engine_finding, stored_coverage


def moment(text: str) -> datetime:
    """'2026-11-01 12:00' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def reason(mode: str, level: str = "namespace", policy: str | None = None) -> dict:
    namespace, _, name = (policy or "/").partition("/")
    return {
        "mode": mode,
        "level": level,
        "policy": policy,
        "chain": [
            {
                "level": "mesh",
                "mode": None,
                "outcome": "absent",
                "winner": None,
                "losers": [],
                "note": "No mesh-wide policy.",
            },
            {
                "level": "namespace",
                "mode": mode,
                "outcome": "decided",
                "winner": {
                    "namespace": namespace,
                    "name": name,
                    "mode": mode,
                    "created": "2026-01-01T00:00:00Z",
                }
                if policy
                else None,
                "losers": [],
                "note": f"The namespace policy sets {mode}.",
            },
        ],
    }


def snapshot_build(
    *,
    taken_at: datetime,
    namespaces: dict[str, str] | None = None,
    workloads: list[dict] | None = None,
    findings: list[dict] | None = None,
    cluster_name: str = "prod-eu",
    mesh_mode: str = "PERMISSIVE",
    mesh_policy: str = "",
) -> Snapshot:
    """A snapshot with namespaces {name: mode} and workloads [{namespace, name, mode, ...}]."""
    namespaces = namespaces or {}
    workloads = [
        {
            **w,
            **stored_coverage(
                mode=w.get("mode", "STRICT"),
                ports=w.get("ports", {}),
                has_sidecar=w.get("has_sidecar", True),
                ambient=w.get("ambient", False),
            ),
        }
        for w in workloads or []
    ]
    findings = [
        {"severity": engine_finding(f["code"])[0], **f} for f in findings or []
    ]  # the engine's severity for the code unless the test names one
    snapshot = Snapshot.objects.create(
        taken_at=taken_at,
        cluster_name=cluster_name,
        cluster_server="https://10.0.0.1:6443",
        mesh_mode=mesh_mode,
        mesh_policy=mesh_policy,
        namespaces_total=len(namespaces),
        namespaces_strict=sum(1 for mode in namespaces.values() if mode == "STRICT"),
        namespaces_permissive=sum(1 for mode in namespaces.values() if mode == "PERMISSIVE"),
        namespaces_disable=sum(1 for mode in namespaces.values() if mode == "DISABLE"),
        workloads_total=len(workloads),
        workloads_strict=sum(1 for w in workloads if w.get("mode", "STRICT") == "STRICT"),
        workloads_permissive=sum(1 for w in workloads if w.get("mode") == "PERMISSIVE"),
        workloads_disable=sum(1 for w in workloads if w.get("mode") == "DISABLE"),
        workloads_with_sidecar=sum(1 for w in workloads if w.get("has_sidecar", True)),
        workloads_strict_declared=sum(w["strict_declared"] for w in workloads),
        workloads_strict_enforced=sum(w["strict_enforced"] for w in workloads),
        findings_error=sum(1 for f in findings if f["severity"] == "error"),
        findings_warning=sum(1 for f in findings if f["severity"] == "warning"),
        findings_info=sum(1 for f in findings if f["severity"] == "info"),
    )
    NamespaceRecord.objects.bulk_create(
        NamespaceRecord(
            snapshot=snapshot,
            name=name,
            mode=mode,
            source="namespace",
            policy=f"{name}/default",
            reason=reason(mode, policy=f"{name}/default"),
            workloads_total=sum(1 for w in workloads if w["namespace"] == name),
            workloads_strict=sum(
                1
                for w in workloads
                if w["namespace"] == name and w.get("mode", "STRICT") == "STRICT"
            ),
            workloads_strict_declared=sum(
                w["strict_declared"] for w in workloads if w["namespace"] == name
            ),
            workloads_strict_enforced=sum(
                w["strict_enforced"] for w in workloads if w["namespace"] == name
            ),
        )
        for name, mode in namespaces.items()
    )
    WorkloadRecord.objects.bulk_create(
        WorkloadRecord(
            snapshot=snapshot,
            namespace=w["namespace"],
            name=w["name"],
            kind=w.get("kind", "Deployment"),
            mode=w.get("mode", "STRICT"),
            source=w.get("source", "namespace"),
            policy=w.get("policy", f"{w['namespace']}/default"),
            ports=w.get("ports", {}),
            # As the sync sets it: a port whose mode differs from the workload's.
            has_port_exceptions=any(
                mode != w.get("mode", "STRICT") for mode in w.get("ports", {}).values()
            ),
            reason=w.get("reason")
            or reason(w.get("mode", "STRICT"), policy=f"{w['namespace']}/default"),
            has_sidecar=w.get("has_sidecar", True),
            coverage_rule=w["coverage_rule"],
            strict_declared=w["strict_declared"],
            strict_enforced=w["strict_enforced"],
        )
        for w in workloads
    )
    finding_rows = []
    for f in findings:
        severity, message = engine_finding(
            f["code"], namespace=f.get("namespace", ""), name=f.get("name", "")
        )
        severity = f["severity"]
        finding_rows.append(
            FindingRecord(
                snapshot=snapshot,
                code=f["code"],
                severity=severity,
                severity_rank=SEVERITY_RANK[severity],
                namespace=f.get("namespace", ""),
                name=f.get("name", ""),
                kind=f.get("kind", "PeerAuthentication"),
                message=f.get("message", message),
            )
        )
    FindingRecord.objects.bulk_create(finding_rows)
    return snapshot


def audit_build(
    *,
    created_at: datetime,
    action: str = "namespace_mode_set",
    namespace: str = "shop",
    username: str = "alice",
    reason: str = "tightening",
    outcome: str = "applied",
) -> AuditEntry:
    return AuditEntry.objects.create(
        created_at=created_at,
        username=username,
        role="oncall",
        action=action,
        target_kind="Namespace",
        target_namespace=namespace,
        target_name=namespace,
        reason=reason,
        outcome=outcome,
    )


def exemption_build(
    *,
    namespace: str,
    workload: str = "",
    created_at: datetime,
    expires_at: datetime,
    owner: str = "team-legacy",
    justification: str = "legacy client without mTLS",
    revoked_at: datetime | None = None,
) -> Exemption:
    return Exemption.objects.create(
        namespace=namespace,
        workload=workload,
        owner=owner,
        justification=justification,
        expires_at=expires_at,
        created_at=created_at,
        created_by="root",
        revoked_at=revoked_at,
    )
