"""Effective mTLS modes exactly as Istio composes them, with the reason for each.

Istio (pilot/pkg/model/authentication.go, pilot/pkg/security/authn/policy_applier.go
ComposePeerAuthentication) sorts the PeerAuthentications that apply to a workload oldest
first (ties: name, then namespace), keeps the first at each level (mesh = selector-less in
the root namespace, namespace = selector-less elsewhere, workload = non-empty selector
outside the root namespace), and then walks mesh → namespace → workload → port, where UNSET
keeps what the level above decided and the start is PERMISSIVE. A losing policy contributes
nothing, not even its ports.

Workloads that compete for the same policies share one result: the reason, mode and ports
are computed once per (namespace, candidate set), which keeps 150,000 workloads cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from policies.engine.competition import (
    Competition,
    absent_step,
    competition_decides,
    level_outcome,
    name_and_kind,
    sorted_by_namespace,
)
from policies.engine.destinations import ServicePorts
from policies.engine.findings import FindingContext, collect_findings
from policies.engine.injection import (
    DATAPLANE_MODE_LABEL,
    NamespaceDataPlane,
    namespace_injection,
)
from policies.engine.inputs import (
    MISSING_TIME_KEY,
    Inputs,
    PeerAuthenticationInput,
    WorkloadInput,
    parse_objects,
)
from policies.engine.model import (
    Level,
    LevelStep,
    MeshPosture,
    Mode,
    NamespacePosture,
    Outcome,
    PolicyStamp,
    PortPosture,
    Posture,
    Reason,
    ServiceInfo,
    WorkloadPosture,
)
from policies.engine.verdicts import policy_verdicts

DEFAULT_ROOT_NAMESPACE = "istio-system"


class _NamespaceResolution:
    """A namespace's competition and the pieces every workload in it reuses."""

    __slots__ = (
        "name",
        "competition",
        "mode",
        "policy",
        "source",
        "absent_step",
        "workload_policies",
        "selector_index",
        "results",
    )


class _WorkloadResult:
    """The shared outcome for every workload with the same candidate policies."""

    __slots__ = ("mode", "policy", "source", "reason", "ports", "competition", "workloads")

    def __init__(self, mode, policy, source, reason, ports, competition) -> None:
        self.mode = mode
        self.policy = policy
        self.source = source
        self.reason = reason
        self.ports = ports
        self.competition = competition
        self.workloads: list[tuple[WorkloadInput, WorkloadPosture]] = []


def evaluate(
    objects: Iterable[dict[str, Any]], root_namespace: str = DEFAULT_ROOT_NAMESPACE
) -> Posture:
    """Compute the mesh's posture from raw API dicts (any order) as Istio would enforce it.

    The engine allocates hundreds of thousands of small acyclic objects next to a large live
    input, which the cyclic garbage collector rescans for nothing (a third of the run time at
    150,000 workloads). The engine leaves that process-wide switch to its callers: a caller
    evaluating a large mesh runs it inside `policies.gc_pause.gc_paused()`.
    """
    inputs = parse_objects(objects, root_namespace)
    return resolve(inputs, root_namespace)


def resolve(inputs: Inputs, root_namespace: str) -> Posture:
    """Resolve parsed inputs into a Posture (split from evaluate so tests can reuse Inputs)."""
    mesh_candidates: list[PeerAuthenticationInput] = []
    namespace_candidates: dict[str, list[PeerAuthenticationInput]] = {}
    workload_policies: dict[str, list[PeerAuthenticationInput]] = {}
    root_selector_policies: list[PeerAuthenticationInput] = []
    for policy in inputs.peer_authentications:
        if not policy.selector:
            if policy.namespace == root_namespace:
                mesh_candidates.append(policy)
            else:
                namespace_candidates.setdefault(policy.namespace, []).append(policy)
        elif policy.namespace == root_namespace:
            root_selector_policies.append(policy)
        else:
            workload_policies.setdefault(policy.namespace, []).append(policy)

    mesh = Competition(Level.MESH, mesh_candidates) if mesh_candidates else None
    mesh_decides = competition_decides(mesh)
    mesh_mode = mesh.winner.mode if mesh_decides else Mode.PERMISSIVE  # type: ignore[union-attr]
    mesh_ref = mesh.ref if mesh_decides else None  # type: ignore[union-attr]
    mesh_source = Level.MESH if mesh_decides else Level.DEFAULT
    mesh_absent = absent_step(
        Level.MESH,
        f"No mesh-wide PeerAuthentication (selector-less, in {root_namespace}); "
        "Istio's built-in default is PERMISSIVE.",
    )

    def mesh_step(decided_below: bool) -> LevelStep:
        """The mesh level's chain entry, overridden when a narrower level decided."""
        if mesh is None:
            return mesh_absent
        return mesh.step(level_outcome(mesh, not decided_below))

    mesh_posture = MeshPosture(
        mesh_mode, mesh_ref, Reason(mesh_mode, mesh_source, mesh_ref, (mesh_step(False),))
    )

    namespace_postures: list[NamespacePosture] = []
    resolutions: dict[str, _NamespaceResolution] = {}
    for name in sorted(inputs.namespaces):
        namespace = inputs.namespaces[name]
        resolution = _NamespaceResolution()
        resolution.name = name
        is_root = name == root_namespace
        candidates = namespace_candidates.get(name)
        competition = Competition(Level.NAMESPACE, candidates) if candidates else None
        resolution.competition = competition
        if competition_decides(competition):
            resolution.mode = competition.winner.mode  # type: ignore[union-attr]
            resolution.policy = competition.ref  # type: ignore[union-attr]
            resolution.source = Level.NAMESPACE
        else:
            resolution.mode, resolution.policy, resolution.source = (
                mesh_mode,
                mesh_ref,
                mesh_source,
            )
        if is_root:
            resolution.absent_step = absent_step(
                Level.NAMESPACE,
                f"{name} is the root namespace: its selector-less policies are mesh-wide.",
            )
        else:
            resolution.absent_step = absent_step(
                Level.NAMESPACE, f"No namespace-wide PeerAuthentication in {name}."
            )
        policies = workload_policies.get(name, [])
        resolution.workload_policies = policies
        resolution.selector_index = _selector_index(policies)
        resolution.results = {}
        resolutions[name] = resolution
        chain = (
            mesh_step(competition_decides(competition)),
            _namespace_step(resolution),
        )
        namespace_postures.append(
            NamespacePosture(
                name=name,
                mode=resolution.mode,
                policy=resolution.policy,
                source=resolution.source,
                reason=Reason(resolution.mode, resolution.source, resolution.policy, chain),
                labels=namespace.labels,
                is_root=is_root,
                injection=namespace_injection(name, namespace.labels),
                ambient=namespace.labels.get(DATAPLANE_MODE_LABEL) == "ambient",
            )
        )

    by_namespace: dict[str, list[WorkloadInput]] = {}
    for workload in inputs.workloads:
        group = by_namespace.get(workload.namespace)
        if group is None:
            by_namespace[workload.namespace] = [workload]
        else:
            group.append(workload)
    # Namespaces in order and workloads sorted within each: the result is sorted by
    # namespace, name, kind without one large sort over tuple keys.
    workload_postures: list[WorkloadPosture] = []
    pairs_by_namespace: dict[str, list[tuple[WorkloadInput, WorkloadPosture]]] = {}
    # The workloads a per-workload finding may concern (STRICT without a sidecar, or in
    # ambient), picked out here so the findings need not walk every workload again.
    flagged: list[tuple[WorkloadInput, WorkloadPosture]] = []
    strict = Mode.STRICT
    for name in sorted(by_namespace):
        resolution = resolutions[name]
        data_plane = NamespaceDataPlane(inputs.namespaces[name])
        shared = (
            None if resolution.selector_index else _workload_result(resolution, None, mesh_step)
        )
        group = by_namespace[name]
        # By name alone (a string key sorts twice as fast as a tuple); only when two kinds
        # share a name (a Deployment and a StatefulSet `web`) does kind break the tie.
        group.sort(key=_name)
        if len(set(map(_name, group))) < len(group):
            group.sort(key=name_and_kind)
        namespace_pairs = []
        for workload in group:
            result = shared or _workload_result(resolution, workload, mesh_step)
            if workload.has_proxy:
                sidecar, ambient = True, False
            else:
                sidecar, ambient = data_plane(workload)
            # Positional, in field order: keywords cost 3% of evaluate() once per workload
            # (slot_init writes the slots; tests/engine/test_slot_init.py pins the order).
            posture = WorkloadPosture(
                name,
                workload.name,
                workload.kind,
                result.mode,
                result.policy,
                result.source,
                result.reason,
                result.ports,
                workload.labels,
                workload.container_ports,
                sidecar,
                ambient,
                workload.host_network,
            )
            pair = (workload, posture)
            result.workloads.append(pair)
            namespace_pairs.append(pair)
            workload_postures.append(posture)
            if ambient or (result.mode is strict and not sidecar):
                flagged.append(pair)
        pairs_by_namespace[name] = namespace_pairs

    verdicts = policy_verdicts(inputs, root_namespace, mesh, resolutions, root_selector_policies)
    service_ports = ServicePorts()
    services = tuple(
        ServiceInfo(service.namespace, service.name, service.selector, service_ports(service.ports))
        for service in sorted_by_namespace(inputs.services, _name)
    )
    context = FindingContext(
        root_namespace=root_namespace,
        inputs=inputs,
        mesh=mesh_posture,
        mesh_competition=mesh,
        namespace_competitions={
            name: resolution.competition for name, resolution in resolutions.items()
        },
        namespaces={posture.name: posture for posture in namespace_postures},
        flagged_workloads=flagged,
        workloads_by_namespace=pairs_by_namespace,
        workload_results=[
            result for resolution in resolutions.values() for result in resolution.results.values()
        ],
        root_selector_policies=root_selector_policies,
    )
    return Posture(
        root_namespace=root_namespace,
        mesh=mesh_posture,
        namespaces=tuple(namespace_postures),
        workloads=tuple(workload_postures),
        findings=collect_findings(context),
        policies=verdicts,
        services=services,
        object_counts=dict(sorted(inputs.object_counts.items())),
    )


_name = attrgetter("name")


def _namespace_step(resolution: _NamespaceResolution, decided_below: bool = False) -> LevelStep:
    competition = resolution.competition
    if competition is None:
        return resolution.absent_step
    return competition.step(level_outcome(competition, not decided_below))


def _selector_index(
    policies: list[PeerAuthenticationInput],
) -> dict[str, dict[str, list[PeerAuthenticationInput]]]:
    # Each policy is filed under its first selector label (key, then value), so a workload
    # looks up only the few keys policies select on (not each of its own labels) and only
    # checks policies that share at least that label with it; none is seen twice.
    index: dict[str, dict[str, list[PeerAuthenticationInput]]] = {}
    for policy in policies:
        key, value = next(iter(policy.selector.items()))
        index.setdefault(key, {}).setdefault(value, []).append(policy)
    return index


def _workload_result(
    resolution: _NamespaceResolution, workload: WorkloadInput | None, mesh_step
) -> _WorkloadResult:
    candidates: list[PeerAuthenticationInput] = []
    index = resolution.selector_index
    if index and workload is not None:
        labels = workload.labels
        for key, by_value in index.items():
            # A missing label reads as None, which no selector value equals.
            filed = by_value.get(labels.get(key))
            if filed:
                for policy in filed:
                    # selector_matches(policy.selector, labels), inlined: once per workload.
                    if policy.selector.items() <= labels.items():
                        candidates.append(policy)
    if not candidates:
        key_ids: tuple[int, ...] = ()
    elif len(candidates) == 1:
        key_ids = (id(candidates[0]),)
    else:
        key_ids = tuple(sorted(map(id, candidates)))
    result = resolution.results.get(key_ids)
    if result is None:
        result = _compute_workload_result(resolution, candidates, mesh_step)
        resolution.results[key_ids] = result
    return result


def _compute_workload_result(
    resolution: _NamespaceResolution,
    candidates: list[PeerAuthenticationInput],
    mesh_step,
) -> _WorkloadResult:
    competition = Competition(Level.WORKLOAD, candidates) if candidates else None
    if competition_decides(competition):
        mode = competition.winner.mode  # type: ignore[union-attr]
        policy = competition.ref  # type: ignore[union-attr]
        source = Level.WORKLOAD
        workload_step = competition.step(Outcome.DECIDED)  # type: ignore[union-attr]
        decided_below_namespace = True
    else:
        mode, policy, source = resolution.mode, resolution.policy, resolution.source
        if competition is None:
            workload_step = absent_step(
                Level.WORKLOAD,
                f"No workload-level PeerAuthentication in {resolution.name} selects this workload.",
            )
        else:
            workload_step = competition.step(Outcome.INHERITED)
        decided_below_namespace = False
    namespace_decides = competition_decides(resolution.competition)
    chain = (
        mesh_step(decided_below_namespace or namespace_decides),
        _namespace_step(resolution, decided_below_namespace),
        workload_step,
    )
    reason = Reason(mode, source, policy, chain)
    ports: tuple[PortPosture, ...] = ()
    if competition is not None and competition.winner.port_modes:
        # A port with its own mode overrides every level above it, the workload's included.
        port_chain_prefix = (
            mesh_step(True),
            _namespace_step(resolution, True),
            competition.step(level_outcome(competition, False)),
        )
        ports = tuple(
            _port_posture(port, declared, competition, reason, port_chain_prefix)
            for port, declared in sorted(competition.winner.port_modes.items())
        )
    return _WorkloadResult(mode, policy, source, reason, ports, competition)


def _port_posture(
    port: int,
    declared: Mode,
    competition: Competition,
    workload_reason: Reason,
    overridden_chain: tuple[LevelStep, ...],
) -> PortPosture:
    ref = competition.ref
    stamp = PolicyStamp(ref.namespace, ref.name, declared, competition.winner.created)
    if declared is Mode.UNSET:
        step = LevelStep(
            Level.PORT,
            declared,
            Outcome.INHERITED,
            stamp,
            (),
            f"{ref} names port {port} without a mode, so it takes the workload's "
            f"{workload_reason.mode}.",
        )
        reason = Reason(
            workload_reason.mode,
            workload_reason.level,
            workload_reason.policy,
            (*workload_reason.chain, step),
        )
        return PortPosture(port, workload_reason.mode, declared, reason)
    step = LevelStep(
        Level.PORT, declared, Outcome.DECIDED, stamp, (), f"{ref} sets port {port} to {declared}."
    )
    reason = Reason(declared, Level.PORT, ref, (*overridden_chain, step))
    return PortPosture(port, declared, declared, reason)


__all__ = ["MISSING_TIME_KEY", "evaluate", "resolve"]
