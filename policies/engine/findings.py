"""Findings: what Istio silently ignores, and what will break, in words a person can act on.

DestinationRule hosts are matched the way Istio resolves them for a Service: a short host
(no dot) is completed with the rule's own namespace (`NAME.NS.svc.cluster.local`); a host
with a dot is taken as written, so `NAME.NS` matches no Service. Wildcards follow Istio's
host semantics: `*` matches every Service and `*.SUFFIX` every Service whose full name ends
in `.SUFFIX`. When several rules match one Service, the one Istio applies is the most
specific: an exact host before any wildcard, a longer wildcard before a shorter one, and
among equals the oldest (Istio merges same-host rules and keeps the first one's top-level
traffic policy). Only that rule's top-level `trafficPolicy.tls.mode` is judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from policies.engine.injection import InjectionRule, workload_injection
from policies.engine.inputs import (
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
)

if TYPE_CHECKING:
    from policies.engine.resolve import Competition

CLUSTER_DOMAIN = "svc.cluster.local"
_FINDING_ORDER = attrgetter("namespace", "name", "code", "kind", "message")
_PLAINTEXT_TLS_MODES = {"DISABLE", "SIMPLE"}
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
    destinations = _Destinations(context.inputs, context.workloads_by_namespace)
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


def _workload_findings(context: FindingContext, destinations: _Destinations) -> list[Finding]:
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
    destinations: _Destinations,
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
    if wants_strict and not destinations.has_istio_mutual(workload):
        namespace_mode = context.namespaces[posture.namespace].mode
        services = destinations.services_selecting(workload)
        if services:
            hosts = _listed([_fqdn(s) for s in services])
            advice = f"Add a DestinationRule with trafficPolicy.tls.mode ISTIO_MUTUAL for {hosts}."
        else:
            advice = (
                "No Service selects it; add one and a DestinationRule with "
                "trafficPolicy.tls.mode ISTIO_MUTUAL for its host."
            )
        severity = Severity.WARNING if namespace_mode is Mode.DISABLE else Severity.INFO
        risk = (
            " Its namespace is DISABLE, so clients there do not send mTLS by themselves "
            "and will be refused."
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
                f"{_ref(winner)} makes {_strict_part(winner)}{where} STRICT, and no "
                "DestinationRule sends "
                f"ISTIO_MUTUAL to a Service that selects it.{risk} {advice}",
            )
        )
    return findings


def _strict_part(policy: PeerAuthenticationInput) -> str:
    if policy.mode is Mode.STRICT:
        return ""
    ports = [str(port) for port, mode in sorted(policy.port_modes.items()) if mode is Mode.STRICT]
    return f"port{'s' if len(ports) > 1 else ''} {', '.join(ports)} of "


def _destination_rule_findings(
    context: FindingContext, destinations: _Destinations
) -> list[Finding]:
    findings = []
    for rule in context.inputs.destination_rules:
        if rule.tls_mode not in _PLAINTEXT_TLS_MODES:
            continue
        strict: list[str] = []
        for service in destinations.services_for_rule(rule):
            for _workload, posture in destinations.workloads_selected_by(service):
                if posture.mode is Mode.STRICT:
                    strict.append(f"{posture.namespace}/{posture.name}")
        if not strict:
            continue
        what = "plaintext" if rule.tls_mode == "DISABLE" else "TLS without the mesh certificate"
        findings.append(
            Finding(
                "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT",
                Severity.ERROR,
                rule.namespace,
                rule.name,
                "DestinationRule",
                f"DestinationRule {rule.namespace}/{rule.name} sets tls.mode {rule.tls_mode} "
                f"for {_host_words(rule)}, so clients send {what} to STRICT workloads "
                f"({_listed(sorted(set(strict)))}), which refuse it. Change the mode to "
                "ISTIO_MUTUAL, or remove the trafficPolicy.tls block.",
            )
        )
    return findings


def _host_words(rule: DestinationRuleInput) -> str:
    if rule.host and "." not in rule.host and "*" not in rule.host:
        return f"{rule.host} ({rule.host}.{rule.namespace}.{CLUSTER_DOMAIN})"
    return rule.host


def _fqdn(service: ServiceInput) -> str:
    return f"{service.name}.{service.namespace}.{CLUSTER_DOMAIN}"


def _pair_index(items: list[Any], labels_of) -> dict[tuple[str, str], list[Any]]:
    index: dict[tuple[str, str], list[Any]] = {}
    for item in items:
        for pair in labels_of(item).items():
            index.setdefault(pair, []).append(item)
    return index


class _Destinations:
    """Services, the workloads they select, and the DestinationRule Istio applies to each."""

    def __init__(
        self,
        inputs: Inputs,
        workloads_by_namespace: dict[str, list[tuple[WorkloadInput, WorkloadPosture]]],
    ) -> None:
        self._services = inputs.services
        self._fqdn_index: dict[str, ServiceInput] | None = None
        self._services_by_namespace: dict[str, list[ServiceInput]] = {}
        for service in inputs.services:
            if service.selector:
                self._services_by_namespace.setdefault(service.namespace, []).append(service)
        self._exact: dict[str, list[DestinationRuleInput]] = {}
        self._wildcards: list[tuple[str, DestinationRuleInput]] = []
        for rule in inputs.destination_rules:
            host = rule.host
            if not host:
                continue
            if host == "*" or host.startswith("*."):
                self._wildcards.append((host[1:], rule))
            elif "." not in host:
                self._exact.setdefault(f"{host}.{rule.namespace}.{CLUSTER_DOMAIN}", []).append(rule)
            else:
                self._exact.setdefault(host, []).append(rule)
        for rules in self._exact.values():
            rules.sort(key=lambda rule: rule.sort_key)
        self._wildcards.sort(key=lambda item: (-len(item[0]), item[1].sort_key))
        self._workloads_by_namespace = workloads_by_namespace
        self._service_index: dict[str, dict[tuple[str, str], list[ServiceInput]]] = {}
        self._workload_index: dict[str, dict[tuple[str, str], list[Any]]] = {}

    def _services_by_fqdn(self) -> dict[str, ServiceInput]:
        # Only DestinationRules with a plaintext mode need it: built on first use.
        if self._fqdn_index is None:
            self._fqdn_index = {
                _fqdn(service): service for service in self._services if service.selector
            }
        return self._fqdn_index

    def applied_rule(self, fqdn: str) -> DestinationRuleInput | None:
        """The DestinationRule Istio applies to this Service host, if any."""
        exact = self._exact.get(fqdn)
        if exact:
            return exact[0]
        for suffix, rule in self._wildcards:
            if not suffix or fqdn.endswith(suffix):
                return rule
        return None

    def services_for_rule(self, rule: DestinationRuleInput) -> list[ServiceInput]:
        """Services whose applied DestinationRule is `rule`."""
        host = rule.host
        if host == "*" or host.startswith("*."):
            suffix = host[1:]
            candidates = [
                service
                for fqdn, service in self._services_by_fqdn().items()
                if not suffix or fqdn.endswith(suffix)
            ]
        else:
            fqdn = host if "." in host else f"{host}.{rule.namespace}.{CLUSTER_DOMAIN}"
            service = self._services_by_fqdn().get(fqdn)
            candidates = [service] if service is not None else []
        return [s for s in candidates if self.applied_rule(_fqdn(s)) is rule]

    def services_selecting(self, workload: WorkloadInput) -> list[ServiceInput]:
        """Services in the workload's namespace whose selector its pod labels satisfy."""
        index = self._service_index.get(workload.namespace)
        if index is None:
            index = _pair_index(
                self._services_by_namespace.get(workload.namespace, []), lambda s: s.selector
            )
            self._service_index[workload.namespace] = index
        labels = workload.labels.items()
        found: dict[int, ServiceInput] = {}
        for pair in labels:
            for service in index.get(pair, ()):
                if service.selector.items() <= labels:
                    found[id(service)] = service
        return sorted(found.values(), key=lambda s: s.name)

    def workloads_selected_by(
        self, service: ServiceInput
    ) -> list[tuple[WorkloadInput, WorkloadPosture]]:
        """Workloads (with their posture) in the Service's namespace that its selector picks."""
        index = self._workload_index.get(service.namespace)
        if index is None:
            index = _pair_index(
                self._workloads_by_namespace.get(service.namespace, []), lambda p: p[0].labels
            )
            self._workload_index[service.namespace] = index
        buckets = [index.get(pair, []) for pair in service.selector.items()]
        smallest = min(buckets, key=len)
        selector = service.selector.items()
        return [pair for pair in smallest if selector <= pair[0].labels.items()]

    def has_istio_mutual(self, workload: WorkloadInput) -> bool:
        """Whether some Service selecting the workload gets ISTIO_MUTUAL from its rule."""
        for service in self.services_selecting(workload):
            rule = self.applied_rule(_fqdn(service))
            if rule is not None and rule.tls_mode == "ISTIO_MUTUAL":
                return True
        return False
