"""Keyword builders that put snapshots, sync runs and users straight into the database.

    snapshot = snapshot_with(
        namespaces=["shop", {"name": "pay", "mode": "STRICT", "source": "namespace",
                             "policy": "pay/default"}],
        workloads=[{"namespace": "shop", "name": "cart", "ports": {"8080": "PERMISSIVE"}}],
        findings=[{"code": "STRICT_WITHOUT_SIDECAR", "namespace": "shop", "name": "cart"}],
    )

Anything left out gets a plausible default; aggregates (per namespace and per snapshot)
are computed from the rows, as the sync does. Reasons follow docs/contracts.md §1.
Findings default to codes, severities and wording the engine really emits
(policies/engine/findings.py), so pages and screenshots never show what meshui cannot say.

Where a test needs a realistic snapshot rather than a few chosen rows,
`snapshot_from_manifests` runs the engine on raw API dicts and stores its posture with the
sync's own writer: the data is exactly what a sync of that cluster would show.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from policies.engine import SEVERITY_RANK
from policies.models import (
    AuditEntry,
    FindingRecord,
    NamespaceRecord,
    PolicyRecord,
    ServiceRecord,
    Snapshot,
    SyncRun,
    WorkloadRecord,
)
from policies.services.audit import AuditAction, audit_entry_record

DEFAULT_PASSWORD = "correct-horse-battery-staple"
CREATED = "2024-01-01T00:00:00Z"

# What the engine says for each code a test may name without a message (its severity and
# the shape of its wording, see policies/engine/findings.py); {where} is the object.
ENGINE_FINDINGS = {
    "STRICT_WITHOUT_SIDECAR": (
        "warning",
        "Deployment {where} is STRICT (decided by {namespace}/default) but has no istio-proxy "
        "sidecar and is not enrolled in ambient, so nothing enforces mTLS for it. Enable "
        "injection (namespace label istio-injection=enabled or istio.io/rev) and restart it, "
        "or enrol the namespace in ambient.",
    ),
    "DUPLICATE_NAMESPACE_POLICY": (
        "warning",
        "2 PeerAuthentications compete for the namespace-wide mode of {namespace}: {where} "
        "({mode}) wins Istio's tie-break (older creation time, then name, then namespace) and "
        "is the only one Istio applies. Ignored: {where}-v2: {where} was created earlier "
        "(2026-01-01T00:00:00Z; {where}-v2: 2026-02-01T00:00:00Z). Delete the ignored ones or "
        "merge their settings into {where}.",
    ),
    "DUPLICATE_WORKLOAD_POLICY": (
        "warning",
        "2 PeerAuthentications compete to select Deployment {where}: {namespace}/{name} "
        "({mode}) wins Istio's tie-break (older creation time, then name, then namespace) and "
        "is the only one Istio applies. Ignored: {namespace}/{name}-v2: both have the same "
        "creation time, and the name {name} sorts before {name}-v2. Delete the ignored ones or "
        "merge their settings into {namespace}/{name}.",
    ),
    "SELECTOR_MATCHES_NOTHING": (
        "warning",
        "PeerAuthentication {where} selects pods labelled app={name}, and no workload in "
        "{namespace} carries all of them, so it has no effect. Check the labels against the "
        "workload's pod template, or delete the policy.",
    ),
    "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT": (
        "error",
        "DestinationRule {where} sets tls.mode DISABLE for {name}.{namespace}.svc.cluster.local, "
        "so clients in every namespace that sees it send plaintext to STRICT workloads "
        "({namespace}/{name}), which refuse it. Change the mode to ISTIO_MUTUAL, or remove the "
        "tls block.",
    ),
    "PORT_LEVEL_WITHOUT_SELECTOR": (
        "error",
        "PeerAuthentication {where} is namespace-wide but sets portLevelMtls, which needs a "
        "selector: the CRD rejects it, and where it exists anyway Istio ignores its ports.",
    ),
    "WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE": (
        "info",
        "{namespace}/{name} makes Deployment {where} STRICT, and no DestinationRule makes "
        "clients in every namespace send ISTIO_MUTUAL to it (through "
        "{name}.{namespace}.svc.cluster.local port 80). Add a DestinationRule with "
        "trafficPolicy.tls.mode ISTIO_MUTUAL for {name}.{namespace}.svc.cluster.local.",
    ),
    "MESH_PERMISSIVE": (
        "info",
        "The mesh-wide mode is PERMISSIVE because there is no mesh-wide PeerAuthentication "
        "in istio-system; workloads accept plaintext unless a narrower policy says otherwise. "
        "The recommended end state is a selector-less PeerAuthentication in istio-system with "
        "mode STRICT.",
    ),
}
DEFAULT_FINDING_CODE = "STRICT_WITHOUT_SIDECAR"


def engine_finding(
    code: str, *, namespace: str = "", name: str = "", mode: str = "STRICT"
) -> tuple[str, str]:
    """(severity, message) as the engine words `code` for the object namespace/name."""
    severity, wording = ENGINE_FINDINGS.get(code, ("warning", "{code} at {where}"))
    message = wording.format(
        code=code,
        mode=mode,
        namespace=namespace or "istio-system",
        name=name or "default",
        where=f"{namespace}/{name or 'default'}" if namespace else "the mesh",
    )
    return severity, message


# --- Reasons -------------------------------------------------------------------------------


def chain_step(
    level: str,
    *,
    mode: str | None = None,
    outcome: str = "absent",
    winner: str = "",
    losers: list[dict] | None = None,
    note: str = "",
) -> dict:
    """One level of a reason chain; `winner` is "namespace/name" or "" for no policy."""
    winner_dict = None
    if winner:
        namespace, name = winner.split("/", 1)
        winner_dict = {"namespace": namespace, "name": name, "mode": mode, "created": CREATED}
    return {
        "level": level,
        "mode": mode,
        "outcome": outcome,
        "winner": winner_dict,
        "losers": losers or [],
        "note": note or ("No policy at this level." if outcome == "absent" else ""),
    }


def loser(name: str, *, mode: str = "STRICT", lost_because: str = "newer") -> dict:
    namespace, policy_name = name.split("/", 1)
    return {
        "namespace": namespace,
        "name": policy_name,
        "mode": mode,
        "created": "2024-06-01T00:00:00Z",
        "lost_because": lost_because,
    }


def reason(
    mode: str = "PERMISSIVE",
    *,
    level: str = "default",
    policy: str = "",
    mesh_mode: str | None = None,
    mesh_policy: str = "",
    workload: bool = False,
    losers: list[dict] | None = None,
) -> dict:
    """A reason whose chain runs mesh → namespace (→ workload), deciding at `level`."""
    order = ["mesh", "namespace", "workload"] if workload else ["mesh", "namespace"]
    decided_index = order.index(level) if level in order else -1
    steps = []
    for index, step_level in enumerate(order):
        if step_level == level:
            steps.append(
                chain_step(step_level, mode=mode, outcome="decided", winner=policy, losers=losers)
            )
        elif step_level == "mesh" and (mesh_policy or mesh_mode):
            outcome = "overridden" if decided_index > index else "decided"
            steps.append(
                chain_step("mesh", mode=mesh_mode or mode, outcome=outcome, winner=mesh_policy)
            )
        else:
            steps.append(chain_step(step_level))
    return {"mode": mode, "level": level, "policy": policy or None, "chain": steps}


def with_port_reasons(workload_reason: dict, *, ports: dict, policy: str) -> dict:
    """`workload_reason` plus a reason per port (unless given): the chain, then a port step."""
    port_reasons = dict(workload_reason.get("ports") or {})
    for port, mode in ports.items():
        if port in port_reasons:
            continue
        above = [
            {**step, "outcome": "overridden"} if step["outcome"] == "decided" else step
            for step in workload_reason.get("chain", [])
        ]
        port_step = chain_step(
            "port",
            mode=mode,
            outcome="decided",
            winner=policy,
            note=f"{policy or 'The workload policy'} sets port {port} to {mode}.",
        )
        port_reasons[port] = {
            "mode": mode,
            "level": "port",
            "policy": policy or None,
            "chain": [*above, port_step],
        }
    return {**workload_reason, "ports": port_reasons}


# --- Snapshots -----------------------------------------------------------------------------


def _as_dict(item: str | dict, key: str = "name") -> dict:
    return {key: item} if isinstance(item, str) else dict(item)


def stored_coverage(
    *, mode: str, ports: dict, has_sidecar: bool, ambient: bool, host_network: bool = False
) -> dict:
    """The coverage columns the sync stores for a workload row, by the engine's own rules."""
    from types import SimpleNamespace

    from policies.engine import Mode, coverage_rule

    workload = SimpleNamespace(
        mode=Mode(mode),
        ports=[SimpleNamespace(mode=Mode(port_mode)) for port_mode in ports.values()],
        has_sidecar=has_sidecar,
        ambient=ambient,
        host_network=host_network,
    )
    rule = coverage_rule(workload)
    return {
        "coverage_rule": str(rule),
        "strict_declared": rule.declared,
        "strict_enforced": rule.enforced,
    }


def snapshot_with(
    *,
    namespaces: list[str | dict] = (),
    workloads: list[dict] = (),
    findings: list[dict] = (),
    policies: list[dict] = (),
    services: list[dict] = (),
    mesh_mode: str = "PERMISSIVE",
    mesh_policy: str = "",
    root_namespace: str = "istio-system",
    cluster_name: str = "test-cluster",
    taken_at: datetime | None = None,
) -> Snapshot:
    """A complete snapshot with these rows and aggregates computed from them."""
    mesh_level = "mesh" if mesh_policy else "default"
    snapshot = Snapshot.objects.create(
        taken_at=taken_at or timezone.now(),
        cluster_name=cluster_name,
        root_namespace=root_namespace,
        mesh_mode=mesh_mode,
        mesh_policy=mesh_policy,
        mesh_reason={
            "mode": mesh_mode,
            "level": mesh_level,
            "policy": mesh_policy or None,
            "chain": [
                chain_step(
                    "mesh",
                    mode=mesh_mode if mesh_policy else None,
                    outcome="decided" if mesh_policy else "absent",
                    winner=mesh_policy,
                )
            ],
        },
    )
    namespace_specs = {spec["name"]: spec for spec in map(_as_dict, namespaces)}
    for workload in workloads:
        namespace_specs.setdefault(workload["namespace"], {"name": workload["namespace"]})

    def chain_reason(mode: str, *, level: str, policy: str, workload: bool = False) -> dict:
        """The reason below this snapshot's mesh step (its mode and policy, if any)."""
        mesh = {"mesh_mode": mesh_mode if mesh_policy else None, "mesh_policy": mesh_policy}
        return reason(mode, level=level, policy=policy, workload=workload, **mesh)

    namespace_rows: dict[str, NamespaceRecord] = {}
    for name, spec in namespace_specs.items():
        source = spec.pop("source", "mesh" if mesh_policy else "default")
        mode = spec.pop("mode", mesh_mode)
        policy = spec.pop("policy", mesh_policy if source == "mesh" else "")
        spec.setdefault("reason", chain_reason(mode, level=source, policy=policy))
        namespace_rows[name] = NamespaceRecord(
            snapshot=snapshot,
            mode=mode,
            source=source,
            policy=policy,
            is_root=name == root_namespace,
            **spec,
        )

    workload_rows = []
    for spec in workloads:
        spec = dict(spec)
        namespace_row = namespace_rows[spec["namespace"]]
        source = spec.pop("source", namespace_row.source)
        mode = spec.pop("mode", namespace_row.mode)
        policy = spec.pop("policy", namespace_row.policy)
        ports = spec.pop("ports", {})
        spec.setdefault("reason", chain_reason(mode, level=source, policy=policy, workload=True))
        if ports:
            spec["reason"] = with_port_reasons(spec["reason"], ports=ports, policy=policy)
        spec.setdefault("kind", "Deployment")
        spec.setdefault("has_sidecar", True)
        for field_name, value in stored_coverage(
            mode=mode,
            ports=ports,
            has_sidecar=spec["has_sidecar"],
            ambient=spec.get("ambient", False),
            host_network=spec.get("host_network", False),
        ).items():
            spec.setdefault(field_name, value)
        workload_rows.append(
            WorkloadRecord(
                snapshot=snapshot,
                mode=mode,
                source=source,
                policy=policy,
                ports=ports,
                has_port_exceptions=any(port_mode != mode for port_mode in ports.values()),
                **spec,
            )
        )

    finding_rows = []
    for spec in findings:
        spec = dict(spec)
        spec.setdefault("code", DEFAULT_FINDING_CODE)
        severity, message = engine_finding(
            spec["code"], namespace=spec.get("namespace") or "", name=spec.get("name") or ""
        )
        spec.setdefault("severity", severity)
        spec.setdefault("message", message)
        finding_rows.append(
            FindingRecord(snapshot=snapshot, severity_rank=SEVERITY_RANK[spec["severity"]], **spec)
        )

    for workload in workload_rows:
        workload.findings_count = sum(
            1
            for finding in finding_rows
            if finding.namespace == workload.namespace and finding.name == workload.name
        )
    for name, row in namespace_rows.items():
        mine = [w for w in workload_rows if w.namespace == name]
        explicit = namespace_specs[name]
        for field_name, value in {
            "workloads_total": len(mine),
            "workloads_strict": sum(w.mode == "STRICT" for w in mine),
            "workloads_permissive": sum(w.mode == "PERMISSIVE" for w in mine),
            "workloads_disable": sum(w.mode == "DISABLE" for w in mine),
            "workloads_with_port_exceptions": sum(w.has_port_exceptions for w in mine),
            "workloads_with_sidecar": sum(w.has_sidecar for w in mine),
            "workloads_strict_declared": sum(bool(w.strict_declared) for w in mine),
            "workloads_strict_enforced": sum(bool(w.strict_enforced) for w in mine),
            "findings_count": sum(f.namespace == name for f in finding_rows),
        }.items():
            if field_name not in explicit:
                setattr(row, field_name, value)

    NamespaceRecord.objects.bulk_create(namespace_rows.values())
    WorkloadRecord.objects.bulk_create(workload_rows)
    FindingRecord.objects.bulk_create(finding_rows)
    PolicyRecord.objects.bulk_create(policy_record(snapshot, **spec) for spec in policies)
    ServiceRecord.objects.bulk_create(ServiceRecord(snapshot=snapshot, **spec) for spec in services)
    _aggregate(snapshot, list(namespace_rows.values()), workload_rows, finding_rows)
    return snapshot


def policy_record(snapshot: Snapshot, **spec: Any) -> PolicyRecord:
    """A PolicyRecord with a manifest that matches its fields (unsaved)."""
    kind = spec.setdefault("kind", PolicyRecord.Kind.PEER_AUTHENTICATION)
    spec.setdefault("name", "default")
    spec.setdefault("namespace", "default")
    if kind == PolicyRecord.Kind.PEER_AUTHENTICATION:
        spec.setdefault("mode", "STRICT")
        spec.setdefault("scope", "workload" if spec.get("selector") else "namespace")
        spec.setdefault("status", "effective")
        spec.setdefault("api_version", "security.istio.io/v1")
        body: dict = {"mtls": {"mode": spec["mode"]}}
        if spec.get("selector"):
            body["selector"] = {"matchLabels": spec["selector"]}
        if spec.get("port_modes"):
            body["portLevelMtls"] = {
                port: {"mode": mode} for port, mode in spec["port_modes"].items()
            }
    else:
        spec.setdefault("host", f"{spec['name']}.{spec['namespace']}.svc.cluster.local")
        spec.setdefault("mode", "ISTIO_MUTUAL")
        spec.setdefault("api_version", "networking.istio.io/v1")
        body = {"host": spec["host"], "trafficPolicy": {"tls": {"mode": spec["mode"]}}}
    spec.setdefault("created_at", timezone.now() - timedelta(days=3))
    spec.setdefault(
        "manifest",
        {
            "apiVersion": spec["api_version"],
            "kind": kind,
            "metadata": {
                "name": spec["name"],
                "namespace": spec["namespace"],
                "resourceVersion": "1",
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": body,
        },
    )
    return PolicyRecord(snapshot=snapshot, **spec)


def _aggregate(snapshot, namespace_rows, workload_rows, finding_rows) -> None:
    snapshot.namespaces_total = len(namespace_rows)
    snapshot.namespaces_strict = sum(n.mode == "STRICT" for n in namespace_rows)
    snapshot.namespaces_permissive = sum(n.mode == "PERMISSIVE" for n in namespace_rows)
    snapshot.namespaces_disable = sum(n.mode == "DISABLE" for n in namespace_rows)
    snapshot.workloads_total = len(workload_rows)
    snapshot.workloads_strict = sum(w.mode == "STRICT" for w in workload_rows)
    snapshot.workloads_permissive = sum(w.mode == "PERMISSIVE" for w in workload_rows)
    snapshot.workloads_disable = sum(w.mode == "DISABLE" for w in workload_rows)
    snapshot.workloads_with_sidecar = sum(w.has_sidecar for w in workload_rows)
    snapshot.workloads_ambient = sum(w.ambient for w in workload_rows)
    snapshot.workloads_strict_declared = sum(bool(w.strict_declared) for w in workload_rows)
    snapshot.workloads_strict_enforced = sum(bool(w.strict_enforced) for w in workload_rows)
    snapshot.findings_error = sum(f.severity == "error" for f in finding_rows)
    snapshot.findings_warning = sum(f.severity == "warning" for f in finding_rows)
    snapshot.findings_info = sum(f.severity == "info" for f in finding_rows)
    snapshot.save()


BENCH_FINDING_CODES = (
    "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT",
    "STRICT_WITHOUT_SIDECAR",
    "WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE",
)


def snapshot_from_manifests(
    objects: list[dict],
    *,
    cluster_name: str = "test-cluster",
    root_namespace: str = "istio-system",
    taken_at: datetime | None = None,
) -> Snapshot:
    """The snapshot a sync of a cluster holding these raw API dicts would store.

    The engine computes the posture and the sync's own writer stores it, so rows, reasons,
    findings and policy verdicts are exactly meshui's (nothing made up by the test).
    """
    from policies.cluster import ClusterRead
    from policies.engine import evaluate
    from policies.services.sync import _snapshot_write

    posture = evaluate(objects, root_namespace=root_namespace)
    fingerprint = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    read = ClusterRead(
        objects=objects,
        cluster_name=cluster_name,
        cluster_server=f"https://{cluster_name}.example:6443",
        root_namespace=root_namespace,
        istio_installed=True,
        istio_versions={
            "PeerAuthentication": "security.istio.io/v1",
            "DestinationRule": "networking.istio.io/v1",
        },
        object_counts=dict(Counter(obj["kind"] for obj in objects)),
        list_resource_versions={},
        fingerprint=fingerprint,
        api_seconds=0.0,
    )
    return _snapshot_write(
        read=read,
        posture=posture,
        extra_findings=[],
        fingerprint=fingerprint,
        taken_at=taken_at or timezone.now(),
        duration_ms=0,
    )


def large_snapshot(
    *,
    namespaces: int = 10_000,
    workloads_per_namespace: int = 15,
    batch_size: int = 5_000,
    modes: tuple[str, ...] = ("STRICT", "PERMISSIVE", "DISABLE"),
    taken_at=None,
    findings_with_modes: tuple[str, ...] | None = None,
) -> Snapshot:
    """A big snapshot for benchmarks and query-count tests, written with bulk inserts.

    Namespace i takes `modes[i % len(modes)]` and its workloads follow it: the default
    leaves two thirds below STRICT; 19 STRICT and one PERMISSIVE leave 5 %. Namespace i
    carries i % 5 findings, or, with `findings_with_modes`, two findings when its mode is one
    of those and none otherwise (findings where the exceptions are, as in a real mesh).
    """
    snapshot = Snapshot.objects.create(
        taken_at=taken_at or timezone.now(),
        cluster_name="bench",
        mesh_mode="PERMISSIVE",
        mesh_reason=reason("PERMISSIVE"),
    )
    namespace_rows, workload_rows, finding_rows = [], [], []
    for index in range(namespaces):
        name = f"ns-{index:05d}"
        mode = modes[index % len(modes)]
        source = "namespace" if mode != "PERMISSIVE" else "default"
        policy = f"{name}/default" if source == "namespace" else ""
        namespace_reason = reason(mode, level=source, policy=policy)
        with_sidecar = workloads_per_namespace - (index % 4)
        namespace_rows.append(
            NamespaceRecord(
                snapshot=snapshot,
                name=name,
                mode=mode,
                source=source,
                policy=policy,
                reason=namespace_reason,
                labels={"team": f"team-{index % 50}"},
                injection="enabled",
                workloads_total=workloads_per_namespace,
                workloads_strict=workloads_per_namespace if mode == "STRICT" else 0,
                workloads_permissive=workloads_per_namespace if mode == "PERMISSIVE" else 0,
                workloads_disable=workloads_per_namespace if mode == "DISABLE" else 0,
                workloads_with_port_exceptions=index % 2,
                workloads_with_sidecar=max(with_sidecar, 0),
                workloads_strict_declared=workloads_per_namespace if mode == "STRICT" else 0,
                workloads_strict_enforced=max(with_sidecar, 0) if mode == "STRICT" else 0,
                findings_count=index % 5,
            )
        )
        for number in range(workloads_per_namespace):
            workload_rows.append(
                WorkloadRecord(
                    snapshot=snapshot,
                    namespace=name,
                    name=f"app-{number:02d}",
                    kind="Deployment",
                    mode=mode,
                    source=source,
                    policy=policy,
                    reason=namespace_reason,
                    labels={"app": f"app-{number:02d}"},
                    container_ports=[8080],
                    has_sidecar=number < with_sidecar,
                    **stored_coverage(
                        mode=mode, ports={}, has_sidecar=number < with_sidecar, ambient=False
                    ),
                )
            )
        findings = (
            index % 5 if findings_with_modes is None else (2 if mode in findings_with_modes else 0)
        )
        for number in range(findings):
            code = BENCH_FINDING_CODES[number % len(BENCH_FINDING_CODES)]
            severity, message = engine_finding(code, namespace=name, name=f"app-{number:02d}")
            finding_rows.append(
                FindingRecord(
                    snapshot=snapshot,
                    code=code,
                    severity=severity,
                    severity_rank=SEVERITY_RANK[severity],
                    namespace=name,
                    name=f"app-{number:02d}",
                    kind="Deployment",
                    message=message,
                )
            )
    NamespaceRecord.objects.bulk_create(namespace_rows, batch_size=batch_size)
    WorkloadRecord.objects.bulk_create(workload_rows, batch_size=batch_size)
    FindingRecord.objects.bulk_create(finding_rows, batch_size=batch_size)
    _aggregate(snapshot, namespace_rows, workload_rows, finding_rows)
    return snapshot


# --- Sync runs and users -------------------------------------------------------------------


def sync_run(
    *,
    status: str = SyncRun.Status.SUCCEEDED,
    ago: timedelta = timedelta(seconds=5),
    duration_ms: int = 1200,
    error: str = "",
    snapshot: Snapshot | None = None,
    trigger: str = "schedule",
) -> SyncRun:
    """A sync run that started `ago` before now (and finished unless it is running)."""
    started_at = timezone.now() - ago
    running = status == SyncRun.Status.RUNNING
    return SyncRun.objects.create(
        started_at=started_at,
        finished_at=None if running else started_at + timedelta(milliseconds=duration_ms),
        duration_ms=None if running else duration_ms,
        status=status,
        error=error,
        snapshot=snapshot,
        trigger=trigger,
    )


def user_with_role(role: str | None, *, username: str = "", password: str = DEFAULT_PASSWORD):
    """A user in the role's group (created if a flushed test database lost it); None: no role."""
    user = get_user_model().objects.create_user(
        username or f"{role or 'norole'}-user", password=password
    )
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def audit_entry(user, **fields) -> AuditEntry:
    """One entry through meshui's only writer (an applied toggle of shop unless told);
    `user` None is meshui itself."""
    defaults = {
        "action": AuditAction.NAMESPACE_MODE_SET,
        "outcome": AuditEntry.Outcome.APPLIED,
        "target_kind": "PeerAuthentication",
        "target_namespace": "shop",
        "target_name": "default",
        "reason": "INC-1",
    }
    return audit_entry_record(user=user, **{**defaults, **fields})
