"""The reason chain: mesh → namespace (→ workload → port), every level present, and its
JSON shape exactly as docs/contracts.md §1 fixes it (the UI and snapshots read it)."""

import json

import pytest

from policies.engine import evaluate, posture_as_json

from .builders import deployment, mesh_policy, namespace_of, peer_auth, workload_of

OLD = "2022-01-01T00:00:00Z"
NEW = "2024-01-01T00:00:00Z"

OUTCOMES = [
    ("nothing anywhere: every level absent", [], ["absent", "absent", "absent"]),
    ("mesh decides", [mesh_policy("STRICT")], ["decided", "absent", "absent"]),
    (
        "namespace overrides mesh",
        [mesh_policy("STRICT"), peer_auth("shop", mode="DISABLE")],
        ["overridden", "decided", "absent"],
    ),
    (
        "namespace UNSET inherits the mesh",
        [mesh_policy("STRICT"), peer_auth("shop", mode="UNSET")],
        ["decided", "inherited", "absent"],
    ),
    (
        "workload overrides both",
        [
            mesh_policy("STRICT"),
            peer_auth("shop", mode="PERMISSIVE"),
            peer_auth("shop", "api", mode="DISABLE", selector={"app": "api"}),
        ],
        ["overridden", "overridden", "decided"],
    ),
    (
        "workload UNSET inherits the namespace",
        [
            mesh_policy("STRICT"),
            peer_auth("shop", mode="PERMISSIVE"),
            peer_auth("shop", "api", mode="UNSET", selector={"app": "api"}),
        ],
        ["overridden", "decided", "inherited"],
    ),
    (
        "mesh UNSET: nobody decides, the default applies",
        [mesh_policy("UNSET")],
        ["inherited", "absent", "absent"],
    ),
]


@pytest.mark.parametrize(("label", "policies", "outcomes"), OUTCOMES, ids=[o[0] for o in OUTCOMES])
def test_chain_outcomes_per_level(label, policies, outcomes):
    api = workload_of(evaluate([*policies, deployment("shop", "api")]), "shop/api")
    assert [str(step.level) for step in api.reason.chain] == ["mesh", "namespace", "workload"]
    assert [str(step.outcome) for step in api.reason.chain] == outcomes


def test_namespace_chain_lists_mesh_and_namespace():
    shop = namespace_of(evaluate([peer_auth("shop", mode="STRICT")]), "shop")
    assert [str(step.level) for step in shop.reason.chain] == ["mesh", "namespace"]
    assert [str(step.outcome) for step in shop.reason.chain] == ["absent", "decided"]


def test_reason_json_matches_the_contract():
    posture = evaluate(
        [
            mesh_policy("PERMISSIVE", created=OLD),
            peer_auth("shop", "default", mode="STRICT", created=OLD),
            peer_auth("shop", "later", mode="DISABLE", created=NEW),
        ]
    )
    reason = namespace_of(posture, "shop").reason.as_dict()
    assert reason == {
        "mode": "STRICT",
        "level": "namespace",
        "policy": "shop/default",
        "chain": [
            {
                "level": "mesh",
                "mode": "PERMISSIVE",
                "outcome": "overridden",
                "winner": {
                    "namespace": "istio-system",
                    "name": "default",
                    "mode": "PERMISSIVE",
                    "created": OLD,
                },
                "losers": [],
                "note": reason["chain"][0]["note"],
            },
            {
                "level": "namespace",
                "mode": "STRICT",
                "outcome": "decided",
                "winner": {
                    "namespace": "shop",
                    "name": "default",
                    "mode": "STRICT",
                    "created": OLD,
                },
                "losers": [
                    {
                        "namespace": "shop",
                        "name": "later",
                        "mode": "DISABLE",
                        "created": NEW,
                        "lost_because": "newer",
                    }
                ],
                "note": reason["chain"][1]["note"],
            },
        ],
    }
    assert "shop/later" in reason["chain"][1]["note"]
    assert "shop/default sets STRICT" in reason["chain"][1]["note"]


def test_posture_json_has_the_fixed_keys_and_is_serialisable():
    posture = evaluate(
        [
            peer_auth(
                "shop", "api", mode="STRICT", selector={"app": "api"}, ports={8080: "DISABLE"}
            ),
            deployment("shop", "api", ports=[8080]),
        ]
    )
    document = json.loads(json.dumps(posture_as_json(posture)))
    assert {"root_namespace", "mesh", "namespaces", "workloads", "findings"} <= set(document)
    assert {"mode", "policy", "reason"} <= set(document["mesh"])
    assert {"name", "mode", "policy", "source", "reason"} <= set(document["namespaces"][0])
    api = document["workloads"][0]
    assert {
        "namespace",
        "name",
        "kind",
        "mode",
        "policy",
        "source",
        "ports",
        "port_reasons",
        "has_sidecar",
        "ambient",
        "reason",
    } <= set(api)
    assert api["ports"] == {"8080": "DISABLE"}
    assert api["port_reasons"]["8080"]["chain"][-1]["level"] == "port"
    assert {"code", "severity", "namespace", "name", "kind", "message"} <= set(
        document["findings"][0]
    )


def test_posture_json_rows_are_independent_copies():
    posture = evaluate([deployment("shop", "a"), deployment("shop", "b")])
    document = posture_as_json(posture)
    document["workloads"][0]["reason"]["chain"].clear()
    assert document["workloads"][1]["reason"]["chain"]
