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
from dataclasses import fields as dataclass_fields
from operator import attrgetter
from typing import Any

from policies.engine.destinations import ServicePorts, rule_summary
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
    Loser,
    MeshPosture,
    Mode,
    NamespacePosture,
    Outcome,
    PolicyRef,
    PolicyScope,
    PolicyStamp,
    PolicyStatus,
    PolicyVerdict,
    PortPosture,
    Posture,
    Reason,
    ServiceInfo,
    WorkloadPosture,
)

DEFAULT_ROOT_NAMESPACE = "istio-system"
_SCOPE_WORDS = {
    Level.MESH: "mesh-wide",
    Level.NAMESPACE: "namespace-wide",
    Level.WORKLOAD: "for this workload",
}


class Competition:
    """The policies competing at one level for one target: the oldest wins, the rest lose."""

    __slots__ = ("level", "winner", "losers", "ref", "stamp", "loser_values", "_steps")

    def __init__(self, level: Level, candidates: list[PeerAuthenticationInput]) -> None:
        ordered = sorted(candidates, key=_sort_key)
        self.level = level
        self.winner = ordered[0]
        self.losers = ordered[1:]
        self.ref = PolicyRef(self.winner.namespace, self.winner.name)
        self.stamp = PolicyStamp(
            self.winner.namespace, self.winner.name, self.winner.mode, self.winner.created
        )
        self.loser_values = tuple(
            Loser(
                loser.namespace,
                loser.name,
                loser.mode,
                loser.created,
                lost_because(loser, self.winner),
            )
            for loser in self.losers
        )
        self._steps: dict[Outcome, LevelStep] = {}

    def step(self, outcome: Outcome) -> LevelStep:
        """This level's chain entry for the given outcome (built once, then shared)."""
        step = self._steps.get(outcome)
        if step is None:
            step = LevelStep(
                self.level,
                self.winner.mode,
                outcome,
                self.stamp,
                self.loser_values,
                _note(self, outcome),
            )
            self._steps[outcome] = step
        return step


def _sort_key(policy: PeerAuthenticationInput) -> tuple[Any, ...]:
    return policy.sort_key


def lost_because(loser: PeerAuthenticationInput, winner: PeerAuthenticationInput) -> str:
    """Why `loser` sorts after `winner` in Istio's order, in the words of the JSON contract."""
    if loser.sort_key[0] != winner.sort_key[0]:
        return "newer"
    if loser.name != winner.name:
        return "same creation time, name sorts later"
    return "same creation time and name, namespace sorts later"


def _note(competition: Competition, outcome: Outcome) -> str:
    winner = competition.winner
    ref = competition.ref
    scope = _SCOPE_WORDS[competition.level]
    if outcome is Outcome.INHERITED:
        text = f"{ref} leaves the mode UNSET, so the level above decides."
    elif outcome is Outcome.DECIDED:
        text = f"{ref} sets {winner.mode} {scope}."
    else:
        text = f"{ref} sets {winner.mode} {scope}, but a narrower level overrides it."
    if competition.loser_values:
        ignored = ", ".join(
            f"{loser.namespace}/{loser.name} ({loser.lost_because})"
            for loser in competition.loser_values
        )
        text += f" Ignored because only the oldest policy at a level counts: {ignored}."
    return text


def _absent_step(level: Level, note: str) -> LevelStep:
    return LevelStep(level, None, Outcome.ABSENT, None, (), note)


def _outcome(competition: Competition | None, decided_here: bool) -> Outcome:
    if competition is None:
        return Outcome.ABSENT
    if competition.winner.mode is Mode.UNSET:
        return Outcome.INHERITED
    return Outcome.DECIDED if decided_here else Outcome.OVERRIDDEN


def _decides(competition: Competition | None) -> bool:
    return competition is not None and competition.winner.mode is not Mode.UNSET


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
    mesh_decides = _decides(mesh)
    mesh_mode = mesh.winner.mode if mesh_decides else Mode.PERMISSIVE  # type: ignore[union-attr]
    mesh_ref = mesh.ref if mesh_decides else None  # type: ignore[union-attr]
    mesh_source = Level.MESH if mesh_decides else Level.DEFAULT
    mesh_absent = _absent_step(
        Level.MESH,
        f"No mesh-wide PeerAuthentication (selector-less, in {root_namespace}); "
        "Istio's built-in default is PERMISSIVE.",
    )

    def mesh_step(decided_below: bool) -> LevelStep:
        """The mesh level's chain entry, overridden when a narrower level decided."""
        if mesh is None:
            return mesh_absent
        return mesh.step(_outcome(mesh, not decided_below))

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
        if _decides(competition):
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
            resolution.absent_step = _absent_step(
                Level.NAMESPACE,
                f"{name} is the root namespace: its selector-less policies are mesh-wide.",
            )
        else:
            resolution.absent_step = _absent_step(
                Level.NAMESPACE, f"No namespace-wide PeerAuthentication in {name}."
            )
        policies = workload_policies.get(name, [])
        resolution.workload_policies = policies
        resolution.selector_index = _selector_index(policies)
        resolution.results = {}
        resolutions[name] = resolution
        chain = (
            mesh_step(_decides(competition)),
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
    pairs: list[tuple[WorkloadInput, WorkloadPosture]] = []
    pairs_by_namespace: dict[str, list[tuple[WorkloadInput, WorkloadPosture]]] = {}
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
            group.sort(key=_name_and_kind)
        namespace_pairs = []
        for workload in group:
            result = shared or _workload_result(resolution, workload, mesh_step)
            labels = workload.labels
            sidecar, ambient = data_plane(workload)
            pair = (
                workload,
                _workload_posture(
                    name,
                    workload.name,
                    workload.kind,
                    result.mode,
                    result.policy,
                    result.source,
                    result.reason,
                    result.ports,
                    labels,
                    workload.container_ports,
                    sidecar,
                    ambient,
                ),
            )
            result.workloads.append(pair)
            namespace_pairs.append(pair)
        pairs_by_namespace[name] = namespace_pairs
        pairs += namespace_pairs
    workload_postures = [posture for _, posture in pairs]

    verdicts = _policy_verdicts(inputs, root_namespace, mesh, resolutions, root_selector_policies)
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
        workloads=pairs,
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


_SET_WORKLOAD_FIELDS = tuple(
    WorkloadPosture.__dict__[field.name].__set__ for field in dataclass_fields(WorkloadPosture)
)
(
    _set_namespace,
    _set_name,
    _set_kind,
    _set_mode,
    _set_policy,
    _set_source,
    _set_reason,
    _set_ports,
    _set_labels,
    _set_container_ports,
    _set_has_sidecar,
    _set_ambient,
) = _SET_WORKLOAD_FIELDS


def _workload_posture(
    namespace: str,
    name: str,
    kind: str,
    mode: Mode,
    policy: PolicyRef | None,
    source: Level,
    reason: Reason,
    ports: tuple[PortPosture, ...],
    labels: dict[str, str],
    container_ports: tuple[int, ...],
    has_sidecar: bool,
    ambient: bool,
) -> WorkloadPosture:
    """WorkloadPosture(...) for the hot loop, equal in every way to the dataclass's own.

    A frozen dataclass's __init__ sets each field through object.__setattr__; writing the
    twelve slots through their descriptors does the same at 60% of the cost, which counts
    once per workload (150,000 in a large cluster). The unpacking above fails at import if
    a field is ever added or removed without updating this function.
    """
    posture = _object_new(WorkloadPosture)
    _set_namespace(posture, namespace)
    _set_name(posture, name)
    _set_kind(posture, kind)
    _set_mode(posture, mode)
    _set_policy(posture, policy)
    _set_source(posture, source)
    _set_reason(posture, reason)
    _set_ports(posture, ports)
    _set_labels(posture, labels)
    _set_container_ports(posture, container_ports)
    _set_has_sidecar(posture, has_sidecar)
    _set_ambient(posture, ambient)
    return posture


_object_new = object.__new__
_name_and_kind = attrgetter("name", "kind")


def sorted_by_namespace(items: Iterable[Any], within: Any) -> list[Any]:
    """`items` ordered by `.namespace`, then by the `within` key, stably.

    The same order as sorting on a (namespace, *within) tuple key, but grouping first turns
    one large sort over tuples into a sort of namespace names and many small sorts, which
    costs a third as much at mesh scale (tens of thousands of Services and policies).
    """
    groups: dict[str, list[Any]] = {}
    for item in items:
        group = groups.get(item.namespace)
        if group is None:
            groups[item.namespace] = [item]
        else:
            group.append(item)
    ordered: list[Any] = []
    for namespace in sorted(groups):
        group = groups[namespace]
        group.sort(key=within)
        ordered += group
    return ordered


def _namespace_step(resolution: _NamespaceResolution, decided_below: bool = False) -> LevelStep:
    competition = resolution.competition
    if competition is None:
        return resolution.absent_step
    return competition.step(_outcome(competition, not decided_below))


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
    if _decides(competition):
        mode = competition.winner.mode  # type: ignore[union-attr]
        policy = competition.ref  # type: ignore[union-attr]
        source = Level.WORKLOAD
        workload_step = competition.step(Outcome.DECIDED)  # type: ignore[union-attr]
        decided_below_namespace = True
    else:
        mode, policy, source = resolution.mode, resolution.policy, resolution.source
        if competition is None:
            workload_step = _absent_step(
                Level.WORKLOAD,
                f"No workload-level PeerAuthentication in {resolution.name} selects this workload.",
            )
        else:
            workload_step = competition.step(Outcome.INHERITED)
        decided_below_namespace = False
    namespace_decides = _decides(resolution.competition)
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
            competition.step(_outcome(competition, False)),
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


def _policy_verdicts(
    inputs: Inputs,
    root_namespace: str,
    mesh: Competition | None,
    resolutions: dict[str, _NamespaceResolution],
    root_selector_policies: list[PeerAuthenticationInput],
) -> tuple[PolicyVerdict, ...]:
    verdicts: list[PolicyVerdict] = []
    status: dict[int, tuple[PolicyScope, PolicyStatus, str]] = {}

    def level_status(competition: Competition | None, scope: PolicyScope) -> None:
        """Record the winner as effective and the losers as shadowed at one level."""
        if competition is None:
            return
        winner = competition.winner
        if winner.mode is Mode.UNSET:
            words = (
                "It is the oldest at its level but leaves the mode UNSET, "
                "so the level above decides."
            )
        else:
            words = f"It decides the {scope} mode: {winner.mode}."
        status[id(winner)] = (scope, PolicyStatus.EFFECTIVE, words)
        for loser, value in zip(competition.losers, competition.loser_values, strict=True):
            status[id(loser)] = (
                scope,
                PolicyStatus.SHADOWED,
                f"Ignored: {competition.ref} is preferred at the {scope} level "
                f"({value.lost_because}), and only one policy counts there.",
            )

    level_status(mesh, PolicyScope.MESH)
    selected: dict[int, int] = {}
    decided: dict[int, int] = {}
    beaten_by: dict[int, set[str]] = {}
    for resolution in resolutions.values():
        level_status(resolution.competition, PolicyScope.NAMESPACE)
        for result in resolution.results.values():
            competition = result.competition
            if competition is None:
                continue
            count = len(result.workloads)
            decided[id(competition.winner)] = decided.get(id(competition.winner), 0) + count
            for policy in (competition.winner, *competition.losers):
                selected[id(policy)] = selected.get(id(policy), 0) + count
            for loser in competition.losers:
                beaten_by.setdefault(id(loser), set()).add(str(competition.ref))
    for policy in root_selector_policies:
        status[id(policy)] = (
            PolicyScope.IGNORED,
            PolicyStatus.IGNORED,
            f"A policy with a selector in the root namespace {root_namespace} applies to no "
            "workload, not even to workloads in the root namespace.",
        )
    for resolution in resolutions.values():
        for policy in resolution.workload_policies:
            chosen = selected.get(id(policy), 0)
            wins = decided.get(id(policy), 0)
            if chosen == 0:
                status[id(policy)] = (
                    PolicyScope.WORKLOAD,
                    PolicyStatus.IGNORED,
                    f"Its selector matches no workload in {policy.namespace}.",
                )
            elif wins:
                status[id(policy)] = (
                    PolicyScope.WORKLOAD,
                    PolicyStatus.EFFECTIVE,
                    f"It applies to {wins} of the {chosen} workloads it selects.",
                )
            else:
                older = ", ".join(sorted(beaten_by.get(id(policy), ())))
                status[id(policy)] = (
                    PolicyScope.WORKLOAD,
                    PolicyStatus.SHADOWED,
                    f"Every workload it selects is decided by an older policy: {older}.",
                )
    for policy in inputs.peer_authentications:
        scope, state, words = status[id(policy)]
        if policy.port_modes and scope in (PolicyScope.MESH, PolicyScope.NAMESPACE):
            words += " Its portLevelMtls is ignored: ports need a selector."
        verdicts.append(
            PolicyVerdict(
                kind="PeerAuthentication",
                namespace=policy.namespace,
                name=policy.name,
                api_version=policy.api_version,
                scope=scope,
                mode=str(policy.mode),
                selector=policy.selector,
                port_modes=dict(policy.port_modes),
                host="",
                created=policy.created,
                resource_version=policy.resource_version,
                uid=policy.uid,
                status=state,
                status_reason=words,
                manifest=policy.manifest,
            )
        )
    for rule in inputs.destination_rules:
        words = rule_summary(rule, root_namespace)
        verdicts.append(
            PolicyVerdict(
                kind="DestinationRule",
                namespace=rule.namespace,
                name=rule.name,
                api_version=rule.api_version,
                scope=PolicyScope.DESTINATION,
                mode=rule.tls_mode,
                selector={},
                port_modes={},
                host=rule.host,
                created=rule.created,
                resource_version=rule.resource_version,
                uid=rule.uid,
                status=PolicyStatus.EFFECTIVE,
                status_reason=words,
                manifest=rule.manifest,
            )
        )
    return tuple(sorted_by_namespace(verdicts, _name_and_kind))


__all__ = ["MISSING_TIME_KEY", "evaluate", "resolve"]
