"""Several policies at one level: Istio keeps the oldest (pilot/pkg/model/config.go sort by
creationTimestamp, then name, then namespace; ComposePeerAuthentication keeps the first)."""

import pytest

from policies.engine import Mode, evaluate

from .builders import ROOT, deployment, namespace_of, peer_auth, workload_of

OLD = "2022-01-01T00:00:00Z"
NEW = "2024-01-01T00:00:00Z"


def namespace_winner(*policies):
    posture = evaluate([*policies, deployment("shop", "api")])
    return str(namespace_of(posture, "shop").policy)


COMPETITIONS = [
    (
        "oldest creationTimestamp wins, names do not matter when times differ",
        [
            peer_auth("shop", "aaa", mode="STRICT", created=NEW),
            peer_auth("shop", "zzz", mode="DISABLE", created=OLD),
        ],
        "shop/zzz",
    ),
    (
        "equal timestamps: the smaller name wins byte by byte (policy-10 beats policy-9)",
        [
            peer_auth("shop", "policy-9", mode="STRICT", created=OLD),
            peer_auth("shop", "policy-10", mode="DISABLE", created=OLD),
        ],
        "shop/policy-10",
    ),
    (
        "a policy without creationTimestamp counts as older than any with one",
        [
            peer_auth("shop", "aaa", mode="STRICT", created=OLD),
            peer_auth("shop", "no-time", mode="DISABLE"),
        ],
        "shop/no-time",
    ),
    (
        "two policies without timestamps: the smaller name wins",
        [peer_auth("shop", "b", mode="STRICT"), peer_auth("shop", "a", mode="DISABLE")],
        "shop/a",
    ),
    (
        "timestamps compare as instants, not text (offsets and fractions)",
        [
            peer_auth("shop", "a", mode="STRICT", created="2024-01-01T01:00:00+02:00"),
            peer_auth("shop", "b", mode="DISABLE", created="2023-12-31T23:30:00.5Z"),
        ],
        "shop/a",
    ),
    (
        "an UNSET winner still wins: the loser's mode is not used",
        [
            peer_auth("shop", "old-unset", mode="UNSET", created=OLD),
            peer_auth("shop", "new-strict", mode="STRICT", created=NEW),
        ],
        "None",
    ),
]


@pytest.mark.parametrize(
    ("rule", "policies", "winner"), COMPETITIONS, ids=[c[0] for c in COMPETITIONS]
)
def test_namespace_level_competition(rule, policies, winner):
    assert namespace_winner(*policies) == winner


def test_oldest_wins_at_mesh_level():
    posture = evaluate(
        [
            peer_auth(ROOT, "default", mode="STRICT", created=NEW),
            peer_auth(ROOT, "zz-legacy", mode="PERMISSIVE", created=OLD),
        ]
    )
    assert (posture.mesh.mode, str(posture.mesh.policy)) == (
        Mode.PERMISSIVE,
        "istio-system/zz-legacy",
    )


def test_oldest_wins_at_workload_level():
    posture = evaluate(
        [
            peer_auth("shop", "new", mode="STRICT", selector={"app": "api"}, created=NEW),
            peer_auth("shop", "old", mode="DISABLE", selector={"tier": "web"}, created=OLD),
            deployment("shop", "api", labels={"app": "api", "tier": "web"}),
        ]
    )
    api = workload_of(posture, "shop/api")
    assert (api.mode, str(api.policy)) == (Mode.DISABLE, "shop/old")


def test_losing_workload_policy_contributes_no_ports_even_when_winner_is_unset():
    posture = evaluate(
        [
            peer_auth("shop", mode="STRICT"),
            peer_auth("shop", "old", mode="UNSET", selector={"app": "api"}, created=OLD),
            peer_auth(
                "shop",
                "new",
                mode="DISABLE",
                selector={"app": "api"},
                created=NEW,
                ports={8080: "PERMISSIVE"},
            ),
            deployment("shop", "api", ports=[8080]),
        ]
    )
    api = workload_of(posture, "shop/api")
    assert (api.mode, str(api.policy), api.ports) == (Mode.STRICT, "shop/default", ())


def test_losers_are_listed_with_why_they_lost():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", created=OLD),
            peer_auth("shop", "b", mode="DISABLE", created=OLD),
            peer_auth("shop", "c", mode="PERMISSIVE", created=NEW),
        ]
    )
    step = namespace_of(posture, "shop").reason.chain[1]
    assert step.winner.name == "a"
    assert [(loser.name, loser.lost_because) for loser in step.losers] == [
        ("b", "same creation time, name sorts later"),
        ("c", "newer"),
    ]


def test_policy_verdicts_mark_winner_effective_and_losers_shadowed():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", created=OLD),
            peer_auth("shop", "b", mode="DISABLE", created=NEW),
            peer_auth(ROOT, "sel", mode="STRICT", selector={"app": "x"}),
            peer_auth("shop", "nothing", mode="STRICT", selector={"app": "ghost"}),
        ]
    )
    status = {(p.namespace, p.name): (p.scope, p.status) for p in posture.policies}
    assert status == {
        ("shop", "a"): ("namespace", "effective"),
        ("shop", "b"): ("namespace", "shadowed"),
        (ROOT, "sel"): ("ignored", "ignored"),
        ("shop", "nothing"): ("workload", "ignored"),
    }
    shadowed = next(p for p in posture.policies if p.name == "b")
    assert "shop/a" in shadowed.status_reason


def test_the_same_policy_twice_in_the_input_counts_once():
    copy_v1 = peer_auth("shop", mode="STRICT", created=OLD)
    copy_v1beta1 = peer_auth(
        "shop", mode="STRICT", created=OLD, api_version="security.istio.io/v1beta1"
    )
    posture = evaluate([copy_v1, copy_v1beta1])
    assert [p.name for p in posture.policies] == ["default"]
    assert not [f for f in posture.findings if f.code == "DUPLICATE_NAMESPACE_POLICY"]


def test_datetime_timestamps_from_other_layers_compare_like_text():
    from datetime import UTC, datetime

    newer = peer_auth("shop", "a", mode="STRICT")
    newer["metadata"]["creationTimestamp"] = datetime(2024, 1, 1, tzinfo=UTC)
    older = peer_auth("shop", "b", mode="DISABLE", created="2023-06-01T00:00:00Z")
    shop = namespace_of(evaluate([newer, older]), "shop")
    assert str(shop.policy) == "shop/b"
    assert shop.reason.chain[1].losers[0].created == "2024-01-01T00:00:00Z"
