"""Findings: what Istio silently ignores, and what will break, in words a person can act on.

The DestinationRule findings judge what each class of clients sends to each Service port
(see policies/engine/destinations.py for how Istio picks a client's rule and its TLS per
port) against what the workload behind the port refuses: a Service port reaches a
container port (`targetPort`, a number or a container port's name), and the server's mode
on that port, not its workload-wide mode, decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from policies.engine.competition import tie_break_words
from policies.engine.destinations import (
    Destinations,
)
from policies.engine.injection import InjectionRule, injection_facts, workload_injection
from policies.engine.inputs import (
    Inputs,
    PeerAuthenticationInput,
    WorkloadInput,
)
from policies.engine.model import (
    Finding,
    MeshPosture,
    Mode,
    NamespacePosture,
    Severity,
    WorkloadPosture,
)

if TYPE_CHECKING:
    from policies.engine.competition import Competition

from policies.engine.destination_findings import (
    clients_without_istio_mutual,
    destination_rule_findings,
)
from policies.engine.finding_words import listed, policy_ref, strict_part

_FINDING_ORDER = attrgetter("namespace", "name", "code", "kind", "message")


@dataclass(frozen=True)
class FindingContext:
    """What the resolver computed, handed to the finding rules in one piece."""

    root_namespace: str
    inputs: Inputs
    mesh: MeshPosture
    mesh_competition: Competition | None
    namespace_competitions: dict[str, Competition | None]
    namespaces: dict[str, NamespacePosture]
    # Only the workloads that are STRICT without a sidecar or in ambient (see resolve).
    flagged_workloads: list[tuple[WorkloadInput, WorkloadPosture]]
    workloads_by_namespace: dict[str, list[tuple[WorkloadInput, WorkloadPosture]]]
    workload_results: list[Any]
    root_selector_policies: list[PeerAuthenticationInput]


def collect_findings(context: FindingContext) -> tuple[Finding, ...]:
    """Every finding for one evaluation, sorted by namespace, name, then code."""
    findings: list[Finding] = []
    findings += _mesh_findings(context)
    findings += _namespace_duplicates(context)
    findings += _policy_shape_findings(context)
    findings += _malformed_findings(context)
    destinations = Destinations(
        context.inputs, context.root_namespace, context.workloads_by_namespace
    )
    findings += _workload_findings(context, destinations)
    findings += destination_rule_findings(context, destinations)
    findings.sort(key=_FINDING_ORDER)
    return tuple(findings)


# The tie-break as the finding words it: the rule's order, not who won.
TIE_BREAK_SHORT = "older creation time, then name, then namespace"


def _duplicate_message(competition: Competition, where: str) -> str:
    winner = competition.winner
    ignored = "; ".join(
        f"{policy_ref(loser)}: {tie_break_words(winner, loser)}" for loser in competition.losers
    )
    return (
        f"{len(competition.losers) + 1} PeerAuthentications compete {where}: "
        f"{policy_ref(winner)} ({winner.mode}) wins Istio's tie-break ({TIE_BREAK_SHORT}) "
        f"and is the only one Istio applies. Ignored: {ignored}. "
        f"Delete the ignored ones or merge their settings into {policy_ref(winner)}."
    )


def _mesh_findings(context: FindingContext) -> list[Finding]:
    findings = []
    root = context.root_namespace
    competition = context.mesh_competition
    if competition is not None and competition.losers:
        findings.append(
            Finding(
                "DUPLICATE_MESH_POLICY",
                Severity.WARNING,
                root,
                competition.winner.name,
                "PeerAuthentication",
                _duplicate_message(competition, f"for the mesh-wide mode in {root}"),
            )
        )
    mesh = context.mesh
    if mesh.mode is not Mode.STRICT:
        if mesh.policy is None and competition is None:
            cause = f"there is no mesh-wide PeerAuthentication in {root}"
        elif mesh.policy is None:
            cause = f"the mesh-wide policy {competition.ref} leaves the mode UNSET"  # type: ignore[union-attr]
        else:
            cause = f"the mesh-wide policy {mesh.policy} sets {mesh.mode}"
        findings.append(
            Finding(
                "MESH_PERMISSIVE",
                Severity.INFO,
                root,
                competition.winner.name if competition is not None else "",
                "PeerAuthentication" if competition is not None else "Mesh",
                f"The mesh-wide mode is {mesh.mode} because {cause}; workloads accept plaintext "
                "unless a narrower policy says otherwise. The recommended end state is a "
                f"selector-less PeerAuthentication in {root} with mode STRICT.",
            )
        )
    return findings


def _namespace_duplicates(context: FindingContext) -> list[Finding]:
    findings = []
    for name, competition in context.namespace_competitions.items():
        if competition is not None and competition.losers:
            findings.append(
                Finding(
                    "DUPLICATE_NAMESPACE_POLICY",
                    Severity.WARNING,
                    name,
                    competition.winner.name,
                    "PeerAuthentication",
                    _duplicate_message(competition, f"for the namespace-wide mode of {name}"),
                )
            )
    return findings


def _policy_shape_findings(context: FindingContext) -> list[Finding]:
    findings = []
    root = context.root_namespace
    for policy in context.root_selector_policies:
        findings.append(
            Finding(
                "ROOT_NAMESPACE_SELECTOR_IGNORED",
                Severity.WARNING,
                policy.namespace,
                policy.name,
                "PeerAuthentication",
                f"{policy_ref(policy)} has a selector but lives in the root namespace {root}, so "
                "Istio applies it to nothing (not even to workloads in that namespace). Move "
                "it to the namespace of the workloads it should select, or remove the "
                "selector to make it the mesh-wide policy.",
            )
        )
    selected: set[int] = set()
    for result in context.workload_results:
        competition = result.competition
        if competition is not None:
            selected.add(id(competition.winner))
            selected.update(id(policy) for policy in competition.losers)
    for policy in context.inputs.peer_authentications:
        if not policy.selector and (policy.port_modes or policy.invalid_ports):
            level = "mesh-wide" if policy.namespace == root else "namespace-wide"
            findings.append(
                Finding(
                    "PORT_LEVEL_WITHOUT_SELECTOR",
                    Severity.ERROR,
                    policy.namespace,
                    policy.name,
                    "PeerAuthentication",
                    f"{policy_ref(policy)} is {level} but sets portLevelMtls, which needs a "
                    "selector: the CRD rejects it, and where it exists anyway Istio ignores "
                    f"its ports (its mode {policy.mode} still counts). Move the port "
                    "settings to a workload policy with a selector.",
                )
            )
        if policy.invalid_mode:
            findings.append(
                Finding(
                    "INVALID_MTLS_MODE",
                    Severity.ERROR,
                    policy.namespace,
                    policy.name,
                    "PeerAuthentication",
                    f"{policy_ref(policy)} has mtls.mode {policy.invalid_mode!r}, which is not "
                    "STRICT, PERMISSIVE, DISABLE or UNSET; the API server rejects it and it "
                    "is treated as UNSET here. Fix the spelling (modes are upper case).",
                )
            )
        if policy.invalid_ports and policy.selector:
            findings.append(
                Finding(
                    "INVALID_PORT_LEVEL_MTLS",
                    Severity.ERROR,
                    policy.namespace,
                    policy.name,
                    "PeerAuthentication",
                    f"{policy_ref(policy)} names portLevelMtls keys that are not port numbers "
                    f"1-65535 ({listed(policy.invalid_ports)}); they are ignored. Use the "
                    "container (target) port number.",
                )
            )
        if policy.selector and policy.namespace != root and id(policy) not in selected:
            labels = ", ".join(f"{key}={value}" for key, value in policy.selector.items())
            findings.append(
                Finding(
                    "SELECTOR_MATCHES_NOTHING",
                    Severity.WARNING,
                    policy.namespace,
                    policy.name,
                    "PeerAuthentication",
                    f"{policy_ref(policy)} selects pods labelled {labels}, and no workload in "
                    f"{policy.namespace} carries all of them, so it has no effect. Check the "
                    "labels against the workload's pod template, or delete the policy.",
                )
            )
    return findings


def _malformed_findings(context: FindingContext) -> list[Finding]:
    return [
        Finding(
            "MALFORMED_OBJECT",
            Severity.ERROR,
            namespace,
            name,
            kind,
            f"{kind} {namespace}/{name} cannot be read ({problem}), so it is left out of the "
            "posture. An API server that validates its objects would not hold it: fix or "
            "delete it.",
        )
        for kind, namespace, name, problem in context.inputs.malformed
    ]


def _workload_findings(context: FindingContext, destinations: Destinations) -> list[Finding]:
    findings: list[Finding] = []
    root_namespace = context.root_namespace
    strict = Mode.STRICT
    # The remedy depends on the namespace and the injection facts only: worded once for each.
    remedies: dict[tuple[Any, ...], str] = {}
    # str() of the deciding policy's ref, once per ref (they are shared between workloads).
    deciders: dict[int, str] = {}
    for workload, posture in context.flagged_workloads:
        if posture.mode is strict and not posture.has_sidecar and not posture.ambient:
            namespace = posture.namespace
            where = f"{posture.kind} {namespace}/{posture.name}"
            # Reported in the root namespace too (the rule has no exception), but there the
            # usual culprit is Istio's own control plane, which runs without a sidecar.
            if namespace == root_namespace:
                remedy = (
                    "If it is part of Istio's control plane (istiod), that is by design and it "
                    "needs no PeerAuthentication; otherwise enable injection and restart it."
                )
            else:
                key = (namespace, *injection_facts(workload))
                remedy = remedies.get(key)  # type: ignore[assignment]
                if remedy is None:
                    remedy = remedies[key] = _sidecar_remedy(workload, context)
            policy = posture.policy
            decider = deciders.get(id(policy))
            if decider is None:
                decider = deciders[id(policy)] = str(policy)
            findings.append(
                Finding(
                    "STRICT_WITHOUT_SIDECAR",
                    Severity.WARNING,
                    namespace,
                    posture.name,
                    posture.kind,
                    f"{where} is STRICT (decided by {decider}) but has no "
                    "istio-proxy sidecar and is not enrolled in ambient, so nothing enforces "
                    f"mTLS for it. {remedy}",
                )
            )
        if posture.ambient:
            where = f"{posture.kind} {posture.namespace}/{posture.name}"
            disabled_ports = [str(p.port) for p in posture.ports if p.mode is Mode.DISABLE]
            if posture.mode is Mode.DISABLE or disabled_ports:
                what = (
                    "its mode is DISABLE"
                    if posture.mode is Mode.DISABLE
                    else f"ports {', '.join(disabled_ports)} are DISABLE"
                )
                findings.append(
                    Finding(
                        "AMBIENT_DISABLE_UNSUPPORTED",
                        Severity.WARNING,
                        posture.namespace,
                        posture.name,
                        posture.kind,
                        f"{where} is in ambient mode and {what} ({posture.policy}), but ztunnel "
                        "treats DISABLE as PERMISSIVE: it still accepts mTLS and plaintext. "
                        "Use PERMISSIVE to say what actually happens, or take the workload "
                        "out of ambient.",
                    )
                )
    for result in context.workload_results:
        competition = result.competition
        if competition is None:
            continue
        winner = competition.winner
        wants_strict = winner.mode is Mode.STRICT or any(
            mode is Mode.STRICT for mode in winner.port_modes.values()
        )
        if not wants_strict and not competition.losers:
            continue  # nothing to say about any workload the competition decides
        for workload, posture in result.workloads:
            findings += _workload_policy_findings(
                competition, wants_strict, workload, posture, context, destinations
            )
    return findings


def _sidecar_remedy(workload: WorkloadInput, context: FindingContext) -> str:
    """What would give the workload a sidecar, from the rule the injector applies to it."""
    decision = workload_injection(workload, context.inputs.namespaces[workload.namespace])
    rule = decision.rule
    if decision.injects:
        # Only admitted pods without a proxy get here: they predate what now injects them.
        return (
            f"Its pods run without one, but new pods would get it ({rule}): restart it "
            "(kubectl rollout restart)."
        )
    if rule is InjectionRule.HOST_NETWORK:
        return (
            "It uses hostNetwork, and Istio neither injects nor captures such pods with "
            "ambient: nothing can enforce mTLS for it, so give it PERMISSIVE or move it off "
            "the host network."
        )
    if rule in (InjectionRule.POD_LABEL_OPT_OUT, InjectionRule.ANNOTATION_OPT_OUT):
        return f"It opts out of injection ({rule}): remove that and restart it."
    if rule is InjectionRule.NAMESPACE_LABEL_NOT_ENABLED:
        return (
            f"No sidecar is injected because {rule}: set istio-injection=enabled (or "
            "remove it and use istio.io/rev) and restart it, or enrol the namespace in ambient."
        )
    return (
        "Enable injection (namespace label istio-injection=enabled or istio.io/rev) and "
        "restart it, or enrol the namespace in ambient."
    )


def _workload_policy_findings(
    competition: Competition,
    wants_strict: bool,
    workload: WorkloadInput,
    posture: WorkloadPosture,
    context: FindingContext,
    destinations: Destinations,
) -> list[Finding]:
    findings = []
    where = f"{posture.kind} {posture.namespace}/{posture.name}"
    if competition.losers:
        findings.append(
            Finding(
                "DUPLICATE_WORKLOAD_POLICY",
                Severity.WARNING,
                posture.namespace,
                posture.name,
                posture.kind,
                _duplicate_message(competition, f"to select {where}"),
            )
        )
    if not wants_strict:
        return findings
    winner = competition.winner
    services = destinations.services_selecting(workload)
    if services:
        unmet = clients_without_istio_mutual(workload, posture, services, destinations)
        if not unmet:
            return findings
        clients, through = unmet
        hosts = listed([s.fqdn for s in services])
        gap = (
            f"no DestinationRule makes {clients} send ISTIO_MUTUAL to it "
            f"(through {listed(through)})."
        )
        advice = f"Add a DestinationRule with trafficPolicy.tls.mode ISTIO_MUTUAL for {hosts}."
    else:
        gap = "no DestinationRule sends ISTIO_MUTUAL to a Service that selects it."
        advice = (
            "No Service selects it; add one and a DestinationRule with "
            "trafficPolicy.tls.mode ISTIO_MUTUAL for its host."
        )
    namespace_mode = context.namespaces[posture.namespace].mode
    severity = Severity.WARNING if namespace_mode is Mode.DISABLE else Severity.INFO
    # Auto mTLS infers the server's mode from namespace and mesh policies only
    # (push_context.go BestEffortInferServiceMTLSMode), never from workload policies.
    risk = (
        " Its namespace is DISABLE, so clients with auto mTLS send plaintext and are refused."
        if severity is Severity.WARNING
        else ""
    )
    findings.append(
        Finding(
            "WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE",
            severity,
            posture.namespace,
            posture.name,
            posture.kind,
            f"{policy_ref(winner)} makes {strict_part(winner)}{where} STRICT, "
            f"and {gap}{risk} {advice}",
        )
    )
    return findings
