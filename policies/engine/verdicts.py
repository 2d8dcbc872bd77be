"""Each policy's verdict: effective, shadowed by the one Istio prefers at its level, or ignored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.engine.competition import (
    TIE_BREAK,
    Competition,
    name_and_kind,
    sorted_by_namespace,
    tie_break_words,
)
from policies.engine.destinations import rule_summary
from policies.engine.inputs import (
    Inputs,
    PeerAuthenticationInput,
)
from policies.engine.model import (
    Mode,
    PolicyScope,
    PolicyStatus,
    PolicyVerdict,
)

if TYPE_CHECKING:
    from policies.engine.resolve import _NamespaceResolution


def policy_verdicts(
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
        for loser in competition.losers:
            status[id(loser)] = (
                scope,
                PolicyStatus.SHADOWED,
                f"Ignored: only one policy counts at the {scope} level ({TIE_BREAK}), and "
                f"{competition.ref} wins: {tie_break_words(winner, loser)}.",
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
                beaten_by.setdefault(id(loser), set()).add(
                    f"{competition.ref} wins: {tie_break_words(competition.winner, loser)}"
                )
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
                winners = "; ".join(sorted(beaten_by.get(id(policy), ())))
                status[id(policy)] = (
                    PolicyScope.WORKLOAD,
                    PolicyStatus.SHADOWED,
                    "Every workload it selects is decided by another policy that selects it "
                    f"too, and only one counts ({TIE_BREAK}): {winners}.",
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
    return tuple(sorted_by_namespace(verdicts, name_and_kind))
