"""Effective modes, one Istio rule per case.

Rules from pilot/pkg/security/authn/policy_applier.go (ComposePeerAuthentication) and
pilot/pkg/model/authentication.go (getConfigsForWorkload, config ordering).
"""

import pytest

from policies.engine import Level, Mode, evaluate

from .builders import (
    ROOT,
    deployment,
    mesh_policy,
    namespace,
    namespace_of,
    peer_auth,
    workload_of,
)

OLD = "2022-01-01T00:00:00Z"
MID = "2023-01-01T00:00:00Z"
NEW = "2024-01-01T00:00:00Z"

# (rule pinned, objects, {"ns/name" or "ns": (mode, policy or None)})
CASES = [
    (
        "ComposePeerAuthentication starts at PERMISSIVE when nothing applies",
        [deployment("shop", "api")],
        {
            "shop/api": ("PERMISSIVE", None),
            "shop": ("PERMISSIVE", None),
            ROOT: ("PERMISSIVE", None),
        },
    ),
    (
        "mesh level: a selector-less policy in the root namespace reaches every namespace",
        [mesh_policy("STRICT"), deployment("shop", "api")],
        {
            "shop/api": ("STRICT", "istio-system/default"),
            "shop": ("STRICT", "istio-system/default"),
        },
    ),
    (
        "mesh level: an empty matchLabels in the root namespace is still mesh-wide",
        [peer_auth(ROOT, "m", mode="STRICT", selector={}), deployment("shop", "api")],
        {"shop/api": ("STRICT", "istio-system/m"), ROOT: ("STRICT", "istio-system/m")},
    ),
    (
        "mesh UNSET composes to PERMISSIVE (the built-in default decides)",
        [mesh_policy("UNSET"), deployment("shop", "api")],
        {"shop/api": ("PERMISSIVE", None), ROOT: ("PERMISSIVE", None)},
    ),
    (
        "a mesh policy without mtls is UNSET, so PERMISSIVE",
        [mesh_policy(None), deployment("shop", "api")],
        {"shop/api": ("PERMISSIVE", None)},
    ),
    (
        "namespace level beats mesh level whatever the ages",
        [
            mesh_policy("STRICT", created=NEW),
            peer_auth("shop", mode="DISABLE", created=OLD),
            deployment("shop", "api"),
        ],
        {"shop/api": ("DISABLE", "shop/default"), "shop": ("DISABLE", "shop/default")},
    ),
    (
        "namespace level beats mesh level even when it is newer",
        [
            mesh_policy("STRICT", created=OLD),
            peer_auth("shop", mode="PERMISSIVE", created=NEW),
            deployment("shop", "api"),
        ],
        {"shop/api": ("PERMISSIVE", "shop/default")},
    ),
    (
        "namespace UNSET inherits the mesh mode and the mesh policy decides",
        [mesh_policy("STRICT"), peer_auth("shop", mode="UNSET"), deployment("shop", "api")],
        {
            "shop/api": ("STRICT", "istio-system/default"),
            "shop": ("STRICT", "istio-system/default"),
        },
    ),
    (
        "a namespace policy applies only to its own namespace",
        [peer_auth("shop", mode="STRICT"), deployment("shop", "api"), deployment("blog", "web")],
        {"shop/api": ("STRICT", "shop/default"), "blog/web": ("PERMISSIVE", None)},
    ),
    (
        "empty selector {} outside the root namespace is namespace-wide",
        [peer_auth("shop", "all", mode="STRICT", selector={}), deployment("shop", "api")],
        {"shop/api": ("STRICT", "shop/all"), "shop": ("STRICT", "shop/all")},
    ),
    (
        "workload level beats namespace level even when newer",
        [
            peer_auth("shop", mode="STRICT", created=OLD),
            peer_auth("shop", "api", mode="PERMISSIVE", selector={"app": "api"}, created=NEW),
            deployment("shop", "api"),
            deployment("shop", "cart"),
        ],
        {
            "shop/api": ("PERMISSIVE", "shop/api"),
            "shop/cart": ("STRICT", "shop/default"),
            "shop": ("STRICT", "shop/default"),
        },
    ),
    (
        "workload DISABLE overrides STRICT at namespace and mesh level",
        [
            mesh_policy("STRICT"),
            peer_auth("shop", mode="STRICT"),
            peer_auth("shop", "api", mode="DISABLE", selector={"app": "api"}),
            deployment("shop", "api"),
        ],
        {"shop/api": ("DISABLE", "shop/api")},
    ),
    (
        "workload UNSET inherits the namespace mode, not the mesh mode",
        [
            mesh_policy("STRICT"),
            peer_auth("shop", mode="PERMISSIVE"),
            peer_auth("shop", "api", mode="UNSET", selector={"app": "api"}),
            deployment("shop", "api"),
        ],
        {"shop/api": ("PERMISSIVE", "shop/default")},
    ),
    (
        "workload UNSET with no namespace policy inherits the mesh policy",
        [
            mesh_policy("DISABLE"),
            peer_auth("shop", "api", selector={"app": "api"}),
            deployment("shop", "api"),
        ],
        {"shop/api": ("DISABLE", "istio-system/default")},
    ),
    (
        "workload UNSET all the way down ends at the built-in PERMISSIVE",
        [
            peer_auth("shop", "api", mode="UNSET", selector={"app": "api"}),
            deployment("shop", "api"),
        ],
        {"shop/api": ("PERMISSIVE", None)},
    ),
    (
        "selector matches when matchLabels is a subset of the pod labels (labels.SubsetOf)",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api", "v": "1"}),
            deployment("shop", "api", labels={"app": "api", "v": "1", "team": "x"}),
            deployment("shop", "api-v2", labels={"app": "api", "v": "2"}),
        ],
        {"shop/api": ("STRICT", "shop/api"), "shop/api-v2": ("PERMISSIVE", None)},
    ),
    (
        "a label key present with another value does not match",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            deployment("shop", "other", labels={"app": "API"}),
        ],
        {"shop/other": ("PERMISSIVE", None)},
    ),
    (
        "a workload policy in another namespace does not apply (getConfigsForWorkload)",
        [
            peer_auth("blog", "api", mode="STRICT", selector={"app": "api"}),
            deployment("shop", "api"),
        ],
        {"shop/api": ("PERMISSIVE", None)},
    ),
    (
        "a selector policy in the root namespace applies to nothing",
        [peer_auth(ROOT, "sel", mode="STRICT", selector={"app": "api"}), deployment("shop", "api")],
        {"shop/api": ("PERMISSIVE", None), ROOT: ("PERMISSIVE", None)},
    ),
    (
        "a selector policy in the root namespace does not apply to root-namespace workloads",
        [
            mesh_policy("PERMISSIVE"),
            peer_auth(ROOT, "sel", mode="STRICT", selector={"app": "istiod"}),
            deployment(ROOT, "istiod"),
        ],
        {"istio-system/istiod": ("PERMISSIVE", "istio-system/default")},
    ),
    (
        "the root namespace's own row is the mesh mode",
        [mesh_policy("STRICT")],
        {ROOT: ("STRICT", "istio-system/default")},
    ),
    (
        "security.istio.io/v1beta1 is the same resource as v1",
        [
            peer_auth("shop", mode="STRICT", api_version="security.istio.io/v1beta1"),
            deployment("shop", "api"),
        ],
        {"shop/api": ("STRICT", "shop/default")},
    ),
    (
        "a PeerAuthentication of another API group is not Istio's and is ignored",
        [peer_auth("shop", mode="STRICT", api_version="example.com/v1"), deployment("shop", "api")],
        {"shop/api": ("PERMISSIVE", None)},
    ),
]


@pytest.mark.parametrize(("rule", "objects", "expected"), CASES, ids=[c[0] for c in CASES])
def test_effective_mode_follows_istio(rule, objects, expected):
    posture = evaluate(objects, root_namespace=ROOT)
    for ref, (mode, policy) in expected.items():
        row = workload_of(posture, ref) if "/" in ref else namespace_of(posture, ref)
        assert (str(row.mode), None if row.policy is None else str(row.policy)) == (mode, policy), (
            ref
        )


SOURCES = [
    ("built-in default", [deployment("shop", "api")], Level.DEFAULT),
    ("mesh policy", [mesh_policy("STRICT"), deployment("shop", "api")], Level.MESH),
    (
        "namespace policy",
        [peer_auth("shop", mode="STRICT"), deployment("shop", "api")],
        Level.NAMESPACE,
    ),
    (
        "workload policy",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            deployment("shop", "api"),
        ],
        Level.WORKLOAD,
    ),
]


@pytest.mark.parametrize(("label", "objects", "level"), SOURCES, ids=[s[0] for s in SOURCES])
def test_source_names_the_level_that_decided(label, objects, level):
    row = workload_of(evaluate(objects), "shop/api")
    assert row.source is level
    assert row.reason.level is level


def test_effective_modes_are_never_unset():
    objects = [
        mesh_policy("UNSET"),
        peer_auth("shop", mode="UNSET"),
        peer_auth("shop", "api", mode="UNSET", selector={"app": "api"}, ports={8080: "UNSET"}),
        deployment("shop", "api", ports=[8080]),
    ]
    posture = evaluate(objects)
    modes = [posture.mesh.mode] + [n.mode for n in posture.namespaces]
    modes += [w.mode for w in posture.workloads]
    modes += [p.mode for w in posture.workloads for p in w.ports]
    assert Mode.UNSET not in modes
    assert modes and all(mode is Mode.PERMISSIVE for mode in modes)


def test_root_namespace_is_configurable():
    objects = [
        peer_auth("mesh-root", mode="STRICT"),
        peer_auth(ROOT, mode="DISABLE"),
        deployment("shop", "api"),
        deployment(ROOT, "istiod"),
    ]
    posture = evaluate(objects, root_namespace="mesh-root")
    assert str(posture.mesh.policy) == "mesh-root/default"
    assert workload_of(posture, "shop/api").mode is Mode.STRICT
    # istio-system is an ordinary namespace now: its selector-less policy is namespace-wide.
    assert workload_of(posture, "istio-system/istiod").mode is Mode.DISABLE
    assert namespace_of(posture, "mesh-root").is_root


def test_every_named_namespace_appears_with_the_root_even_if_undeclared():
    posture = evaluate(
        [
            namespace("declared"),
            deployment("implied", "api"),
            peer_auth("policy-only", mode="STRICT"),
        ]
    )
    assert [n.name for n in posture.namespaces] == ["declared", "implied", ROOT, "policy-only"]


def test_objects_without_namespace_are_in_default():
    obj = deployment("x", "api")
    del obj["metadata"]["namespace"]
    posture = evaluate([obj])
    assert workload_of(posture, "default/api").mode is Mode.PERMISSIVE


def test_malformed_objects_are_skipped_not_fatal():
    objects = [
        None,
        "text",
        {"kind": "Deployment"},
        {"kind": "Deployment", "metadata": {"namespace": "shop"}},
        {
            "kind": "PeerAuthentication",
            "apiVersion": "security.istio.io/v1",
            "metadata": {"name": "x", "namespace": "shop"},
            "spec": "not a mapping",
        },
        {
            "kind": "Deployment",
            "metadata": {"name": "odd", "namespace": "shop"},
            "spec": {"template": {"metadata": {"labels": ["a"]}, "spec": {"containers": "x"}}},
        },
        deployment("shop", "api"),
    ]
    posture = evaluate(objects)
    assert [w.name for w in posture.workloads] == ["api", "odd"]
    assert workload_of(posture, "shop/api").mode is Mode.PERMISSIVE


def test_evaluate_leaves_the_garbage_collector_as_it_found_it():
    import gc

    assert gc.isenabled()
    evaluate([deployment("shop", "api")])
    assert gc.isenabled()
    gc.disable()
    try:
        evaluate([deployment("shop", "api")])
        assert not gc.isenabled()
    finally:
        gc.enable()
