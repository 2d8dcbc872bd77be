"""DestinationRules as each client sees them: per client namespace and per Service port.

A DestinationRule is a client-side fact. Istio (pilot/pkg/model/push_context.go
setDestinationRules and destinationRule, pilot/pkg/model/sidecar.go DestinationRule) files
every rule, sorted with workloadSelector rules first, then oldest, then name, then namespace:

- into its namespace's *local* rules when its `exportTo` is empty or names `.`, `*` or its
  own namespace; into its namespace's *exported* rules unless it is private (exportTo just
  `.` or just its own namespace); a private rule of the root namespace into the root's own
  rules. Rules with a workloadSelector are always private. An empty `exportTo` takes the
  mesh default, assumed `*` (meshConfig.defaultDestinationRuleExportTo unset).
- Same-host rules of one such set merge (destination_rule.go mergeDestinationRule, with
  ENABLE_ENHANCED_DESTINATIONRULE_MERGE on, its default): only rules with equal `exportTo`
  merge (a superset merges and also stands alone), workloadSelector rules only with the same
  selector; the older rule is the base and a newer one's traffic policy is used only when
  the base has none.

A client in namespace C then uses, for a Service host H in namespace S, the most specific
match for H (an exact host, else the longest matching wildcard: MostSpecificHostMatch) among
C's local rules (the root namespace's own rules when C is the root namespace); failing that
among S's exported rules that are exported to C; failing that among the root namespace's.
A match whose rules are all exported elsewhere falls through to the next namespace; a match
in C itself never does. Within the matched host, the first workloadSelector rule of C that
selects the client wins, else the last rule without one, else none at all.

Per port (pilot/pkg/networking/util GetPortLevelTrafficPolicy), a `portLevelSettings` entry
for the Service port replaces the whole traffic policy, TLS included; without TLS settings a
client uses auto mTLS (cluster_tls.go buildUpstreamTLSSettings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.engine.inputs import (
    DestinationRuleInput,
    Inputs,
    ServiceInput,
    WorkloadInput,
)
from policies.engine.model import Level, Mode, ServicePort, WorkloadPosture

PLAINTEXT_TLS_MODES = frozenset({"DISABLE", "SIMPLE"})
ISTIO_MUTUAL = "ISTIO_MUTUAL"
_PRIVATE = frozenset({"."})
_WORKLOAD_DECIDED = (Level.WORKLOAD, Level.PORT)


class MergedRule:
    """Istio's ConsolidatedDestRule: same-host rules of one namespace, merged."""

    __slots__ = ("namespace", "export_to", "selector", "policy", "sources")

    def __init__(self, rule: DestinationRuleInput, export_to: frozenset[str]) -> None:
        self.namespace = rule.namespace
        self.export_to = export_to
        self.selector = rule.selector
        # The rule whose trafficPolicy counts (None: no rule in the merge has one).
        self.policy: DestinationRuleInput | None = rule if rule.has_traffic_policy else None
        self.sources = [rule]

    def exported_to(self, client_namespace: str) -> bool:
        """Whether a client in that namespace sees it among its namespace's exported rules."""
        export_to = self.export_to
        return not export_to or "*" in export_to or client_namespace in export_to


def merge_rule(
    merged_rules: list[MergedRule], rule: DestinationRuleInput, export_to: frozenset[str]
) -> None:
    """Add `rule` to the rules already filed for its host (mergeDestinationRule, statement by
    statement: the last rule compared decides whether it also stands alone)."""
    if not merged_rules:
        merged_rules.append(MergedRule(rule, export_to))
        return
    stands_alone = True
    for merged in merged_rules:
        if export_to == merged.export_to:
            stands_alone = False
        elif merged.export_to and export_to >= merged.export_to:
            stands_alone = True
        else:
            stands_alone = True
            continue
        both_without = rule.selector is None and merged.selector is None
        both_with = rule.selector is not None and merged.selector is not None
        if both_with and rule.selector != merged.selector:
            stands_alone = True
            continue
        if both_without or both_with:
            stands_alone = False
        merged.sources.append(rule)
        if merged.policy is None and rule.has_traffic_policy:
            merged.policy = rule
    if stands_alone:
        merged_rules.append(MergedRule(rule, export_to))


class HostTable:
    """One namespace's rules by host: exact hosts and wildcards (consolidatedDestRules)."""

    __slots__ = ("specific", "wildcard", "_lengths")

    def __init__(self) -> None:
        self.specific: dict[str, list[MergedRule]] = {}
        self.wildcard: dict[str, list[MergedRule]] = {}
        self._lengths: tuple[int, ...] | None = None

    def add(self, rule: DestinationRuleInput, export_to: frozenset[str]) -> None:
        """File `rule` under its host, merging it with rules already there."""
        table = self.wildcard if rule.fqdn.startswith("*") else self.specific
        merge_rule(table.setdefault(rule.fqdn, []), rule, export_to)
        self._lengths = None

    def match(self, fqdn: str) -> list[MergedRule] | None:
        """The rules of the most specific host matching `fqdn` (MostSpecificHostMatch)."""
        found = self.specific.get(fqdn)
        if found is not None:
            return found
        if not self.wildcard:
            return None
        if self._lengths is None:
            self._lengths = wildcard_lengths(self.wildcard)
        for host in matching_wildcards(fqdn, self.wildcard, self._lengths):
            return self.wildcard[host]
        return None


def wildcard_lengths(wildcards: dict[str, Any]) -> tuple[int, ...]:
    """The distinct lengths of wildcard hosts, longest first: the order of specificity."""
    return tuple(sorted({len(host) for host in wildcards}, reverse=True))


def matching_wildcards(fqdn: str, wildcards: dict[str, Any], lengths: tuple[int, ...]):
    """Wildcard hosts (`*SUFFIX`) that `fqdn` ends with, most specific (longest) first.

    Every match is `*` plus a suffix of the same name, so matches of equal length are the
    same host and longer is more specific (host.MoreSpecific).
    """
    size = len(fqdn)
    for length in lengths:
        if length - 1 > size:
            continue
        host = "*" + fqdn[size - length + 1 :] if length > 1 else "*"
        if host in wildcards:
            yield host


@dataclass(frozen=True, slots=True)
class ClientView:
    """Clients that use rules with the same TLS settings for a Service host.

    `namespaces` are the clients' namespaces, sorted; `rest` (with no namespaces) stands
    for every namespace no other view of the host names: they all see the same rules.
    `rules` holds, per namespace (one entry for the rest), the merged rule it uses (None:
    none, auto mTLS): their TLS settings are equal, their authors may differ. `selector`
    narrows the clients to the pods a workloadSelector rule of their namespace picks;
    `unselected` marks the other pods of namespaces that have such rules.
    """

    namespaces: tuple[str, ...]
    rest: bool
    rules: tuple[MergedRule | None, ...]
    selector: tuple[tuple[str, str], ...] | None = None
    unselected: bool = False

    def label(self, namespace: str) -> str:
        """One namespace's clients in words: `shop`, `shop (pods labelled app=x)`, `shop
        (other pods)`."""
        if self.selector is not None:
            labels = ", ".join(f"{key}={value}" for key, value in self.selector)
            return f"{namespace} (pods labelled {labels or 'anything'})"
        if self.unselected:
            return f"{namespace} (other pods)"
        return namespace

    def tls(self, port: int) -> tuple[str, DestinationRuleInput | None, bool]:
        """(TLS mode on this Service port, "" = auto mTLS; a rule that set it; port-level?)."""
        rule = self.rules[0]
        policy = rule.policy if rule is not None else None
        if policy is None:
            return "", None, False
        mode, port_level = policy.tls_for_port(port)
        return mode, policy, port_level

    def split_by_policy(self) -> list[tuple[DestinationRuleInput | None, ClientView]]:
        """This view cut by the rule whose trafficPolicy its clients use (the rules of one
        view share their TLS settings, not their authors)."""
        rules = self.rules
        first = rules[0].policy if rules[0] is not None else None
        if len(rules) == 1 or all(
            (rule.policy if rule is not None else None) is first for rule in rules
        ):
            return [(first, self)]
        parts: dict[int, tuple[DestinationRuleInput | None, list[str], list]] = {}
        for namespace, rule in zip(self.namespaces, rules, strict=True):
            policy = rule.policy if rule is not None else None
            part = parts.setdefault(id(policy), (policy, [], []))
            part[1].append(namespace)
            part[2].append(rule)
        return [
            (
                policy,
                ClientView(tuple(namespaces), False, tuple(cut), self.selector, self.unselected),
            )
            for policy, namespaces, cut in parts.values()
        ]


def _view_key(merged: MergedRule | None) -> tuple[Any, ...] | None:
    """What a client's TLS depends on in the rule it uses: its policy's TLS settings."""
    policy = merged.policy if merged is not None else None
    if policy is None:
        return None
    return (policy.tls_mode, tuple(sorted(policy.port_tls.items())))


class _OwnRules:
    """How the clients of one namespace use their own rules for a host (sidecar.go
    DestinationRule): a workloadSelector rule that selects them, else the last rule without
    one, else none. `key` says what their TLS depends on, to group equal namespaces."""

    __slots__ = ("picks", "key")

    def __init__(self, rules: list[MergedRule], namespace: str) -> None:
        picks: list[tuple[tuple[tuple[str, str], ...] | None, bool, MergedRule | None]] = []
        catch_all = None
        for merged in rules:
            if merged.selector is None:
                catch_all = merged
            elif merged.namespace == namespace:
                picks.append((tuple(sorted(merged.selector.items())), False, merged))
        picks.append((None, bool(picks), catch_all))
        self.picks = picks
        self.key = tuple(
            (selector, unselected, _view_key(rule)) for selector, unselected, rule in picks
        )


class DestinationRuleIndex:
    """Every DestinationRule filed as Istio files them, and the views clients get per host."""

    def __init__(
        self,
        rules: list[DestinationRuleInput],
        root_namespace: str,
        namespaces: frozenset[str],
    ) -> None:
        self.root_namespace = root_namespace
        self.namespaces = namespaces
        # Local rules of every namespace but the root's, by host then namespace, so a host
        # finds the namespaces with a rule of their own without visiting every namespace.
        self._local_specific: dict[str, dict[str, list[MergedRule]]] = {}
        self._local_wildcard: dict[str, dict[str, list[MergedRule]]] = {}
        self._root_local = HostTable()
        self._exported: dict[str, HostTable] = {}
        self._plaintext_hosts: set[str] = set()
        for rule in sorted(rules, key=_sort_key):
            host = rule.fqdn
            if not host:
                continue
            namespace = rule.namespace
            export_to = _PRIVATE if rule.selector is not None else rule.export_to
            if rule.tls_mode in PLAINTEXT_TLS_MODES or any(
                mode in PLAINTEXT_TLS_MODES for mode in rule.port_tls.values()
            ):
                self._plaintext_hosts.add(host)
            if namespace != root_namespace and (
                not export_to or "*" in export_to or "." in export_to or namespace in export_to
            ):
                by_host = self._local_wildcard if host.startswith("*") else self._local_specific
                merge_rule(by_host.setdefault(host, {}).setdefault(namespace, []), rule, export_to)
            private = len(export_to) == 1 and ("." in export_to or namespace in export_to)
            if not private:
                table = self._exported.get(namespace)
                if table is None:
                    table = self._exported[namespace] = HostTable()
                table.add(rule, export_to)
            elif namespace == root_namespace:
                self._root_local.add(rule, export_to)
        self._local_lengths = wildcard_lengths(self._local_wildcard)
        self._plaintext_lengths = wildcard_lengths(
            {host: None for host in self._plaintext_hosts if host.startswith("*")}
        )
        # Per set of matching wildcard hosts: each namespace's own rules, and the views of
        # the namespaces grouped by what their TLS depends on.
        self._wildcard_own: dict[tuple[str, ...], dict[str, _OwnRules]] = {}
        self._wildcard_views: dict[tuple[str, ...], tuple[ClientView, ...]] = {}

    def may_send_plaintext(self, fqdn: str) -> bool:
        """False when no rule that could send plaintext or SIMPLE TLS names this host."""
        if fqdn in self._plaintext_hosts:
            return True
        if not self._plaintext_lengths:
            return False
        for _ in matching_wildcards(fqdn, self._plaintext_hosts, self._plaintext_lengths):
            return True
        return False

    def views(self, fqdn: str, service_namespace: str) -> tuple[ClientView, ...]:
        """Every class of clients of a Service host and the rules each one uses."""
        root = self.root_namespace
        views, own = self._own_views(fqdn)
        service_table = self._exported.get(service_namespace)
        root_table = self._exported.get(root)
        service_rules = service_table.match(fqdn) if service_table is not None else None
        root_rules = root_table.match(fqdn) if root_table is not None else None
        own_root = self._root_local.match(fqdn)
        if own_root is not None:
            views += _grouped_views({root: _OwnRules(own_root, root)})
        else:
            views.append(
                ClientView((root,), False, (_exported_pick(root, service_rules, root_rules),))
            )
        named = 1 + own
        exported_to: set[str] = set()
        for rules in (service_rules, root_rules):
            for merged in rules or ():
                exported_to.update(merged.export_to)
        for namespace in sorted(exported_to & self.namespaces):
            if namespace == root or self._has_own_rules(fqdn, namespace):
                continue
            rule = _exported_pick(namespace, service_rules, root_rules)
            views.append(ClientView((namespace,), False, (rule,)))
            named += 1
        if named < len(self.namespaces):
            # "" is no namespace's name: the rest see only rules exported to every namespace.
            views.append(ClientView((), True, (_exported_pick("", service_rules, root_rules),)))
        return tuple(views)

    def _has_own_rules(self, fqdn: str, namespace: str) -> bool:
        exact = self._local_specific.get(fqdn)
        if exact is not None and namespace in exact:
            return True
        return any(
            namespace in self._local_wildcard[host]
            for host in matching_wildcards(fqdn, self._local_wildcard, self._local_lengths)
        )

    def _own_views(self, fqdn: str) -> tuple[list[ClientView], int]:
        """Views of the namespaces (but the root) with rules of their own for `fqdn`, and
        how many namespaces they are."""
        exact = self._local_specific.get(fqdn)
        wildcards = self._local_wildcard
        hosts = tuple(matching_wildcards(fqdn, wildcards, self._local_lengths)) if wildcards else ()
        if not hosts:
            if not exact:
                return [], 0
            return list(_grouped_views(_own_rules_of(exact))), len(exact)
        own = self._wildcard_own.get(hosts)
        if own is None:
            # Hosts of one namespace usually match the same wildcards: group them once.
            assignment: dict[str, list[MergedRule]] = {}
            for host in hosts:
                for namespace, rules in wildcards[host].items():
                    assignment.setdefault(namespace, rules)
            own = self._wildcard_own[hosts] = _own_rules_of(assignment)
            self._wildcard_views[hosts] = _grouped_views(own)
        if not exact:
            return list(self._wildcard_views[hosts]), len(own)
        # An exact host beats the wildcards in the namespaces that have one.
        merged_own = {**own, **_own_rules_of(exact)}
        return list(_grouped_views(merged_own)), len(merged_own)


def _own_rules_of(rules_by_namespace: dict[str, list[MergedRule]]) -> dict[str, _OwnRules]:
    return {
        namespace: _OwnRules(rules, namespace) for namespace, rules in rules_by_namespace.items()
    }


def _grouped_views(own: dict[str, _OwnRules]) -> tuple[ClientView, ...]:
    """One view per (group of namespaces whose rules send the same TLS, pick of theirs)."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for namespace in sorted(own):
        groups.setdefault(own[namespace].key, []).append(namespace)
    views = []
    for namespaces in groups.values():
        first = own[namespaces[0]]
        for index, (selector, unselected, _rule) in enumerate(first.picks):
            views.append(
                ClientView(
                    tuple(namespaces),
                    False,
                    tuple(own[namespace].picks[index][2] for namespace in namespaces),
                    selector,
                    unselected,
                )
            )
    return tuple(views)


def rule_summary(rule: DestinationRuleInput, root_namespace: str) -> str:
    """What a DestinationRule makes clients send, and which clients can use it, in words."""
    host = rule.host or "(no host)"
    if rule.tls_mode:
        words = f"Clients use TLS mode {rule.tls_mode} towards {host}"
    else:
        words = f"It sets no top-level TLS mode towards {host}, so clients keep auto mTLS"
    if rule.port_tls:
        ports = ", ".join(
            f"{port}: {mode or 'auto mTLS'}" for port, mode in sorted(rule.port_tls.items())
        )
        words += f"; per Service port {ports}"
    export_to = rule.export_to
    if rule.selector is not None:
        labels = ", ".join(f"{key}={value}" for key, value in sorted(rule.selector.items()))
        words += f". Only pods of {rule.namespace} labelled {labels or 'anything'} use it"
    elif len(export_to) == 1 and ("." in export_to or rule.namespace in export_to):
        scope = "the root namespace" if rule.namespace == root_namespace else rule.namespace
        words += f". Only clients in {scope} use it (exportTo {', '.join(sorted(export_to))})"
    elif export_to and "*" not in export_to:
        words += f". Exported to {', '.join(sorted(export_to))} only"
    return words + "."


def _sort_key(rule: DestinationRuleInput) -> tuple[Any, ...]:
    return rule.sort_key


def _exported_pick(
    client_namespace: str,
    service_rules: list[MergedRule] | None,
    root_rules: list[MergedRule] | None,
) -> MergedRule | None:
    # getExportedDestinationRuleFromNamespace: the most specific host's rules that are
    # exported to the client; when none is, the next namespace is tried.
    for rules in (service_rules, root_rules):
        if rules:
            visible = [merged for merged in rules if merged.exported_to(client_namespace)]
            if visible:
                return visible[-1]  # exported rules have no selector: the last one wins
    return None


class ServicePorts:
    """Service ports as ServicePort values, each distinct list of ports built once.

    Most Services of a mesh repeat a handful of port lists (`http 80 → 8080`), so the
    values are shared between them: they are frozen, and sharing saves an allocation per port.
    """

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], tuple[ServicePort, ...]] = {}

    def __call__(self, ports: list[Any]) -> tuple[ServicePort, ...]:
        """A Service's `spec.ports` as values; a missing targetPort is the port itself."""
        fields = []
        for port in ports:
            if type(port) is not dict:
                continue
            number = port.get("port")
            if type(number) is not int:
                continue
            target = port.get("targetPort", number)
            if not isinstance(target, int | str):
                target = number
            # type(target) keeps True apart from 1 (they are equal as dict keys).
            fields.append(
                (
                    str(port.get("name") or ""),
                    number,
                    target,
                    type(target),
                    str(port.get("protocol") or "TCP"),
                )
            )
        key = tuple(fields)
        known = self._known.get(key)
        if known is None:
            known = tuple(
                ServicePort(name, number, target, protocol)
                for name, number, target, _, protocol in fields
            )
            self._known[key] = known
        return known


def target_port(service_port: ServicePort, workload: WorkloadInput) -> int | None:
    """The container port of `workload` a Service port reaches (None: a name it lacks)."""
    target = service_port.target_port
    if type(target) is int:
        return target
    return workload.port_named(target) if type(target) is str else None


def mode_at_port(posture: WorkloadPosture, port: int) -> tuple[Mode, Level]:
    """The workload's effective mode on one of its ports, and the level that decided it."""
    for port_posture in posture.ports:
        if port_posture.port == port:
            return port_posture.mode, port_posture.reason.level
    return posture.mode, posture.source


def strict_by_workload_policy(posture: WorkloadPosture, port: int) -> bool:
    """STRICT on this port because of the workload's own policy (its mode or the port's)."""
    mode, level = mode_at_port(posture, port)
    return mode is Mode.STRICT and level in _WORKLOAD_DECIDED


def _pair_index(items: list[Any], labels_of) -> dict[tuple[str, str], list[Any]]:
    index: dict[tuple[str, str], list[Any]] = {}
    for item in items:
        for pair in labels_of(item).items():
            index.setdefault(pair, []).append(item)
    return index


class Destinations:
    """Services, the workloads they select, and what each class of clients sends them."""

    def __init__(
        self,
        inputs: Inputs,
        root_namespace: str,
        workloads_by_namespace: dict[str, list[tuple[WorkloadInput, WorkloadPosture]]],
    ) -> None:
        self.services = [service for service in inputs.services if service.selector]
        self.rules = DestinationRuleIndex(
            inputs.destination_rules, root_namespace, frozenset(inputs.namespaces)
        )
        self._services_by_namespace: dict[str, list[ServiceInput]] = {}
        for service in self.services:
            self._services_by_namespace.setdefault(service.namespace, []).append(service)
        self._workloads_by_namespace = workloads_by_namespace
        self._service_index: dict[str, dict[tuple[str, str], list[ServiceInput]]] = {}
        self._workload_index: dict[str, dict[tuple[str, str], list[Any]]] = {}
        self._views: dict[int, tuple[ClientView, ...]] = {}
        # Keyed by id, holding the view too so that the id stays its own.
        self._splits: dict[int, tuple[ClientView, list]] = {}
        self._service_ports = ServicePorts()

    def views(self, service: ServiceInput) -> tuple[ClientView, ...]:
        """The client views of a Service's host (computed once per Service)."""
        views = self._views.get(id(service))
        if views is None:
            views = self.rules.views(service.fqdn, service.namespace)
            self._views[id(service)] = views
        return views

    def split_by_policy(
        self, view: ClientView
    ) -> list[tuple[DestinationRuleInput | None, ClientView]]:
        """view.split_by_policy(), once per view (views are shared between Services)."""
        known = self._splits.get(id(view))
        if known is None:
            known = self._splits[id(view)] = (view, view.split_by_policy())
        return known[1]

    def ports(self, service: ServiceInput) -> tuple[ServicePort, ...]:
        """The Service's ports and the container ports they target."""
        return self._service_ports(service.ports)

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
