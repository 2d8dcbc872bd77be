"""STRICT coverage as declared by policy and as enforced by a proxy, per workload.

A PeerAuthentication is a promise the proxies keep; nothing keeps it for a workload that
no proxy fronts. So a workload counts twice:

- *STRICT declared*: every port it can be reached on is STRICT by policy. Kubernetes'
  `containerPort` list is informational (a process may listen on any port) and both the
  sidecar and ztunnel capture every inbound port, so this means the workload's effective
  mode is STRICT and no port exception of its winning workload policy is below STRICT,
  whether or not the container declares that port (Istio's inbound passthrough chains
  honour `portLevelMtls` on undeclared ports too).
- *STRICT enforced*: declared, and a proxy enforces it: the workload's sidecar (seen on its
  pods, or, for a workload without pods in the input, predicted by the injector's webhooks,
  policies/engine/injection.py), or ztunnel when ambient captures it (ztunnel enforces
  STRICT, port exceptions included, istio/istio architecture/ambient/peer-authentication.md).
  A `hostNetwork` pod is never enforced: it shares the node's network, so no sidecar
  redirect and no ambient capture applies to it, whatever containers it runs.

Every outcome names its `CoverageRule`. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from policies.engine.model import Mode, WorkloadPosture


class CoverageRule(StrEnum):
    """The rule that decided a workload's coverage; the value is stored, `words` shown."""

    SIDECAR = "sidecar"
    AMBIENT = "ambient"
    HOST_NETWORK = "host-network"
    NO_PROXY = "no-proxy"
    PORT_BELOW_STRICT = "port-below-strict"
    NOT_STRICT = "not-strict"

    @property
    def words(self) -> str:
        """The rule in a sentence for people."""
        return _WORDS[self]

    @property
    def enforced(self) -> bool:
        """Whether a workload decided by this rule counts as STRICT enforced."""
        return self in _ENFORCED

    @property
    def declared(self) -> bool:
        """Whether a workload decided by this rule counts as STRICT declared."""
        return self not in _NOT_DECLARED


_WORDS = {
    CoverageRule.SIDECAR: "STRICT enforced: its Istio sidecar enforces the policy",
    CoverageRule.AMBIENT: "STRICT enforced: ztunnel (ambient) enforces the policy",
    CoverageRule.HOST_NETWORK: (
        "STRICT on paper only: it runs on the host network, where no sidecar or ztunnel "
        "captures its traffic"
    ),
    CoverageRule.NO_PROXY: (
        "STRICT on paper only: it has no sidecar and ambient does not capture it, so "
        "nothing refuses plaintext"
    ),
    CoverageRule.PORT_BELOW_STRICT: (
        "not counted as STRICT: its workload policy sets a port below STRICT, and that port "
        "accepts plaintext whether or not the container declares it"
    ),
    CoverageRule.NOT_STRICT: "not counted as STRICT: its effective mode accepts plaintext",
}
_ENFORCED = frozenset({CoverageRule.SIDECAR, CoverageRule.AMBIENT})
_NOT_DECLARED = frozenset({CoverageRule.PORT_BELOW_STRICT, CoverageRule.NOT_STRICT})


def coverage_rule(workload: WorkloadPosture) -> CoverageRule:
    """Which coverage rule decides this workload (see the module doc for the order)."""
    if workload.mode is not Mode.STRICT:
        return CoverageRule.NOT_STRICT
    for port in workload.ports:
        if port.mode is not Mode.STRICT:
            return CoverageRule.PORT_BELOW_STRICT
    if workload.host_network:
        return CoverageRule.HOST_NETWORK
    if workload.has_sidecar:
        return CoverageRule.SIDECAR
    if workload.ambient:
        return CoverageRule.AMBIENT
    return CoverageRule.NO_PROXY


@dataclass(frozen=True, slots=True)
class CoverageCounts:
    """Workloads in all, STRICT declared, and STRICT enforced (a subset of declared)."""

    total: int
    strict_declared: int
    strict_enforced: int


def coverage_counts(workloads: Iterable[WorkloadPosture]) -> CoverageCounts:
    """Count a set of workloads (a namespace's, or the mesh's) by their coverage rules."""
    total = declared = enforced = 0
    for workload in workloads:
        rule = coverage_rule(workload)
        total += 1
        if rule.declared:
            declared += 1
            if rule.enforced:
                enforced += 1
    return CoverageCounts(total, declared, enforced)
