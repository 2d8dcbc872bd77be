"""Findings about DestinationRules as clients see them: what each class of clients sends
to each Service port against what the workload behind the port refuses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from policies.engine.destinations import (
    ISTIO_MUTUAL,
    PLAINTEXT_TLS_MODES,
    ClientView,
    Destinations,
    mode_at_port,
    strict_by_workload_policy,
    target_port,
)
from policies.engine.inputs import (
    CLUSTER_DOMAIN,
    DestinationRuleInput,
    ServiceInput,
    WorkloadInput,
)
from policies.engine.model import (
    Finding,
    Mode,
    Severity,
    WorkloadPosture,
    WorkloadRef,
)

if TYPE_CHECKING:
    pass


from policies.engine.finding_words import listed_refs, listed_set

if TYPE_CHECKING:
    from policies.engine.findings import FindingContext


def clients_without_istio_mutual(
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
    return clients_words(unmet, met, everywhere="clients in every namespace"), through


def clients_words(
    affected: list[ClientView], unaffected: Iterable[ClientView], everywhere: str
) -> str:
    """The affected clients compactly: every namespace (but some), or the namespaces named.

    A namespace whose workloadSelector rules split its clients is named with the pods
    meant when its clients are on both sides. `unaffected` is read only as far as needed:
    naming the affected namespaces needs just one unaffected client outside them.
    """
    affected_namespaces = _namespaces(affected)
    if any(view.rest or view.selector is not None or view.unselected for view in affected):
        return clients_split_words(affected, list(unaffected), everywhere)
    unaffected = iter(unaffected)
    for view in unaffected:
        if view.rest or not affected_namespaces.issuperset(view.namespaces):
            return f"clients in {listed_set(affected_namespaces)}"
        if view.selector is not None or view.unselected:
            # Some pods of an affected namespace are not affected: say which are.
            return clients_split_words(affected, [view, *unaffected], everywhere)
    return everywhere


def clients_split_words(
    affected: list[ClientView], unaffected: list[ClientView], everywhere: str
) -> str:
    affected_labels = _labels(affected, _namespaces(unaffected))
    others = _labels(unaffected, _namespaces(affected)) - affected_labels
    if any(view.rest for view in affected) or not (others or any(view.rest for view in unaffected)):
        return f"{everywhere} but {listed_set(others)}" if others else everywhere
    return f"clients in {listed_set(affected_labels)}"


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


class _Refused:
    """A STRICT workload a rule's clients are refused by, named once for every rule."""

    __slots__ = ("key", "ref")

    def __init__(self, posture: WorkloadPosture) -> None:
        self.key = (posture.namespace, posture.name, posture.kind)
        self.ref = WorkloadRef(*self.key)


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


def destination_rule_findings(context: FindingContext, destinations: Destinations) -> list[Finding]:
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
        clients = clients_words(
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
                f"workloads ({listed_refs(workloads)}), which refuse it. "
                "Change the mode to ISTIO_MUTUAL, or remove the tls block.",
                tuple(workloads),
            )
        )
    return findings


def _host_words(rule: DestinationRuleInput) -> str:
    if rule.host and "." not in rule.host and "*" not in rule.host:
        return f"{rule.host} ({rule.host}.{rule.namespace}.{CLUSTER_DOMAIN})"
    return rule.host
