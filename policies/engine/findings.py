"""Findings: what Istio silently ignores, and what will break, in words a person can act on.

The DestinationRule findings judge what each class of clients sends to each Service port
(see policies/engine/destinations.py for how Istio picks a client's rule and its TLS per
port) against what the workload behind the port refuses: a Service port reaches a
container port (`targetPort`, a number or a container port's name), and the server's mode
on that port, not its workload-wide mode, decides.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from policies.engine.destinations import (
    ISTIO_MUTUAL,
    PLAINTEXT_TLS_MODES,
    ClientView,
    Destinations,
    mode_at_port,
    strict_by_workload_policy,
    target_port,
)
from policies.engine.injection import InjectionRule, workload_injection
from policies.engine.inputs import (
    CLUSTER_DOMAIN,
    DestinationRuleInput,
    Inputs,
    PeerAuthenticationInput,
    ServiceInput,
    WorkloadInput,
)
from policies.engine.model import (
    Finding,
    MeshPosture,
    Mode,
    NamespacePosture,
    Severity,
    WorkloadPosture,
    WorkloadRef,
)

if TYPE_CHECKING:
    from policies.engine.resolve import Competition

_FINDING_ORDER = attrgetter("namespace", "name", "code", "kind", "message")
_LISTED = 5


@dataclass(frozen=True)
class FindingContext:
    """What the resolver computed, handed to the finding rules in one piece."""

    root_namespace: str
    inputs: Inputs
    mesh: MeshPosture
    mesh_competition: Competition | None
    namespace_competitions: dict[str, Competition | None]
    namespaces: dict[str, NamespacePosture]
    workloads: list[tuple[WorkloadInput, WorkloadPosture]]
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
    findings += _destination_rule_findings(context, destinations)
    findings.sort(key=_FINDING_ORDER)
    return tuple(findings)


def _ref(policy: PeerAuthenticationInput) -> str:
    return f"{policy.namespace}/{policy.name}"


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    if len(names) > _LISTED:
        shown += f" and {len(names) - _LISTED} more"
    return shown


def _duplicate_message(competition: Competition, where: str) -> str:
    winner = competition.winner
    ignored = _listed([_ref(policy) for policy in competition.losers])
    return (
        f"{len(competition.losers) + 1} PeerAuthentications compete {where}: "
        f"{_ref(winner)} ({winner.mode}) is the oldest and is the only one Istio applies; "
        f"{ignored} {'is' if len(competition.losers) == 1 else 'are'} ignored. "
        f"Delete the ignored ones or merge their settings into {_ref(winner)}."
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
                f"{_ref(policy)} has a selector but lives in the root namespace {root}, so "
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
                    f"{_ref(policy)} is {level} but sets portLevelMtls, which needs a "
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
                    f"{_ref(policy)} has mtls.mode {policy.invalid_mode!r}, which is not "
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
                    f"{_ref(policy)} names portLevelMtls keys that are not port numbers "
                    f"1-65535 ({_listed(policy.invalid_ports)}); they are ignored. Use the "
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
                    f"{_ref(policy)} selects pods labelled {labels}, and no workload in "
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
    for workload, posture in context.workloads:
        if posture.mode is strict and not posture.has_sidecar and not posture.ambient:
            where = f"{posture.kind} {posture.namespace}/{posture.name}"
            # Reported in the root namespace too (the rule has no exception), but there the
            # usual culprit is Istio's own control plane, which runs without a sidecar.
            remedy = (
                "If it is part of Istio's control plane (istiod), that is by design and it "
                "needs no PeerAuthentication; otherwise enable injection and restart it."
                if posture.namespace == root_namespace
                else _sidecar_remedy(workload, context)
            )
            findings.append(
                Finding(
                    "STRICT_WITHOUT_SIDECAR",
                    Severity.WARNING,
                    posture.namespace,
                    posture.name,
                    posture.kind,
                    f"{where} is STRICT (decided by {posture.policy}) but has no "
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
        for workload, posture in result.workloads:
            findings += _workload_policy_findings(
                competition, workload, posture, context, destinations
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
    winner = competition.winner
    wants_strict = winner.mode is Mode.STRICT or any(
        mode is Mode.STRICT for mode in winner.port_modes.values()
    )
    if not wants_strict:
        return findings
    services = destinations.services_selecting(workload)
    if services:
        unmet = _clients_without_istio_mutual(workload, posture, services, destinations)
        if not unmet:
            return findings
        clients, through = unmet
        hosts = _listed([s.fqdn for s in services])
        gap = (
            f"no DestinationRule makes {clients} send ISTIO_MUTUAL to it "
            f"(through {_listed(through)})."
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
            f"{_ref(winner)} makes {_strict_part(winner)}{where} STRICT, and {gap}{risk} {advice}",
        )
    )
    return findings


def _clients_without_istio_mutual(
    workload: WorkloadInput,
    posture: WorkloadPosture,
    services: list[ServiceInput],
    destinations: Destinations,
) -> tuple[str, list[str]] | None:
    """Which clients reach a port made STRICT by the workload policy without ISTIO_MUTUAL,
    in words, and through which Service ports (None: every client sends ISTIO_MUTUAL)."""
    unmet: list[ClientView] = []
    met: list[ClientView] = []
    through: list[str] = []
    for service in services:
        views = destinations.views(service)
        for target in destinations.ports(service):
            port = target_port(target, workload)
            if port is None or not strict_by_workload_policy(posture, port):
                continue
            without = []
            for view in views:
                if view.tls(target.port)[0] == ISTIO_MUTUAL:
                    met.append(view)
                else:
                    without.append(view)
            if without:
                unmet += without
                through.append(f"{service.fqdn} port {target.port}")
    if not unmet:
        return None
    return _clients_words(unmet, met, everywhere="clients in every namespace"), through


def _strict_part(policy: PeerAuthenticationInput) -> str:
    if policy.mode is Mode.STRICT:
        return ""
    ports = [str(port) for port, mode in sorted(policy.port_modes.items()) if mode is Mode.STRICT]
    return f"port{'s' if len(ports) > 1 else ''} {', '.join(ports)} of "


def _clients_words(
    affected: list[ClientView], unaffected: Iterable[ClientView], everywhere: str
) -> str:
    """The affected clients compactly: every namespace (but some), or the namespaces named.

    A namespace whose workloadSelector rules split its clients is named with the pods
    meant when its clients are on both sides. `unaffected` is read only as far as needed:
    naming the affected namespaces needs just one unaffected client outside them.
    """
    affected_namespaces = _namespaces(affected)
    if any(view.rest or view.selector is not None or view.unselected for view in affected):
        return _clients_split_words(affected, list(unaffected), everywhere)
    unaffected = iter(unaffected)
    for view in unaffected:
        if view.rest or not affected_namespaces.issuperset(view.namespaces):
            return f"clients in {_listed_set(affected_namespaces)}"
        if view.selector is not None or view.unselected:
            # Some pods of an affected namespace are not affected: say which are.
            return _clients_split_words(affected, [view, *unaffected], everywhere)
    return everywhere


def _clients_split_words(
    affected: list[ClientView], unaffected: list[ClientView], everywhere: str
) -> str:
    affected_labels = _labels(affected, _namespaces(unaffected))
    others = _labels(unaffected, _namespaces(affected)) - affected_labels
    if any(view.rest for view in affected) or not (others or any(view.rest for view in unaffected)):
        return f"{everywhere} but {_listed_set(others)}" if others else everywhere
    return f"clients in {_listed_set(affected_labels)}"


def _namespaces(views: list[ClientView]) -> set[str]:
    found: set[str] = set()
    for view in views:
        found.update(view.namespaces)
    return found


def _labels(views: list[ClientView], other_side: set[str]) -> set[str]:
    """The views' namespaces, qualified by their pods where the other side has them too."""
    labels: set[str] = set()
    for view in views:
        if view.selector is None and not view.unselected:
            labels.update(view.namespaces)
        else:
            labels.update(
                view.label(namespace) if namespace in other_side else namespace
                for namespace in view.namespaces
            )
    return labels


def _listed_set(names: set[str]) -> str:
    """_listed of a set, sorted, without sorting all of a large one."""
    first = heapq.nsmallest(_LISTED, names)
    shown = ", ".join(first)
    if len(names) > _LISTED:
        shown += f" and {len(names) - _LISTED} more"
    return shown


class _Refused:
    """A STRICT workload a rule's clients are refused by, named once for every rule."""

    __slots__ = ("key", "ref")

    def __init__(self, posture: WorkloadPosture) -> None:
        self.key = (posture.namespace, posture.name, posture.kind)
        self.ref = WorkloadRef(*self.key)


def _listed_refs(refs: list[WorkloadRef]) -> str:
    shown = ", ".join(str(ref) for ref in refs[:_LISTED])
    if len(refs) > _LISTED:
        shown += f" and {len(refs) - _LISTED} more"
    return shown


class _PlaintextRule:
    """What one DestinationRule makes clients send to STRICT ports, gathered over Services."""

    __slots__ = ("modes", "top_level", "port_level", "affected", "contexts", "workloads")

    def __init__(self) -> None:
        self.modes: set[str] = set()
        self.top_level = False
        self.port_level: set[int] = set()
        self.affected: list[ClientView] = []
        # The views of every Service it sends plaintext to: all of their clients.
        self.contexts: list[tuple[ClientView, ...]] = []
        self.workloads: dict[tuple[str, str, str], _Refused] = {}

    def unaffected(
        self, rule: DestinationRuleInput, destinations: Destinations
    ) -> Iterator[ClientView]:
        """The clients of those Services that use another rule's traffic policy."""
        for views in self.contexts:
            for view in views:
                for policy, part in destinations.split_by_policy(view):
                    if policy is not rule:
                        yield part


def _destination_rule_findings(
    context: FindingContext, destinations: Destinations
) -> list[Finding]:
    by_rule: dict[int, tuple[DestinationRuleInput, _PlaintextRule]] = {}
    refs: dict[int, _Refused] = {}
    rules = destinations.rules
    for service in destinations.services:
        if not rules.may_send_plaintext(service.fqdn):
            continue
        views = destinations.views(service)
        selected = None
        for target in destinations.ports(service):
            for view in views:
                mode, _rule, port_level = view.tls(target.port)
                if mode not in PLAINTEXT_TLS_MODES:
                    continue
                if selected is None:
                    selected = destinations.workloads_selected_by(service)
                strict = []
                for workload, posture in selected:
                    port = target_port(target, workload)
                    if port is not None and mode_at_port(posture, port)[0] is Mode.STRICT:
                        ref = refs.get(id(posture))
                        if ref is None:
                            ref = refs[id(posture)] = _Refused(posture)
                        strict.append(ref)
                if not strict:
                    continue
                for rule, clients in destinations.split_by_policy(view):
                    entry = by_rule.get(id(rule))
                    if entry is None:
                        entry = by_rule[id(rule)] = (rule, _PlaintextRule())
                    gathered = entry[1]
                    gathered.modes.add(mode)
                    if port_level:
                        gathered.port_level.add(target.port)
                    else:
                        gathered.top_level = True
                    gathered.affected.append(clients)
                    if not gathered.contexts or gathered.contexts[-1] is not views:
                        gathered.contexts.append(views)
                    for ref in strict:
                        gathered.workloads[ref.key] = ref
    findings = []
    for rule, gathered in by_rule.values():
        workloads = [gathered.workloads[key].ref for key in sorted(gathered.workloads)]
        modes = sorted(gathered.modes)
        if modes == ["DISABLE"]:
            what = "plaintext"
        elif modes == ["SIMPLE"]:
            what = "TLS without the mesh certificate"
        else:
            what = "plaintext or TLS without the mesh certificate"
        host = _host_words(rule)
        ports = sorted(gathered.port_level)
        port_words = (
            f"in its portLevelSettings for port{'s' if len(ports) > 1 else ''} "
            f"{', '.join(map(str, ports))} of {host}"
        )
        if not ports:
            where = f"for {host}"
        elif gathered.top_level:
            where = f"for {host} and {port_words}"
        else:
            where = port_words
        clients = _clients_words(
            gathered.affected,
            gathered.unaffected(rule, destinations),
            everywhere="clients in every namespace that sees it",
        )
        findings.append(
            Finding(
                "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT",
                Severity.ERROR,
                rule.namespace,
                rule.name,
                "DestinationRule",
                f"DestinationRule {rule.namespace}/{rule.name} sets tls.mode "
                f"{' and '.join(modes)} {where}, so {clients} send {what} to STRICT "
                f"workloads ({_listed_refs(workloads)}), which refuse it. "
                "Change the mode to ISTIO_MUTUAL, or remove the tls block.",
                tuple(workloads),
            )
        )
    return findings


def _host_words(rule: DestinationRuleInput) -> str:
    if rule.host and "." not in rule.host and "*" not in rule.host:
        return f"{rule.host} ({rule.host}.{rule.namespace}.{CLUSTER_DOMAIN})"
    return rule.host
