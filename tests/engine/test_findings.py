"""Findings (issue 2 §3): a stable code, a severity, the object, and a sentence to act on."""

import pytest

from policies.engine import Severity, evaluate

from .builders import (
    ROOT,
    deployment,
    destination_rule,
    findings_with,
    labelled_namespace,
    mesh_policy,
    peer_auth,
    service,
)

OLD = "2022-01-01T00:00:00Z"
NEW = "2024-01-01T00:00:00Z"
INJECTED = labelled_namespace("shop", {"istio-injection": "enabled"})


def only(posture, code):
    found = findings_with(posture, code)
    assert len(found) == 1, [f.code for f in posture.findings]
    return found[0]


def test_duplicate_mesh_policy_names_winner_and_ignored():
    posture = evaluate(
        [
            mesh_policy("STRICT", name="new", created=NEW),
            mesh_policy("PERMISSIVE", name="old", created=OLD),
        ]
    )
    finding = only(posture, "DUPLICATE_MESH_POLICY")
    assert (finding.severity, finding.namespace, finding.name) == (Severity.WARNING, ROOT, "old")
    assert "istio-system/old" in finding.message and "istio-system/new" in finding.message
    assert "ignored" in finding.message


def test_duplicate_namespace_policy():
    posture = evaluate(
        [peer_auth("shop", "a", mode="STRICT"), peer_auth("shop", "b", mode="DISABLE")]
    )
    finding = only(posture, "DUPLICATE_NAMESPACE_POLICY")
    assert (finding.namespace, finding.name, finding.severity) == ("shop", "a", Severity.WARNING)
    assert "shop/b" in finding.message


def test_duplicate_workload_policy_is_reported_on_the_workload():
    posture = evaluate(
        [
            INJECTED,
            peer_auth("shop", "one", mode="STRICT", selector={"app": "api"}, created=OLD),
            peer_auth("shop", "two", mode="DISABLE", selector={"tier": "web"}, created=NEW),
            deployment("shop", "api", labels={"app": "api", "tier": "web"}),
        ]
    )
    finding = only(posture, "DUPLICATE_WORKLOAD_POLICY")
    assert (finding.namespace, finding.name, finding.kind) == ("shop", "api", "Deployment")
    assert "shop/one" in finding.message and "shop/two" in finding.message


def test_no_duplicate_when_policies_select_different_workloads():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", selector={"app": "a"}),
            peer_auth("shop", "b", mode="STRICT", selector={"app": "b"}),
            deployment("shop", "a"),
            deployment("shop", "b"),
        ]
    )
    assert not findings_with(posture, "DUPLICATE_WORKLOAD_POLICY")


def test_root_namespace_selector_ignored():
    posture = evaluate([peer_auth(ROOT, "sel", mode="STRICT", selector={"app": "api"})])
    finding = only(posture, "ROOT_NAMESPACE_SELECTOR_IGNORED")
    assert (finding.namespace, finding.name, finding.severity) == (ROOT, "sel", Severity.WARNING)


@pytest.mark.parametrize("namespace", [ROOT, "shop"])
def test_port_level_without_selector_is_an_error_and_the_mode_still_counts(namespace):
    posture = evaluate(
        [peer_auth(namespace, mode="STRICT", ports={8080: "DISABLE"}), deployment("shop", "api")]
    )
    finding = only(posture, "PORT_LEVEL_WITHOUT_SELECTOR")
    assert (finding.namespace, finding.severity) == (namespace, Severity.ERROR)
    assert posture.workloads[0].mode == "STRICT"


def test_selector_matches_nothing():
    posture = evaluate(
        [
            peer_auth("shop", "ghost", mode="STRICT", selector={"app": "ghost"}),
            deployment("shop", "api"),
        ]
    )
    finding = only(posture, "SELECTOR_MATCHES_NOTHING")
    assert (finding.name, finding.severity) == ("ghost", Severity.WARNING)
    assert "app=ghost" in finding.message


def test_a_shadowed_policy_that_selects_something_is_not_matching_nothing():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", selector={"app": "api"}, created=OLD),
            peer_auth("shop", "b", mode="STRICT", selector={"app": "api"}, created=NEW),
            deployment("shop", "api"),
        ]
    )
    assert not findings_with(posture, "SELECTOR_MATCHES_NOTHING")


WITHOUT_DR = [
    (
        "STRICT workload policy, no DestinationRule",
        [peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}), service("shop", "api")],
        "info",
    ),
    (
        "STRICT port counts too",
        [
            peer_auth(
                "shop", "api", mode="PERMISSIVE", selector={"app": "api"}, ports={8080: "STRICT"}
            ),
            service("shop", "api"),
        ],
        "info",
    ),
    (
        "warning when the namespace is DISABLE",
        [
            peer_auth("shop", mode="DISABLE"),
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
        ],
        "warning",
    ),
    (
        "ISTIO_MUTUAL on the full host satisfies it",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
            destination_rule("shop", "api", "api.shop.svc.cluster.local"),
        ],
        None,
    ),
    (
        "ISTIO_MUTUAL on the short host, completed with the rule's namespace",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
            destination_rule("shop", "api", "api"),
        ],
        None,
    ),
    (
        "a short host in another namespace names another Service",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
            destination_rule("blog", "api", "api"),
        ],
        "info",
    ),
    (
        "NAME.NAMESPACE is taken as written and matches no Service",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
            destination_rule("shop", "api", "api.shop"),
        ],
        "info",
    ),
    (
        "a namespace wildcard with ISTIO_MUTUAL covers the Service",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
            destination_rule(ROOT, "all", "*.shop.svc.cluster.local"),
        ],
        None,
    ),
    (
        "an exact SIMPLE rule beats a wildcard ISTIO_MUTUAL",
        [
            peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}),
            service("shop", "api"),
            destination_rule(ROOT, "all", "*.svc.cluster.local"),
            destination_rule("shop", "api", "api", "SIMPLE"),
        ],
        "info",
    ),
    (
        "a STRICT namespace policy needs no DestinationRule",
        [peer_auth("shop", mode="STRICT"), service("shop", "api")],
        None,
    ),
    (
        "a workload policy that is UNSET under a STRICT namespace needs none",
        [
            peer_auth("shop", mode="STRICT"),
            peer_auth("shop", "api", selector={"app": "api"}),
            service("shop", "api"),
        ],
        None,
    ),
]


@pytest.mark.parametrize(
    ("rule", "objects", "severity"), WITHOUT_DR, ids=[c[0] for c in WITHOUT_DR]
)
def test_workload_policy_without_destination_rule(rule, objects, severity):
    posture = evaluate([INJECTED, deployment("shop", "api", ports=[8080]), *objects])
    found = findings_with(posture, "WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE")
    assert [str(f.severity) for f in found] == ([severity] if severity else [])
    if found:
        assert (found[0].namespace, found[0].name) == ("shop", "api")
        assert "shop/api" in found[0].message
        assert ("port 8080 of" in found[0].message) is (rule == "STRICT port counts too")


DR_PLAINTEXT = [
    (
        "DISABLE on the full host of a STRICT workload",
        "api.shop.svc.cluster.local",
        "DISABLE",
        "STRICT",
        True,
    ),
    ("SIMPLE on the short host", "api", "SIMPLE", "STRICT", True),
    ("ISTIO_MUTUAL is fine", "api", "ISTIO_MUTUAL", "STRICT", False),
    ("DISABLE towards a PERMISSIVE workload is allowed", "api", "DISABLE", "PERMISSIVE", False),
    (
        "a wildcard DISABLE reaches STRICT workloads",
        "*.shop.svc.cluster.local",
        "DISABLE",
        "STRICT",
        True,
    ),
    ("a host with a dot taken as written reaches nothing", "api.shop", "DISABLE", "STRICT", False),
]


@pytest.mark.parametrize(
    ("rule", "host", "tls", "mode", "expected"), DR_PLAINTEXT, ids=[c[0] for c in DR_PLAINTEXT]
)
def test_destination_rule_disables_mtls_to_strict(rule, host, tls, mode, expected):
    posture = evaluate(
        [
            INJECTED,
            peer_auth("shop", mode=mode),
            deployment("shop", "api"),
            service("shop", "api"),
            destination_rule("shop", "to-api", host, tls),
        ]
    )
    found = findings_with(posture, "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT")
    assert bool(found) is expected
    if found:
        assert (found[0].namespace, found[0].name, found[0].kind, found[0].severity) == (
            "shop",
            "to-api",
            "DestinationRule",
            Severity.ERROR,
        )
        assert "shop/api" in found[0].message


def test_only_the_most_specific_rule_is_judged():
    posture = evaluate(
        [
            INJECTED,
            peer_auth("shop", mode="STRICT"),
            deployment("shop", "api"),
            service("shop", "api"),
            destination_rule(ROOT, "everything", "*", "DISABLE"),
            destination_rule("shop", "api", "api", "ISTIO_MUTUAL"),
        ]
    )
    assert not findings_with(posture, "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT")


SIDECAR = [
    ("STRICT without sidecar or ambient", {}, "STRICT", True),
    ("STRICT with injection", {"istio-injection": "enabled"}, "STRICT", False),
    ("STRICT in ambient", {"istio.io/dataplane-mode": "ambient"}, "STRICT", False),
    ("PERMISSIVE without sidecar is not this finding", {}, "PERMISSIVE", False),
]


@pytest.mark.parametrize(
    ("rule", "labels", "mode", "expected"), SIDECAR, ids=[s[0] for s in SIDECAR]
)
def test_strict_without_sidecar(rule, labels, mode, expected):
    posture = evaluate(
        [
            labelled_namespace("shop", labels),
            peer_auth("shop", mode=mode),
            deployment("shop", "api"),
        ]
    )
    found = findings_with(posture, "STRICT_WITHOUT_SIDECAR")
    assert bool(found) is expected
    if found:
        assert (found[0].name, found[0].kind, found[0].severity) == (
            "api",
            "Deployment",
            Severity.WARNING,
        )


def test_strict_without_sidecar_applies_in_the_root_namespace_too_and_names_istiod():
    # The rule has no exception for the root namespace; the message explains the usual case.
    posture = evaluate(
        [mesh_policy("STRICT"), deployment(ROOT, "istiod"), deployment("shop", "api")]
    )
    found = findings_with(posture, "STRICT_WITHOUT_SIDECAR")
    assert [f.namespace for f in found] == [ROOT, "shop"]
    assert "control plane (istiod)" in found[0].message
    assert "control plane" not in found[1].message


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ([], True),
        ([mesh_policy("UNSET")], True),
        ([mesh_policy("PERMISSIVE")], True),
        ([mesh_policy("DISABLE")], True),
        ([mesh_policy("STRICT")], False),
    ],
)
def test_mesh_permissive(objects, expected):
    found = findings_with(evaluate(objects), "MESH_PERMISSIVE")
    assert bool(found) is expected
    if found:
        assert (found[0].severity, found[0].namespace) == (Severity.INFO, ROOT)


def test_ambient_disable_unsupported():
    posture = evaluate(
        [
            labelled_namespace("shop", {"istio.io/dataplane-mode": "ambient"}),
            peer_auth("shop", mode="DISABLE"),
            deployment("shop", "api"),
            deployment("shop", "opted-out", labels={"app": "x", "istio.io/dataplane-mode": "none"}),
        ]
    )
    finding = only(posture, "AMBIENT_DISABLE_UNSUPPORTED")
    assert (finding.name, finding.severity) == ("api", Severity.WARNING)
    assert "PERMISSIVE" in finding.message


def test_invalid_mode_is_reported_and_treated_as_unset():
    posture = evaluate(
        [mesh_policy("STRICT"), peer_auth("shop", mode="strict"), deployment("shop", "api")]
    )
    assert only(posture, "INVALID_MTLS_MODE").severity is Severity.ERROR
    assert posture.workloads[0].mode == "STRICT"
    assert str(posture.workloads[0].policy) == "istio-system/default"


def test_findings_are_sorted_and_every_message_is_a_sentence():
    posture = evaluate(
        [
            peer_auth(ROOT, "sel", mode="STRICT", selector={"app": "x"}),
            peer_auth("b", mode="STRICT"),
            deployment("b", "x"),
            peer_auth("a", "ghost", mode="STRICT", selector={"app": "ghost"}),
        ]
    )
    keys = [(f.namespace, f.name, f.code) for f in posture.findings]
    assert keys == sorted(keys)
    assert len(keys) >= 3
    assert all(f.message.endswith(".") and len(f.message) > 40 for f in posture.findings)
