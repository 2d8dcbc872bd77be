"""The posture as the JSON document `posture --format json` prints (docs/contracts.md §1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from policies.engine.coverage import coverage_counts, coverage_rule
from policies.engine.model import (
    NamespacePosture,
    PolicyRef,
    PolicyVerdict,
    Posture,
    Reason,
    WorkloadPosture,
)


def _ref(policy: PolicyRef | None) -> str | None:
    return None if policy is None else str(policy)


def namespace_as_json(namespace: NamespacePosture) -> dict[str, Any]:
    """One entry of `"namespaces"`."""
    return {
        "name": namespace.name,
        "mode": str(namespace.mode),
        "policy": _ref(namespace.policy),
        "source": str(namespace.source),
        "is_root": namespace.is_root,
        "injection": namespace.injection,
        "ambient": namespace.ambient,
        "reason": namespace.reason.as_dict(),
    }


def workload_as_json(
    workload: WorkloadPosture, reason_json: Callable[[Reason], dict[str, Any]] = Reason.as_dict
) -> dict[str, Any]:
    """One entry of `"workloads"`; port keys are strings because JSON keys must be."""
    return {
        "namespace": workload.namespace,
        "name": workload.name,
        "kind": workload.kind,
        "mode": str(workload.mode),
        "policy": _ref(workload.policy),
        "source": str(workload.source),
        "ports": {str(port.port): str(port.mode) for port in workload.ports},
        "port_reasons": {str(port.port): reason_json(port.reason) for port in workload.ports},
        "container_ports": list(workload.container_ports),
        "has_sidecar": workload.has_sidecar,
        "ambient": workload.ambient,
        "reason": reason_json(workload.reason),
        "host_network": workload.host_network,
        **_coverage_fields(workload),
    }


def _coverage_fields(workload: WorkloadPosture) -> dict[str, Any]:
    rule = coverage_rule(workload)
    return {
        "coverage_rule": str(rule),
        "strict_declared": rule.declared,
        "strict_enforced": rule.enforced,
    }


def policy_as_json(policy: PolicyVerdict) -> dict[str, Any]:
    """One entry of `"policies"` (everything but the raw manifest)."""
    return {
        "kind": policy.kind,
        "namespace": policy.namespace,
        "name": policy.name,
        "api_version": policy.api_version,
        "scope": policy.scope,
        "mode": policy.mode,
        "selector": dict(policy.selector),
        "port_modes": {str(port): str(mode) for port, mode in sorted(policy.port_modes.items())},
        "host": policy.host,
        "created": policy.created,
        "status": policy.status,
        "status_reason": policy.status_reason,
    }


def posture_as_json(
    posture: Posture, *, shared: bool = False, workloads: Any = None
) -> dict[str, Any]:
    """The whole posture as one JSON-ready dict: fresh objects, safe for the caller to change.

    With `shared`, a reason many workloads share (the engine computes one per namespace and
    set of competing policies) is converted once and the same dict appears in each place:
    for callers that only serialise the result, it saves most of the conversion. A caller
    that writes the workloads by other means (workloads_as_json_in_chunks) passes what
    stands for them as `workloads`.
    """
    mesh = posture.mesh
    if workloads is None:
        workloads = (
            next(workloads_as_json_in_chunks(posture.workloads, len(posture.workloads)), [])
            if shared
            else [workload_as_json(workload) for workload in posture.workloads]
        )
    return {
        "root_namespace": posture.root_namespace,
        "mesh": {
            "mode": str(mesh.mode),
            "policy": _ref(mesh.policy),
            "reason": mesh.reason.as_dict(),
        },
        "namespaces": [namespace_as_json(namespace) for namespace in posture.namespaces],
        "workloads": workloads,
        "findings": [finding.as_dict() for finding in posture.findings],
        "policies": [policy_as_json(policy) for policy in posture.policies],
        "object_counts": dict(posture.object_counts),
        "coverage": _coverage_as_json(posture),
    }


# How deeply a workload's reason nests: the document, its "workloads" list, the workload.
_WORKLOAD_REASON_DEPTH = 3


def workloads_as_json_in_chunks(
    workloads: tuple[WorkloadPosture, ...],
    per_chunk: int,
    encode_reason: Callable[[dict[str, Any], int], Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """workload_as_json for each workload, `per_chunk` at a time, with every value many
    workloads share (reasons, policy names, port maps, the coverage fields, enum texts)
    converted once across all chunks: the same documents, with shared dicts in them, at half
    the cost (orjson writes them out per use). A writer that writes each chunk before asking
    for the next keeps a few pages busy instead of the whole list's.

    With `encode_reason`, each reason's dict is also passed once to `encode_reason(reason,
    depth)`, depth being how deeply it nests in the document (a workload's reason 3, a
    port's 4), and what it returns takes its place: `posture --format json` puts the
    reason's indented text there, written once instead of per workload.
    """
    reasons: dict[int, Any] = {}  # id(Reason) -> its JSON as a workload's reason
    port_reasons: dict[int, Any] = {}  # id(Reason) -> its JSON as a port's
    refs: dict[int, str | None] = {}
    port_maps: dict[int, tuple[dict[str, str], dict[str, Any]]] = {}
    texts: dict[Any, str] = {}
    coverage: dict[Any, dict[str, Any]] = {}

    def reason_json(reason: Reason) -> Any:
        converted = reasons.get(id(reason))
        if converted is None:
            converted = reasons[id(reason)] = encoded(reason, _WORKLOAD_REASON_DEPTH)
        return converted

    def port_reason_json(reason: Reason) -> Any:
        converted = port_reasons.get(id(reason))
        if converted is None:
            converted = port_reasons[id(reason)] = encoded(reason, _WORKLOAD_REASON_DEPTH + 1)
        return converted

    def encoded(reason: Reason, depth: int) -> Any:
        document = reason.as_dict()
        return document if encode_reason is None else encode_reason(document, depth)

    def text(value) -> str:
        converted = texts.get(value)
        if converted is None:
            converted = texts[value] = str(value)
        return converted

    documents = []
    for workload in workloads:
        if len(documents) == per_chunk:
            yield documents
            documents = []
        policy = workload.policy
        ref = refs.get(id(policy), refs)
        if ref is refs:
            ref = refs[id(policy)] = _ref(policy)
        ports = workload.ports
        maps = port_maps.get(id(ports))
        if maps is None:
            maps = port_maps[id(ports)] = (
                {str(port.port): str(port.mode) for port in ports},
                {str(port.port): port_reason_json(port.reason) for port in ports},
            )
        rule = coverage_rule(workload)
        fields = coverage.get(rule)
        if fields is None:
            fields = coverage[rule] = _coverage_fields(workload)
        documents.append(
            {
                "namespace": workload.namespace,
                "name": workload.name,
                "kind": workload.kind,
                "mode": text(workload.mode),
                "policy": ref,
                "source": text(workload.source),
                "ports": maps[0],
                "port_reasons": maps[1],
                "container_ports": list(workload.container_ports),
                "has_sidecar": workload.has_sidecar,
                "ambient": workload.ambient,
                "reason": reason_json(workload.reason),
                "host_network": workload.host_network,
                **fields,
            }
        )
    if documents:
        yield documents


def _coverage_as_json(posture: Posture) -> dict[str, Any]:
    counts = coverage_counts(posture.workloads)
    return {
        "workloads_total": counts.total,
        "workloads_strict_declared": counts.strict_declared,
        "workloads_strict_enforced": counts.strict_enforced,
    }
