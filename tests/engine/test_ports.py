"""portLevelMtls: only the winning workload-level policy's ports count, and a port UNSET
takes the workload's effective mode (ComposePeerAuthentication, PerPort)."""

import pytest

from policies.engine import Level, Mode, evaluate

from .builders import deployment, mesh_policy, peer_auth, workload_of


def ports_of(*objects):
    api = workload_of(evaluate([*objects, deployment("shop", "api", ports=[80, 8080])]), "shop/api")
    return {port.port: str(port.mode) for port in api.ports}


PORT_CASES = [
    (
        "a port mode overrides the workload mode for that port only",
        [peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}, ports={8080: "DISABLE"})],
        {8080: "DISABLE"},
    ),
    (
        "string keys from JSON are port numbers too",
        [
            peer_auth(
                "shop", "api", mode="STRICT", selector={"app": "api"}, ports={"8080": "PERMISSIVE"}
            )
        ],
        {8080: "PERMISSIVE"},
    ),
    (
        "a port UNSET takes the workload's effective mode",
        [
            peer_auth("shop", mode="DISABLE"),
            peer_auth(
                "shop", "api", mode="PERMISSIVE", selector={"app": "api"}, ports={80: "UNSET"}
            ),
        ],
        {80: "PERMISSIVE"},
    ),
    (
        "a port entry without a mode is UNSET and takes the workload mode inherited from above",
        [
            mesh_policy("STRICT"),
            peer_auth("shop", "api", mode="UNSET", selector={"app": "api"}, ports={80: None}),
        ],
        {80: "STRICT"},
    ),
    (
        "ports on a workload policy whose own mode is UNSET still count",
        [
            mesh_policy("STRICT"),
            peer_auth("shop", "api", selector={"app": "api"}, ports={8080: "PERMISSIVE"}),
        ],
        {8080: "PERMISSIVE"},
    ),
    (
        "ports the policy names are listed even when no container declares them",
        [peer_auth("shop", "api", mode="STRICT", selector={"app": "api"}, ports={9999: "DISABLE"})],
        {9999: "DISABLE"},
    ),
    (
        "portLevelMtls on a namespace-wide policy is ignored",
        [peer_auth("shop", mode="STRICT", ports={8080: "DISABLE"})],
        {},
    ),
    (
        "portLevelMtls on the mesh policy is ignored",
        [mesh_policy("STRICT", ports={8080: "DISABLE"})],
        {},
    ),
    (
        "keys that are not port numbers are ignored",
        [
            peer_auth(
                "shop",
                "api",
                mode="STRICT",
                selector={"app": "api"},
                ports={"http": "DISABLE", 0: "DISABLE", 70000: "DISABLE", 80: "PERMISSIVE"},
            )
        ],
        {80: "PERMISSIVE"},
    ),
]


@pytest.mark.parametrize(
    ("rule", "objects", "expected"), PORT_CASES, ids=[c[0] for c in PORT_CASES]
)
def test_port_level_modes(rule, objects, expected):
    assert ports_of(*objects) == expected


def test_ports_are_sorted_by_number_and_keep_the_declared_mode():
    api = workload_of(
        evaluate(
            [
                peer_auth(
                    "shop",
                    "api",
                    mode="STRICT",
                    selector={"app": "api"},
                    ports={9090: "UNSET", 80: "DISABLE", "443": "PERMISSIVE"},
                ),
                deployment("shop", "api"),
            ]
        ),
        "shop/api",
    )
    assert [(p.port, p.mode, p.declared) for p in api.ports] == [
        (80, Mode.DISABLE, Mode.DISABLE),
        (443, Mode.PERMISSIVE, Mode.PERMISSIVE),
        (9090, Mode.STRICT, Mode.UNSET),
    ]


def test_port_reason_chain_ends_with_a_port_step():
    api = workload_of(
        evaluate(
            [
                mesh_policy("STRICT"),
                peer_auth(
                    "shop", "api", selector={"app": "api"}, ports={80: "DISABLE", 90: "UNSET"}
                ),
                deployment("shop", "api"),
            ]
        ),
        "shop/api",
    )
    decided, inherited = api.ports
    assert [str(step.outcome) for step in decided.reason.chain] == [
        "overridden",
        "absent",
        "inherited",
        "decided",
    ]
    assert (decided.reason.level, str(decided.reason.policy)) == (Level.PORT, "shop/api")
    assert [str(step.outcome) for step in inherited.reason.chain] == [
        "decided",
        "absent",
        "inherited",
        "inherited",
    ]
    assert inherited.reason.chain[-1].level is Level.PORT
    assert (inherited.reason.level, str(inherited.reason.policy)) == (
        Level.MESH,
        "istio-system/default",
    )
