"""Words that match the rule (issue 13 §4): every reason names Istio's actual tie-break.

Istio keeps the policy with the older creation time, then the smaller name, then the smaller
namespace. A reason must say which of those decided, and never call the winning, older
policy "newer" (the shadowed verdict used to read "shop/a is preferred ... (newer)").
"""

import pytest

from policies.engine import evaluate

from .builders import deployment, findings_with, peer_auth

OLD = "2022-01-01T00:00:00Z"
NEW = "2024-01-01T00:00:00Z"


def verdict(posture, name):
    return next(p for p in posture.policies if p.name == name)


def test_shadowed_namespace_policy_says_the_winner_is_older_not_newer():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", created=OLD),
            peer_auth("shop", "b", mode="DISABLE", created=NEW),
        ]
    )
    words = verdict(posture, "b").status_reason
    assert "newer)" not in words
    assert (
        "shop/a was created earlier (2022-01-01T00:00:00Z; shop/b: 2024-01-01T00:00:00Z)" in words
    )
    assert "older creation time wins, then name, then namespace" in words


def test_shadowed_namespace_policy_with_the_same_time_names_the_name_tie_break():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", created=OLD),
            peer_auth("shop", "b", mode="DISABLE", created=OLD),
        ]
    )
    words = verdict(posture, "b").status_reason
    assert "older" not in words.split("(")[0]
    assert "the same creation time, and the name a sorts before b" in words


def test_shadowed_workload_policy_is_not_said_to_lose_to_an_older_one_on_a_name_tie():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", selector={"app": "api"}, created=OLD),
            peer_auth("shop", "b", mode="DISABLE", selector={"app": "api"}, created=OLD),
            deployment("shop", "api"),
        ]
    )
    words = verdict(posture, "b").status_reason
    assert "decided by an older policy" not in words
    assert "shop/a wins: both have the same creation time, and the name a sorts before b" in words


def test_duplicate_finding_does_not_call_a_name_tie_winner_the_oldest():
    posture = evaluate(
        [
            peer_auth("shop", "a", mode="STRICT", created=OLD),
            peer_auth("shop", "b", mode="DISABLE", created=OLD),
        ]
    )
    (finding,) = findings_with(posture, "DUPLICATE_NAMESPACE_POLICY")
    assert "is the oldest" not in finding.message
    assert "wins Istio's tie-break (older creation time, then name, then namespace)" in (
        finding.message
    )
    assert "shop/b: both have the same creation time, and the name a sorts before b" in (
        finding.message
    )


def test_a_policy_without_creation_time_is_said_to_count_as_oldest():
    posture = evaluate(
        [
            peer_auth("shop", "z", mode="STRICT"),
            peer_auth("shop", "a", mode="DISABLE", created=OLD),
        ]
    )
    words = verdict(posture, "a").status_reason
    assert "shop/z has no creationTimestamp, which counts as the oldest" in words


@pytest.mark.parametrize(
    ("winner", "loser", "expected"),
    [
        (("shop", "a", OLD), ("shop", "b", NEW), "was created earlier"),
        (("shop", "a", OLD), ("shop", "b", OLD), "the name a sorts before b"),
        (("mesh", "x", OLD), ("shop", "x", OLD), "the namespace mesh sorts before shop"),
        (("shop", "a", None), ("shop", "b", OLD), "no creationTimestamp"),
    ],
    ids=["older time", "name", "namespace", "missing time counts as oldest"],
)
def test_tie_break_words_name_the_rule_that_decided(winner, loser, expected):
    from policies.engine.competition import tie_break_words
    from policies.engine.inputs import PeerAuthenticationInput

    def parsed(namespace, name, created):
        obj = peer_auth(namespace, name, mode="STRICT", created=created)
        return PeerAuthenticationInput(obj, obj["metadata"], namespace)

    assert expected in tie_break_words(parsed(*winner), parsed(*loser))
