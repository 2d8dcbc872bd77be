"""Sidecar injection and ambient capture as Istio's webhooks and CNI agent decide them.

A pod gets a sidecar only when the API server calls one of the injector's webhooks for it
and the injector then agrees. Which webhook is called is decided by label selectors alone
(manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, and
revision-tags-mwc.yaml with the same selectors per tag):

- `namespace.`: the namespace label `istio-injection` In [enabled], the pod label
  `sidecar.istio.io/inject` NotIn [false];
- `rev.namespace.`: the namespace label `istio.io/rev` In [<revision or tag>] and no
  `istio-injection` label, the pod label NotIn [false];
- `rev.object.`: neither namespace label, the pod label `istio.io/rev` In [<revision or
  tag>], the pod label `sidecar.istio.io/inject` NotIn [false];
- `object.`: neither namespace label, no pod `istio.io/rev`, the pod label
  `sidecar.istio.io/inject` In [true].

So `istio-injection` with any value but `enabled` matches no webhook at all: it also blocks
the revision and object-selector webhooks. The injector then runs `injectRequired`
(pkg/kube/inject/inject.go): never for `hostNetwork` pods nor in kube-system and
kube-public; the pod label `sidecar.istio.io/inject` beats the annotation of the same name;
`false` refuses, anything else takes the default policy, which injects.

meshui cannot see which revisions are installed, nor the mesh's neverInjectSelector,
alwaysInjectSelector or enableNamespacesByDefault settings: it assumes every revision or
tag a label names exists and those settings are at their defaults (empty, empty, off).

Ambient (cni/pkg/util/enablement_selector.go with the chart's default enablementSelectors):
a pod is captured when it is labelled `istio.io/dataplane-mode=ambient`, or its namespace
is and the pod is not labelled `none`; never a `hostNetwork` pod, never one with a sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from policies.engine.inputs import NamespaceInput, WorkloadInput

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
INJECT_LABEL = "sidecar.istio.io/inject"  # a pod label and, older, an annotation
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"
# pkg/kube/inject/initializer.go IgnoredNamespaces.
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public"})


class InjectionRule(StrEnum):
    """The rule that decided whether the injector adds a sidecar, in words for people."""

    HOST_NETWORK = "hostNetwork pods are never injected"
    IGNORED_NAMESPACE = "pods in kube-system and kube-public are never injected"
    NAMESPACE_LABEL_NOT_ENABLED = (
        "the namespace label istio-injection is set to a value other than enabled, "
        "which matches no injector webhook"
    )
    NAMESPACE_ENABLED = "the namespace is labelled istio-injection=enabled"
    NAMESPACE_REVISION = "the namespace label istio.io/rev selects a revision's injector"
    POD_REVISION = "the pod label istio.io/rev selects a revision's injector"
    POD_LABEL_OPT_IN = "the pod is labelled sidecar.istio.io/inject=true"
    POD_LABEL_OPT_OUT = "the pod is labelled sidecar.istio.io/inject=false"
    ANNOTATION_OPT_OUT = (
        "the pod is annotated sidecar.istio.io/inject=false (and has no label of that name)"
    )
    NO_WEBHOOK = (
        "neither the namespace (istio-injection=enabled, istio.io/rev) nor the pod "
        "(label sidecar.istio.io/inject=true, istio.io/rev) selects an injector webhook"
    )


@dataclass(frozen=True, slots=True)
class InjectionDecision:
    """Whether the injector adds a sidecar to a new pod, the rule that decided, the revision."""

    injects: bool
    rule: InjectionRule
    revision: str = ""  # the revision or tag whose injector runs ("default" for the plain one)


def injection_decision(
    *,
    namespace: str,
    namespace_labels: dict[str, str],
    pod_labels: dict[str, str],
    inject_annotation: str,
    host_network: bool,
) -> InjectionDecision:
    """What Istio's webhooks and injectRequired decide for a new pod (see the module doc)."""
    if host_network:
        return _DECISIONS[InjectionRule.HOST_NETWORK]
    if namespace in IGNORED_NAMESPACES:
        return _DECISIONS[InjectionRule.IGNORED_NAMESPACE]
    pod_inject = pod_labels.get(INJECT_LABEL)
    namespace_injection = namespace_labels.get(INJECTION_LABEL)
    if namespace_injection is not None:
        if namespace_injection != "enabled":
            return _DECISIONS[InjectionRule.NAMESPACE_LABEL_NOT_ENABLED]
        rule, revision = InjectionRule.NAMESPACE_ENABLED, "default"
    elif REVISION_LABEL in namespace_labels:
        rule, revision = InjectionRule.NAMESPACE_REVISION, namespace_labels[REVISION_LABEL]
    elif REVISION_LABEL in pod_labels:
        rule, revision = InjectionRule.POD_REVISION, pod_labels[REVISION_LABEL]
    elif pod_inject == "true":
        rule, revision = InjectionRule.POD_LABEL_OPT_IN, "default"
    else:
        return _DECISIONS[InjectionRule.NO_WEBHOOK]
    if not revision:
        # `istio.io/rev: ""` is present, so the other webhooks' DoesNotExist fails, and no
        # webhook selects the empty revision.
        return _DECISIONS[InjectionRule.NO_WEBHOOK]
    if pod_inject == "false":
        # Every webhook's objectSelector excludes it: the injector is not even called.
        return _DECISIONS[InjectionRule.POD_LABEL_OPT_OUT]
    # injectRequired: the label, when present, is the value read; else the annotation.
    if pod_inject is None and inject_annotation == "false":
        return _DECISIONS[InjectionRule.ANNOTATION_OPT_OUT]
    return InjectionDecision(True, rule, revision)


_DECISIONS = {rule: InjectionDecision(False, rule) for rule in InjectionRule}


def ambient_captured(
    *, namespace_labels: dict[str, str], pod_labels: dict[str, str], host_network: bool
) -> bool:
    """Whether ztunnel captures a pod without a sidecar (the chart's enablement selectors)."""
    if host_network:
        return False
    pod_mode = pod_labels.get(DATAPLANE_MODE_LABEL)
    if pod_mode == "ambient":
        return True
    return pod_mode != "none" and namespace_labels.get(DATAPLANE_MODE_LABEL) == "ambient"


def namespace_injection(namespace: str, labels: dict[str, str]) -> str:
    """The namespace's injection column: enabled, revision:<rev>, ambient, disabled or ""."""
    decision = injection_decision(
        namespace=namespace,
        namespace_labels=labels,
        pod_labels={},
        inject_annotation="",
        host_network=False,
    )
    if decision.rule is InjectionRule.NAMESPACE_ENABLED:
        return "enabled"
    if decision.rule is InjectionRule.NAMESPACE_REVISION:
        return f"revision:{decision.revision}"
    if labels.get(DATAPLANE_MODE_LABEL) == "ambient":
        return "ambient"
    if decision.rule in (
        InjectionRule.NAMESPACE_LABEL_NOT_ENABLED,
        InjectionRule.IGNORED_NAMESPACE,
    ):
        return "disabled"
    return ""


def workload_injection(workload: WorkloadInput, namespace: NamespaceInput) -> InjectionDecision:
    """injection_decision for a workload's pod template in its namespace."""
    return injection_decision(
        namespace=namespace.name,
        namespace_labels=namespace.labels,
        pod_labels=workload.labels,
        inject_annotation=workload.inject_annotation,
        host_network=workload.host_network,
    )


def injection_facts(workload: WorkloadInput) -> tuple[Any, ...]:
    """The pod facts injection_decision reads (besides the namespace): workloads alike in
    these get the same decision in one namespace, so callers ask once per combination."""
    labels = workload.labels
    return (
        labels.get(INJECT_LABEL),
        labels.get(REVISION_LABEL),
        workload.inject_annotation,
        workload.host_network,
    )


class NamespaceDataPlane:
    """Sidecar and ambient facts for the workloads of one namespace.

    The pods' own evidence comes first: a proxy seen on the template or a pod means a
    sidecar, and admitted pods without one mean none (whatever a restart would do). Only a
    workload without pods in the input is predicted, by injection_decision; its answer
    depends on four pod facts only, so it is asked once per combination in the namespace.
    """

    __slots__ = ("namespace", "_ambient_namespace", "_decisions")

    def __init__(self, namespace: NamespaceInput) -> None:
        self.namespace = namespace
        self._ambient_namespace = namespace.labels.get(DATAPLANE_MODE_LABEL) == "ambient"
        self._decisions: dict[tuple[Any, ...], bool] = {}

    def __call__(self, workload: WorkloadInput) -> tuple[bool, bool]:
        """(has a sidecar, captured by ambient)."""
        if workload.has_proxy:
            return True, False
        if not workload.pods_admitted:
            key = injection_facts(workload)
            injects = self._decisions.get(key)
            if injects is None:
                injects = self._decisions[key] = workload_injection(
                    workload, self.namespace
                ).injects
            if injects:
                return True, False
        if workload.host_network:
            return False, False
        pod_mode = workload.labels.get(DATAPLANE_MODE_LABEL)
        if pod_mode is None:
            return False, self._ambient_namespace
        return False, ambient_captured(
            namespace_labels=self.namespace.labels, pod_labels=workload.labels, host_network=False
        )
