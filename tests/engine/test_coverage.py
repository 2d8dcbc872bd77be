"""Coverage counts what is enforced (issue 13 §3): STRICT declared vs STRICT enforced.

One case per rule of policies/engine/coverage.py, each through evaluate() on objects shaped
as a cluster holds them: the sidecar seen on an admitted pod (istio-proxy container and the
injector's status annotation), ambient capture by the dataplane-mode label, hostNetwork.
"""

import pytest

from policies.engine import evaluate
from policies.engine.coverage import CoverageRule, coverage_counts, coverage_rule

from .builders import deployment, labelled_namespace, mesh_policy, peer_auth, workload_of

SIDECAR_CONTAINERS = [
    {"name": "app", "ports": [{"containerPort": 8080}]},
    {"name": "istio-proxy", "image": "proxyv2"},
]
STATUS = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}
AMBIENT = {"istio.io/dataplane-mode": "ambient"}


def api_policy(**ports):
    """shop/api's own STRICT workload policy with these port exceptions."""
    return peer_auth(
        "shop",
        "api",
        mode="STRICT",
        selector={"app": "api"},
        ports={int(port.removeprefix("p")): mode for port, mode in ports.items()},
    )


def api(*, sidecar=False, host_network=False, labels=None, ports=(8080,)):
    """The Deployment shop/api; with sidecar, its pods were injected."""
    obj = deployment(
        "shop",
        "api",
        labels={"app": "api", **(labels or {})},
        ports=ports,
        containers=SIDECAR_CONTAINERS if sidecar else None,
        annotations=STATUS if sidecar else None,
    )
    if host_network:
        obj["spec"]["template"]["spec"]["hostNetwork"] = True
    return obj


def admitted_pod_without_sidecar():
    """A pod of shop/api the API server admitted without a sidecar (the injector never ran)."""
    pod = deployment("shop", "api-7f9c-x", labels={"app": "api"}, ports=(8080,))
    pod["kind"] = "Pod"
    pod["apiVersion"] = "v1"
    pod["metadata"].update(
        uid="p1",
        labels={"app": "api"},
        ownerReferences=[{"kind": "Deployment", "name": "api", "controller": True}],
    )
    pod["spec"] = pod["spec"]["template"]["spec"]
    return pod


# (rule pinned, objects, the rule that decides, STRICT declared, STRICT enforced)
CASES = [
    (
        "a sidecar enforces a STRICT mode",
        [labelled_namespace("shop", {}), mesh_policy("STRICT"), api(sidecar=True)],
        CoverageRule.SIDECAR,
        True,
        True,
    ),
    (
        "ztunnel enforces STRICT for a pod ambient captures",
        [labelled_namespace("shop", AMBIENT), mesh_policy("STRICT"), api()],
        CoverageRule.AMBIENT,
        True,
        True,
    ),
    (
        "STRICT without a sidecar or ambient capture is declared, not enforced",
        [
            labelled_namespace("shop", {}),
            mesh_policy("STRICT"),
            api(),
            admitted_pod_without_sidecar(),
        ],
        CoverageRule.NO_PROXY,
        True,
        False,
    ),
    (
        "a namespace toggled to STRICT with no sidecars raises only the declared figure",
        [labelled_namespace("shop", {}), peer_auth("shop", mode="STRICT"), api()],
        CoverageRule.NO_PROXY,
        True,
        False,
    ),
    (
        "hostNetwork is never enforced, even with an istio-proxy container",
        [
            labelled_namespace("shop", {}),
            mesh_policy("STRICT"),
            api(sidecar=True, host_network=True),
        ],
        CoverageRule.HOST_NETWORK,
        True,
        False,
    ),
    (
        "hostNetwork is never captured by ambient",
        [labelled_namespace("shop", AMBIENT), mesh_policy("STRICT"), api(host_network=True)],
        CoverageRule.HOST_NETWORK,
        True,
        False,
    ),
    (
        "a port exception below STRICT makes the workload not STRICT declared",
        [
            labelled_namespace("shop", {}),
            mesh_policy("STRICT"),
            api_policy(p9090="PERMISSIVE"),
            api(sidecar=True),
        ],
        CoverageRule.PORT_BELOW_STRICT,
        False,
        False,
    ),
    (
        "a port exception counts even on a port the container does not declare",
        [
            labelled_namespace("shop", {}),
            api_policy(p15999="DISABLE"),
            api(sidecar=True, ports=(8080,)),
        ],
        CoverageRule.PORT_BELOW_STRICT,
        False,
        False,
    ),
    (
        "a port exception that is STRICT keeps the workload STRICT",
        [
            labelled_namespace("shop", {}),
            api_policy(p9090="STRICT"),
            api(sidecar=True),
        ],
        CoverageRule.SIDECAR,
        True,
        True,
    ),
    (
        "an UNSET port takes the workload's STRICT",
        [
            labelled_namespace("shop", {}),
            api_policy(p9090=None),
            api(sidecar=True),
        ],
        CoverageRule.SIDECAR,
        True,
        True,
    ),
    (
        "a PERMISSIVE workload is not STRICT, even if every declared port is STRICT",
        [
            labelled_namespace("shop", {}),
            peer_auth(
                "shop", "api", mode="PERMISSIVE", selector={"app": "api"}, ports={8080: "STRICT"}
            ),
            api(sidecar=True, ports=(8080,)),
        ],
        CoverageRule.NOT_STRICT,
        False,
        False,
    ),
    (
        "the built-in default PERMISSIVE is not STRICT",
        [labelled_namespace("shop", {}), api(sidecar=True)],
        CoverageRule.NOT_STRICT,
        False,
        False,
    ),
    (
        "a sidecar the webhooks would inject counts for a workload without pods in the input",
        [
            labelled_namespace("shop", {"istio-injection": "enabled"}),
            mesh_policy("STRICT"),
            api(),
        ],
        CoverageRule.SIDECAR,
        True,
        True,
    ),
    (
        "admitted pods without a sidecar beat what the namespace label would inject",
        [
            labelled_namespace("shop", {"istio-injection": "enabled"}),
            mesh_policy("STRICT"),
            api(),
            admitted_pod_without_sidecar(),
        ],
        CoverageRule.NO_PROXY,
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "objects", "decided_by", "declared", "enforced"), CASES, ids=[c[0] for c in CASES]
)
def test_coverage_rule(rule, objects, decided_by, declared, enforced):
    posture = evaluate(objects)
    workload = workload_of(posture, "shop/api")
    assert coverage_rule(workload) is decided_by
    assert decided_by.declared is declared
    assert decided_by.enforced is enforced
    counts = coverage_counts([workload])
    assert (counts.total, counts.strict_declared, counts.strict_enforced) == (
        1,
        int(declared),
        int(enforced),
    )


def test_every_coverage_rule_has_words_and_a_case():
    assert {case[2] for case in CASES} == set(CoverageRule)
    assert all(rule.words for rule in CoverageRule)


def test_enforced_is_a_subset_of_declared():
    assert all(rule.declared for rule in CoverageRule if rule.enforced)


def test_coverage_counts_a_mesh_of_mixed_workloads():
    posture = evaluate(
        [
            labelled_namespace("shop", {}),
            mesh_policy("STRICT"),
            api(sidecar=True),
            deployment("shop", "batch", ports=(8080,)),
            deployment("shop", "cache", ports=(6379,), containers=SIDECAR_CONTAINERS),
            peer_auth("shop", "cache", mode="PERMISSIVE", selector={"app": "cache"}),
        ]
    )
    counts = coverage_counts(posture.workloads)
    assert (counts.total, counts.strict_declared, counts.strict_enforced) == (3, 2, 1)
