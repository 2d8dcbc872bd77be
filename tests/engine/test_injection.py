"""Sidecar injection as Istio's webhooks decide it (issue 13 §2), one case per rule.

Rules from manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml
(and revision-tags-mwc.yaml, the same selectors per tag), pkg/kube/inject/inject.go
(injectRequired) and cni/pkg/util/enablement_selector.go (ambient capture).
"""

import pytest

from policies.engine import evaluate
from policies.engine.injection import InjectionRule, injection_decision

from .builders import (
    deployment,
    findings_with,
    labelled_namespace,
    peer_auth,
    workload,
    workload_of,
)

ENABLED = {"istio-injection": "enabled"}
INJECT = "sidecar.istio.io/inject"


def admitted_pod(**kwargs):
    """A pod of the Deployment shop/api as the API server returns it (it has a uid)."""
    return workload(
        "shop",
        "api-5d9f-x",
        kind="Pod",
        owner=("Deployment", "api"),
        owner_uid="d1",
        uid="p1",
        **kwargs,
    )


# (rule pinned, namespace labels, pod labels, pod annotations, hostNetwork, injects, rule named)
DECISIONS = [
    (
        "istio-injection=enabled selects the default injector",
        ENABLED,
        {},
        {},
        False,
        True,
        InjectionRule.NAMESPACE_ENABLED,
    ),
    (
        "hostNetwork pods are never injected",
        ENABLED,
        {},
        {},
        True,
        False,
        InjectionRule.HOST_NETWORK,
    ),
    (
        "istio-injection injects only with the value enabled",
        {"istio-injection": "true"},
        {},
        {},
        False,
        False,
        InjectionRule.NAMESPACE_LABEL_NOT_ENABLED,
    ),
    (
        "any other istio-injection value blocks the namespace revision webhook",
        {"istio-injection": "disabled", "istio.io/rev": "canary"},
        {},
        {},
        False,
        False,
        InjectionRule.NAMESPACE_LABEL_NOT_ENABLED,
    ),
    (
        "any other istio-injection value blocks the pod-label opt-in webhook",
        {"istio-injection": "disabled"},
        {INJECT: "true"},
        {},
        False,
        False,
        InjectionRule.NAMESPACE_LABEL_NOT_ENABLED,
    ),
    (
        "any other istio-injection value blocks the pod revision webhook",
        {"istio-injection": "no"},
        {"istio.io/rev": "canary"},
        {},
        False,
        False,
        InjectionRule.NAMESPACE_LABEL_NOT_ENABLED,
    ),
    (
        "a namespace istio.io/rev selects that revision's injector",
        {"istio.io/rev": "canary"},
        {},
        {},
        False,
        True,
        InjectionRule.NAMESPACE_REVISION,
    ),
    (
        "a pod istio.io/rev selects that revision's injector in an unlabelled namespace",
        {},
        {"istio.io/rev": "canary"},
        {},
        False,
        True,
        InjectionRule.POD_REVISION,
    ),
    (
        "a pod istio.io/rev with sidecar.istio.io/inject=false matches no objectSelector",
        {},
        {"istio.io/rev": "canary", INJECT: "false"},
        {},
        False,
        False,
        InjectionRule.POD_LABEL_OPT_OUT,
    ),
    (
        "the pod label sidecar.istio.io/inject=true opts in an unlabelled namespace",
        {},
        {INJECT: "true"},
        {},
        False,
        True,
        InjectionRule.POD_LABEL_OPT_IN,
    ),
    (
        "the annotation sidecar.istio.io/inject=true does not select a webhook",
        {},
        {},
        {INJECT: "true"},
        False,
        False,
        InjectionRule.NO_WEBHOOK,
    ),
    (
        "the pod label beats the annotation of the same name (label true, annotation false)",
        ENABLED,
        {INJECT: "true"},
        {INJECT: "false"},
        False,
        True,
        InjectionRule.NAMESPACE_ENABLED,
    ),
    (
        "the pod label beats the annotation of the same name (label false, annotation true)",
        ENABLED,
        {INJECT: "false"},
        {INJECT: "true"},
        False,
        False,
        InjectionRule.POD_LABEL_OPT_OUT,
    ),
    (
        "without the label, the annotation false refuses",
        ENABLED,
        {},
        {INJECT: "false"},
        False,
        False,
        InjectionRule.ANNOTATION_OPT_OUT,
    ),
    (
        "a label value other than true or false takes the default policy, which injects",
        ENABLED,
        {INJECT: "yes"},
        {INJECT: "false"},
        False,
        True,
        InjectionRule.NAMESPACE_ENABLED,
    ),
    (
        "an empty istio.io/rev selects no webhook",
        {"istio.io/rev": ""},
        {INJECT: "true"},
        {},
        False,
        False,
        InjectionRule.NO_WEBHOOK,
    ),
]


@pytest.mark.parametrize(
    ("rule", "ns_labels", "pod_labels", "annotations", "host_network", "injects", "named"),
    DECISIONS,
    ids=[d[0] for d in DECISIONS],
)
def test_injection_follows_the_webhooks(
    rule, ns_labels, pod_labels, annotations, host_network, injects, named
):
    decision = injection_decision(
        namespace="shop",
        namespace_labels=ns_labels,
        pod_labels=pod_labels,
        inject_annotation=annotations.get(INJECT, ""),
        host_network=host_network,
    )
    assert (decision.injects, decision.rule) == (injects, named)
    # The workload's sidecar column says the same, through the same function.
    obj = deployment(
        "shop", "api", labels={"app": "api", **pod_labels}, annotations=annotations or None
    )
    obj["spec"]["template"]["spec"]["hostNetwork"] = host_network
    posture = evaluate([labelled_namespace("shop", ns_labels), obj])
    assert workload_of(posture, "shop/api").has_sidecar is injects


def test_kube_system_is_never_injected():
    posture = evaluate(
        [labelled_namespace("kube-system", ENABLED), deployment("kube-system", "dns")]
    )
    assert not workload_of(posture, "kube-system/dns").has_sidecar


# (rule pinned, namespace labels, objects, has_sidecar)
EVIDENCE = [
    (
        "admitted pods without a proxy mean no sidecar, whatever the namespace says now",
        ENABLED,
        [
            deployment("shop", "api", uid="d1"),
            admitted_pod(),
        ],
        False,
    ),
    (
        "one admitted pod with a proxy means a sidecar",
        {},
        [
            deployment("shop", "api", uid="d1"),
            admitted_pod(annotations={"sidecar.istio.io/status": "{}"}),
        ],
        True,
    ),
    (
        "a bare pod the API server admitted shows whether the injector ran",
        ENABLED,
        [workload("shop", "api", kind="Pod", uid="p1")],
        False,
    ),
    (
        "a Pod manifest not yet admitted (no uid) is predicted",
        ENABLED,
        [workload("shop", "api", kind="Pod")],
        True,
    ),
    (
        "a controller without pods in the input is predicted",
        ENABLED,
        [deployment("shop", "api", uid="d1")],
        True,
    ),
]


@pytest.mark.parametrize(
    ("rule", "ns_labels", "objects", "expected"), EVIDENCE, ids=[e[0] for e in EVIDENCE]
)
def test_the_pods_own_evidence_comes_first(rule, ns_labels, objects, expected):
    posture = evaluate([labelled_namespace("shop", ns_labels), *objects])
    assert workload_of(posture, "shop/api").has_sidecar is expected


# (rule pinned, namespace labels, pod labels, hostNetwork, ambient)
AMBIENT = [
    (
        "hostNetwork pods are never captured by ambient",
        {"istio.io/dataplane-mode": "ambient"},
        {},
        True,
        False,
    ),
    (
        "a hostNetwork pod labelled ambient is not captured either",
        {},
        {"istio.io/dataplane-mode": "ambient"},
        True,
        False,
    ),
    (
        "a pod with a sidecar is not captured by ambient",
        {"istio.io/dataplane-mode": "ambient", **ENABLED},
        {},
        False,
        False,
    ),
    (
        "an ambient namespace captures its pods",
        {"istio.io/dataplane-mode": "ambient"},
        {},
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("rule", "ns_labels", "pod_labels", "host_network", "expected"),
    AMBIENT,
    ids=[a[0] for a in AMBIENT],
)
def test_ambient_capture(rule, ns_labels, pod_labels, host_network, expected):
    obj = deployment("shop", "api", labels={"app": "api", **pod_labels})
    obj["spec"]["template"]["spec"]["hostNetwork"] = host_network
    posture = evaluate([labelled_namespace("shop", ns_labels), obj])
    assert workload_of(posture, "shop/api").ambient is expected


@pytest.mark.parametrize(
    ("labels", "injection"),
    [
        ({"istio-injection": "enabled", "istio.io/rev": "canary"}, "enabled"),
        ({"istio-injection": "true"}, "disabled"),
        ({"istio-injection": "disabled", "istio.io/rev": "canary"}, "disabled"),
        ({"istio.io/rev": "canary", "istio.io/dataplane-mode": "ambient"}, "revision:canary"),
        ({"istio-injection": "disabled", "istio.io/dataplane-mode": "ambient"}, "ambient"),
        ({}, ""),
    ],
)
def test_the_injection_column_uses_the_same_rules(labels, injection):
    posture = evaluate([labelled_namespace("shop", labels)])
    assert next(n for n in posture.namespaces if n.name == "shop").injection == injection


# (rule pinned, namespace labels, workload objects, words in STRICT_WITHOUT_SIDECAR)
REMEDIES = [
    (
        "pods that predate injection get it on a restart",
        ENABLED,
        [deployment("shop", "api", uid="d1"), admitted_pod()],
        "restart it",
    ),
    (
        "istio-injection other than enabled is named as the cause",
        {"istio-injection": "true"},
        [deployment("shop", "api")],
        "istio-injection is set to a value other than enabled",
    ),
    (
        "a pod that opts out is told so",
        ENABLED,
        [deployment("shop", "api", labels={"app": "api", INJECT: "false"})],
        "opts out of injection (the pod is labelled sidecar.istio.io/inject=false)",
    ),
]


@pytest.mark.parametrize(
    ("rule", "ns_labels", "objects", "words"), REMEDIES, ids=[r[0] for r in REMEDIES]
)
def test_strict_without_sidecar_names_the_injection_rule(rule, ns_labels, objects, words):
    posture = evaluate(
        [labelled_namespace("shop", ns_labels), peer_auth("shop", mode="STRICT"), *objects]
    )
    (finding,) = findings_with(posture, "STRICT_WITHOUT_SIDECAR")
    assert words in finding.message, finding.message


def test_strict_without_sidecar_on_the_host_network_says_nothing_can_enforce_it():
    obj = deployment("shop", "agent")
    obj["spec"]["template"]["spec"]["hostNetwork"] = True
    posture = evaluate(
        [
            labelled_namespace("shop", {**ENABLED, "istio.io/dataplane-mode": "ambient"}),
            peer_auth("shop", mode="STRICT"),
            obj,
        ]
    )
    (finding,) = findings_with(posture, "STRICT_WITHOUT_SIDECAR")
    assert "hostNetwork" in finding.message and "nothing can enforce" in finding.message
