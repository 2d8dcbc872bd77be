"""Findings across the clusters of one mesh: namespace sameness.

Istio treats a namespace of the same name in every cluster of a multi-cluster mesh as one
namespace: a Service's endpoints in cluster A and cluster B receive the same clients, and a
client's load balancer picks among them. Each cluster's istiod, however, programs its own
proxies from that cluster's PeerAuthentications, so the effective mode is a per-cluster
fact. When it differs, a client's call succeeds or fails depending on the endpoint it gets.

- NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS: a namespace that exists in two or more clusters has
  different effective namespace modes. A namespace that is the root namespace in every
  cluster that has it is left out: its namespace-wide policy is the mesh-wide one, compared
  below. Where the root namespaces differ (each cluster's `istio` ConfigMap), the root of one
  cluster and the same-named plain namespace of another are still one namespace to Istio.
- SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS: a Service (same namespace and name) whose selected
  workloads serve in different modes in different clusters (one Service, one set of
  clients, endpoints that disagree), even when the namespaces' modes agree.
- MESH_MODE_DIFFERS_ACROSS_CLUSTERS: the mesh-wide modes differ. The root namespace may
  differ per cluster (each cluster's `istio` ConfigMap names its own), so the finding names
  the policy's namespace in each.

Severity: an error when one cluster is STRICT and another DISABLE for the same endpoints,
since every client then fails somewhere (plaintext is refused by STRICT, and mTLS from a
sidecar by DISABLE); a warning otherwise (plaintext clients fail only on the STRICT side, or
mTLS on the DISABLE side). Standard library only, like the rest of the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.engine.labels import selector_matches
from policies.engine.model import Finding, Mode, Posture, ServiceInfo, Severity, WorkloadPosture

NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS = "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS"
SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS = "SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS"
MESH_MODE_DIFFERS_ACROSS_CLUSTERS = "MESH_MODE_DIFFERS_ACROSS_CLUSTERS"
FLEET_FINDING_CODES = (
    NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS,
    SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS,
    MESH_MODE_DIFFERS_ACROSS_CLUSTERS,
)


@dataclass(frozen=True)
class ClusterPosture:
    """What one cluster's current snapshot says, as far as sameness needs it.

    `services` maps (namespace, name) to the sorted modes its selected workloads serve in
    (one mode each, or several when its workloads disagree inside the cluster).
    """

    cluster: str
    root_namespace: str
    mesh_mode: str
    mesh_policy: str = ""
    namespaces: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


def service_workload_modes(service: ServiceInfo, workloads: Iterable[WorkloadPosture]) -> list[str]:
    """The modes a Service's endpoints serve in, sorted: the modes of the workloads it selects
    (`workloads`: those of its namespace) on the ports it targets, a port-level mode where one
    differs. A Service without a selector has no endpoints meshui can see."""
    if not service.selector:
        return []
    modes: set[str] = set()
    targets = [str(port.target_port) for port in service.ports]
    for workload in workloads:
        if not selector_matches(service.selector, workload.labels):
            continue
        port_modes = {str(port.port): str(port.mode) for port in workload.ports}
        targeted = [port_modes[target] for target in targets if target in port_modes]
        modes.update(targeted)
        if len(targeted) < len(targets) or not targets:
            modes.add(str(workload.mode))
    return sorted(modes)


def cluster_posture(cluster: str, posture: Posture) -> ClusterPosture:
    """What sameness compares, from one cluster's evaluated posture."""
    by_namespace: dict[str, list[WorkloadPosture]] = {}
    for workload in posture.workloads:
        by_namespace.setdefault(workload.namespace, []).append(workload)
    services = {
        (service.namespace, service.name): tuple(
            service_workload_modes(service, by_namespace.get(service.namespace, ()))
        )
        for service in posture.services
    }
    return ClusterPosture(
        cluster=cluster,
        root_namespace=posture.root_namespace,
        mesh_mode=str(posture.mesh.mode),
        mesh_policy="" if posture.mesh.policy is None else str(posture.mesh.policy),
        namespaces={namespace.name: str(namespace.mode) for namespace in posture.namespaces},
        services={key: modes for key, modes in services.items() if modes},
    )


def _severity(modes: Iterable[str]) -> Severity:
    seen = set(modes)
    if Mode.STRICT in seen and Mode.DISABLE in seen:
        return Severity.ERROR
    return Severity.WARNING


def _modes_in_words(per_cluster: Mapping[str, str]) -> str:
    return ", ".join(f"{mode} in {cluster}" for cluster, mode in sorted(per_cluster.items()))


def _consequence(modes: Iterable[str]) -> str:
    seen = set(modes)
    if Mode.STRICT in seen and Mode.DISABLE in seen:
        return (
            "every client fails on some endpoints: plaintext is refused where it is STRICT, "
            "a sidecar's mTLS where it is DISABLE"
        )
    if Mode.STRICT in seen:
        return (
            "a plaintext client's calls succeed or fail depending on which cluster's "
            "endpoint the load balancer picks"
        )
    return "a sidecar's mTLS calls fail on the endpoints where it is DISABLE"


def fleet_findings(clusters: Iterable[ClusterPosture]) -> tuple[Finding, ...]:
    """Cross-cluster findings for the clusters of one mesh, sorted by namespace then name."""
    clusters = sorted(clusters, key=lambda posture: posture.cluster)
    findings: list[Finding] = []
    if len(clusters) < 2:
        return ()

    mesh_modes = {posture.cluster: posture.mesh_mode for posture in clusters}
    if len(set(mesh_modes.values())) > 1:
        where = ", ".join(
            f"{posture.cluster}: {posture.mesh_mode} "
            f"({posture.mesh_policy or 'no mesh-wide policy, the built-in default'}, "
            f"root namespace {posture.root_namespace})"
            for posture in clusters
        )
        findings.append(
            Finding(
                code=MESH_MODE_DIFFERS_ACROSS_CLUSTERS,
                severity=_severity(mesh_modes.values()),
                namespace="",
                name="",
                kind="Mesh",
                message=(
                    f"The mesh-wide mode differs across clusters ({where}): every namespace "
                    "without its own policy inherits a different mode in each cluster, and "
                    f"{_consequence(mesh_modes.values())}."
                ),
            )
        )

    by_namespace: dict[str, dict[str, str]] = {}
    roots = {posture.root_namespace for posture in clusters}
    for posture in clusters:
        for namespace, mode in posture.namespaces.items():
            by_namespace.setdefault(namespace, {})[posture.cluster] = mode
    for namespace in sorted(by_namespace):
        modes = by_namespace[namespace]
        # A root namespace everywhere it exists is the mesh finding's to report.
        if namespace in roots and all(
            posture.root_namespace == namespace for posture in clusters if posture.cluster in modes
        ):
            continue
        if len(modes) > 1 and len(set(modes.values())) > 1:
            findings.append(
                Finding(
                    code=NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS,
                    severity=_severity(modes.values()),
                    namespace=namespace,
                    name=namespace,
                    kind="Namespace",
                    message=(
                        f"Namespace {namespace} is one namespace to Istio in every cluster, "
                        f"but its effective mode differs: {_modes_in_words(modes)}. "
                        f"Its Services' endpoints receive the same clients, so "
                        f"{_consequence(modes.values())}."
                    ),
                )
            )

    namespaces_differing = {
        finding.namespace
        for finding in findings
        if finding.code == NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS
    }
    by_service: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
    for posture in clusters:
        for key, modes in posture.services.items():
            if modes:
                by_service.setdefault(key, {})[posture.cluster] = tuple(modes)
    for namespace, name in sorted(by_service):
        per_cluster = by_service[(namespace, name)]
        if len(per_cluster) < 2 or len(set(per_cluster.values())) < 2:
            continue
        # The namespace finding already says it, unless the workloads disagree beyond it.
        if namespace in namespaces_differing and all(len(m) == 1 for m in per_cluster.values()):
            continue
        words = {cluster: "/".join(modes) for cluster, modes in per_cluster.items()}
        all_modes = {mode for modes in per_cluster.values() for mode in modes}
        findings.append(
            Finding(
                code=SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS,
                severity=_severity(all_modes),
                namespace=namespace,
                name=name,
                kind="Service",
                message=(
                    f"Service {namespace}/{name} has endpoints in several clusters whose "
                    f"workloads serve in different modes: {_modes_in_words(words)}; "
                    f"{_consequence(all_modes)}."
                ),
            )
        )
    return tuple(sorted(findings, key=lambda f: (f.namespace, f.name, f.code)))
