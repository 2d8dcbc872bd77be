"""DestinationRules are a client-side fact (issue 13 §1): one case per Istio rule.

Rules from pilot/pkg/model/push_context.go (setDestinationRules, destinationRule,
getExportedDestinationRuleFromNamespace), pilot/pkg/model/sidecar.go (DestinationRule),
pilot/pkg/model/destination_rule.go (mergeDestinationRule), pilot/pkg/model/config.go
(MostSpecificHostMatch, ResolveShortnameToFQDN), pilot/pkg/networking/util/util.go
(GetPortLevelTrafficPolicy) and pilot/pkg/networking/core/cluster_tls.go
(buildUpstreamTLSSettings).

The mesh of every case: `shop/api` (container ports 8080 `http` and 9000 `admin`) behind
the Service `api` (port 80 → 8080, port 9000 → `admin`), STRICT by the namespace policy
unless a case says otherwise, and client namespaces `blog` and `legacy`.
"""

import pytest

from policies.engine import Severity, WorkloadRef, evaluate
from policies.engine.destinations import Destinations
from policies.engine.inputs import parse_objects

from .builders import (
    ROOT,
    deployment,
    destination_rule,
    findings_with,
    labelled_namespace,
    namespace,
    peer_auth,
    service,
)

OLD = "2022-01-01T00:00:00Z"
NEW = "2024-01-01T00:00:00Z"
API = "api.shop.svc.cluster.local"
CONTAINERS = [
    {
        "name": "api",
        "ports": [
            {"name": "http", "containerPort": 8080},
            {"name": "admin", "containerPort": 9000},
        ],
    }
]


def mesh(*objects, shop_mode="STRICT", service_ports=None):
    """The case's mesh plus `objects`."""
    return [
        labelled_namespace("shop", {"istio-injection": "enabled"}),
        namespace("blog"),
        namespace("legacy"),
        peer_auth("shop", mode=shop_mode),
        deployment("shop", "api", containers=CONTAINERS),
        service("shop", "api", ports=service_ports or [(80, 8080), (9000, "admin")]),
        *objects,
    ]


def refused(posture):
    """{rule namespace/name: message} of DESTINATION_RULE_DISABLES_MTLS_TO_STRICT."""
    return {
        f"{f.namespace}/{f.name}": f.message
        for f in findings_with(posture, "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT")
    }


# (rule pinned, extra objects, {rule: words its message must hold} of the findings expected)
LOOKUP = [
    (
        "a client's own namespace is searched first (exportTo . included)",
        [
            destination_rule("shop", "api", "api", created=OLD),
            destination_rule("legacy", "plain", API, "DISABLE", export_to=["."], created=NEW),
        ],
        {"legacy/plain": "clients in legacy send plaintext"},
    ),
    (
        "the Service namespace's exported rule reaches every other client namespace",
        [destination_rule("shop", "plain", "api", "DISABLE")],
        {"shop/plain": "clients in every namespace that sees it send plaintext"},
    ),
    (
        "exportTo . keeps a rule to its own namespace's clients",
        [destination_rule("shop", "plain", "api", "DISABLE", export_to=["."])],
        {"shop/plain": "clients in shop send plaintext"},
    ),
    (
        "exportTo naming a namespace reaches only it, not even the rule's own namespace",
        [destination_rule("shop", "plain", "api", "DISABLE", export_to=["blog"])],
        {"shop/plain": "clients in blog send plaintext"},
    ),
    (
        "the root namespace's exported rules come last",
        [destination_rule(ROOT, "mesh-plain", "*.local", "DISABLE")],
        {"istio-system/mesh-plain": "clients in every namespace that sees it"},
    ),
    (
        "a Service namespace rule shadows the root namespace's",
        [
            destination_rule(ROOT, "mesh-plain", "*.local", "DISABLE"),
            destination_rule("shop", "api", "api", "ISTIO_MUTUAL"),
        ],
        {},
    ),
    (
        "a most specific match not exported to the client falls through to the root namespace",
        [
            destination_rule("shop", "api", "api", "ISTIO_MUTUAL", export_to=["blog"]),
            destination_rule(ROOT, "mesh-plain", "*.local", "DISABLE"),
        ],
        {"istio-system/mesh-plain": "every namespace that sees it but blog"},
    ),
    (
        "a private rule of the root namespace is for the root namespace's clients only",
        [destination_rule(ROOT, "gateway-plain", API, "DISABLE", export_to=["."])],
        {"istio-system/gateway-plain": "clients in istio-system send plaintext"},
    ),
    (
        "within a namespace an exact host beats a wildcard",
        [
            destination_rule("shop", "all-plain", "*.shop.svc.cluster.local", "DISABLE"),
            destination_rule("shop", "api", "api", "ISTIO_MUTUAL"),
        ],
        {},
    ),
    (
        "within a namespace a longer wildcard beats a shorter one",
        [
            destination_rule(ROOT, "mesh", "*.local", "ISTIO_MUTUAL"),
            destination_rule(ROOT, "shop-plain", "*.shop.svc.cluster.local", "DISABLE"),
        ],
        {"istio-system/shop-plain": "every namespace that sees it"},
    ),
    (
        "a wildcard in the client's own namespace (*.local) is its own rule",
        [destination_rule("legacy", "all-plain", "*.local", "DISABLE", export_to=["."])],
        {"legacy/all-plain": "clients in legacy send plaintext"},
    ),
    (
        "a short host completes with the rule's namespace, so it names another Service",
        [destination_rule("blog", "plain", "api", "DISABLE")],
        {},
    ),
    (
        "NAME.NAMESPACE is taken as written and names no Service",
        [destination_rule("shop", "plain", "api.shop", "DISABLE")],
        {},
    ),
    (
        "a workloadSelector rule applies to the client pods it selects only",
        [destination_rule("legacy", "batch-plain", API, "DISABLE", selector={"app": "batch"})],
        {"legacy/batch-plain": "clients in legacy (pods labelled app=batch)"},
    ),
    (
        "a match in the client's namespace never falls through, even when it selects no pod",
        [
            destination_rule("legacy", "batch", API, "ISTIO_MUTUAL", selector={"app": "batch"}),
            destination_rule("shop", "plain", "api", "DISABLE"),
        ],
        {"shop/plain": "every namespace that sees it but legacy send plaintext"},
    ),
]

MERGE = [
    (
        "same-host rules merge and the oldest's traffic policy wins",
        [
            destination_rule("shop", "old", "api", "ISTIO_MUTUAL", created=OLD),
            destination_rule("shop", "new", "api", "DISABLE", created=NEW),
        ],
        {},
    ),
    (
        "a newer rule's traffic policy fills in when the oldest has none",
        [
            destination_rule("shop", "old", "api", None, created=OLD),
            destination_rule("shop", "new", "api", "DISABLE", created=NEW),
        ],
        {"shop/new": "every namespace that sees it"},
    ),
    (
        "the oldest's traffic policy counts whole: without tls it keeps auto mTLS",
        [
            destination_rule(
                "shop",
                "old",
                "api",
                traffic_policy={"connectionPool": {"tcp": {"maxConnections": 5}}},
                created=OLD,
            ),
            destination_rule("shop", "new", "api", "DISABLE", created=NEW),
        ],
        {},
    ),
    (
        "rules with different exportTo do not merge, and the last one a client sees wins",
        [
            destination_rule("shop", "old", "api", "ISTIO_MUTUAL", created=OLD),
            destination_rule("shop", "new", "api", "DISABLE", export_to=["."], created=NEW),
        ],
        {"shop/new": "clients in shop send plaintext"},
    ),
    (
        "workloadSelector rules sort first whatever their age",
        [
            destination_rule("legacy", "old", API, "ISTIO_MUTUAL", export_to=["."], created=OLD),
            destination_rule(
                "legacy", "picky", API, "DISABLE", selector={"app": "batch"}, created=NEW
            ),
        ],
        {"legacy/picky": "legacy (pods labelled app=batch)"},
    ),
]

PORTS = [
    (
        "a portLevelSettings entry replaces the traffic policy for that Service port",
        [destination_rule("shop", "api", "api", "ISTIO_MUTUAL", ports={9000: "DISABLE"})],
        {"shop/api": "portLevelSettings for port 9000"},
    ),
    (
        "a portLevelSettings entry without tls means auto mTLS, not the top-level DISABLE",
        [destination_rule("shop", "api", "api", "DISABLE", ports={80: None, 9000: None})],
        {},
    ),
    (
        "portLevelSettings match the Service port, not the container port it targets",
        [destination_rule("shop", "api", "api", "ISTIO_MUTUAL", ports={8080: "DISABLE"})],
        {},
    ),
    (
        "a tls block without a mode is DISABLE (the enum's zero value)",
        [destination_rule("shop", "api", "api", traffic_policy={"tls": {"sni": "api"}})],
        {"shop/api": "sets tls.mode DISABLE"},
    ),
    (
        "SIMPLE sends TLS without the mesh certificate",
        [destination_rule("shop", "api", "api", "SIMPLE")],
        {"shop/api": "TLS without the mesh certificate"},
    ),
]

CASES = LOOKUP + MERGE + PORTS


@pytest.mark.parametrize(("rule", "objects", "expected"), CASES, ids=[c[0] for c in CASES])
def test_destination_rule_disables_mtls_to_strict(rule, objects, expected):
    found = refused(evaluate(mesh(*objects)))
    assert set(found) == set(expected)
    for ref, words in expected.items():
        assert words in found[ref], found[ref]
        assert "shop/api" in found[ref]


# (rule pinned, workload policy ports, objects, finding expected)
TARGET_PORTS = [
    (
        "DISABLE aimed at a STRICT target port is refused even under a PERMISSIVE workload",
        {8080: "STRICT"},
        [destination_rule("shop", "api", "api", "DISABLE", ports={9000: None})],
        True,
    ),
    (
        "DISABLE aimed only at DISABLE or PERMISSIVE target ports is not refused",
        {8080: "PERMISSIVE", 9000: "DISABLE"},
        [destination_rule("shop", "api", "api", "DISABLE")],
        False,
    ),
    (
        "a named targetPort reaches the container port of that name",
        {9000: "STRICT"},
        [destination_rule("shop", "api", "api", "ISTIO_MUTUAL", ports={9000: "DISABLE"})],
        True,
    ),
]


@pytest.mark.parametrize(
    ("rule", "port_modes", "objects", "expected"),
    TARGET_PORTS,
    ids=[c[0] for c in TARGET_PORTS],
)
def test_the_target_ports_mode_decides_what_is_refused(rule, port_modes, objects, expected):
    workload_mode = "STRICT" if not any(m == "STRICT" for m in port_modes.values()) else None
    policy = peer_auth(
        "shop", "api", mode=workload_mode or "PERMISSIVE", selector={"app": "api"}, ports=port_modes
    )
    posture = evaluate(mesh(policy, *objects, shop_mode="PERMISSIVE"))
    assert bool(refused(posture)) is expected


def test_a_named_target_port_the_workload_lacks_reaches_nothing():
    posture = evaluate(
        mesh(
            destination_rule("shop", "api", "api", "DISABLE"),
            service_ports=[(80, "grpc")],
        )
    )
    assert refused(posture) == {}


def test_the_finding_on_a_rule_names_the_workloads_it_breaks():
    posture = evaluate(mesh(destination_rule("legacy", "plain", API, "DISABLE", export_to=["."])))
    (finding,) = findings_with(posture, "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT")
    assert (finding.namespace, finding.kind, finding.severity) == (
        "legacy",
        "DestinationRule",
        Severity.ERROR,
    )
    assert finding.affects == (WorkloadRef("shop", "api", "Deployment"),)
    assert finding.as_dict()["affects"] == [
        {"namespace": "shop", "name": "api", "kind": "Deployment"}
    ]


# (rule pinned, objects, words of the finding expected, or None)
WITHOUT_DR = [
    (
        "clients without ISTIO_MUTUAL are every namespace when no rule names the host",
        [],
        "no DestinationRule makes clients in every namespace send ISTIO_MUTUAL",
    ),
    (
        "ISTIO_MUTUAL for every client satisfies it",
        [destination_rule("shop", "api", "api")],
        None,
    ),
    (
        "a rule kept to its own namespace leaves the other client namespaces out",
        [destination_rule("shop", "api", "api", export_to=["."])],
        "clients in every namespace but shop",
    ),
    (
        "a client namespace's own ISTIO_MUTUAL covers only that namespace",
        [destination_rule("legacy", "api", API, export_to=["."])],
        "clients in every namespace but legacy",
    ),
    (
        "ISTIO_MUTUAL on one Service port does not cover another STRICT port",
        [destination_rule("shop", "api", "api", None, ports={80: "ISTIO_MUTUAL"})],
        "(through api.shop.svc.cluster.local port 9000)",
    ),
]


@pytest.mark.parametrize(("rule", "objects", "words"), WITHOUT_DR, ids=[c[0] for c in WITHOUT_DR])
def test_workload_policy_without_destination_rule_per_client_and_port(rule, objects, words):
    policy = peer_auth("shop", "api", mode="STRICT", selector={"app": "api"})
    posture = evaluate(mesh(policy, *objects, shop_mode="PERMISSIVE"))
    found = findings_with(posture, "WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE")
    if words is None:
        assert found == []
    else:
        assert len(found) == 1 and words in found[0].message, found


def test_a_strict_port_no_service_port_targets_needs_no_destination_rule():
    policy = peer_auth(
        "shop", "api", mode="PERMISSIVE", selector={"app": "api"}, ports={9000: "STRICT"}
    )
    posture = evaluate(mesh(policy, shop_mode="PERMISSIVE", service_ports=[(80, 8080)]))
    assert findings_with(posture, "WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE") == []


def test_ten_thousand_namespaces_share_one_view_of_a_host():
    # Clients that see the same rules are one view, however many namespaces they are.
    objects = mesh(
        *[namespace(f"team-{n}") for n in range(10_000)],
        destination_rule("shop", "plain", "api", "DISABLE"),
    )
    inputs = parse_objects(objects, ROOT)
    destinations = Destinations(inputs, ROOT, {})
    (api,) = [s for s in inputs.services if s.name == "api"]
    views = destinations.views(api)
    assert [(view.namespaces, view.rest) for view in views] == [
        (("shop",), False),
        ((ROOT,), False),
        ((), True),
    ]
    found = refused(evaluate(objects))
    assert "clients in every namespace that sees it" in found["shop/plain"]


def test_namespaces_whose_own_rules_send_the_same_tls_share_one_view():
    # 2,000 namespaces with a *.local rule of their own: one view for them all, and the
    # findings still name each rule that sends plaintext.
    teams = [f"team-{n:04}" for n in range(2_000)]
    objects = mesh(
        *[namespace(team) for team in teams],
        *[destination_rule(team, "all", "*.local", export_to=["."]) for team in teams[1:]],
        destination_rule(teams[0], "all", "*.local", "DISABLE", export_to=["."]),
    )
    inputs = parse_objects(objects, ROOT)
    (api,) = [s for s in inputs.services if s.name == "api"]
    views = Destinations(inputs, ROOT, {}).views(api)
    assert [(len(view.namespaces), view.rest) for view in views] == [
        (1, False),
        (1_999, False),
        (1, False),
        (0, True),
    ]
    found = refused(evaluate(objects))
    assert set(found) == {"team-0000/all"}
    assert "clients in team-0000 send plaintext" in found["team-0000/all"]


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (
            destination_rule("shop", "api", "api", "DISABLE", export_to=["."]),
            "Clients use TLS mode DISABLE towards api. Only clients in shop use it (exportTo .).",
        ),
        (
            destination_rule("shop", "api", "api", "ISTIO_MUTUAL", ports={9000: "DISABLE"}),
            "Clients use TLS mode ISTIO_MUTUAL towards api; per Service port 9000: DISABLE.",
        ),
        (
            destination_rule("legacy", "b", API, None, selector={"app": "batch"}),
            "It sets no top-level TLS mode towards api.shop.svc.cluster.local, so clients keep "
            "auto mTLS. Only pods of legacy labelled app=batch use it.",
        ),
        (
            destination_rule("shop", "api", "api", export_to=["blog", "legacy"]),
            "Clients use TLS mode ISTIO_MUTUAL towards api. Exported to blog, legacy only.",
        ),
    ],
)
def test_a_destination_rules_verdict_says_who_uses_it(rule, words):
    (verdict,) = [p for p in evaluate([rule]).policies if p.kind == "DestinationRule"]
    assert verdict.status_reason == words
