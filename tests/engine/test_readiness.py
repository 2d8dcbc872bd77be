"""Readiness verdicts from destination-side traffic (policies/engine/readiness.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from policies.engine.readiness import (
    UNKNOWN_CALLER,
    Caller,
    Readiness,
    TrafficTotals,
    readiness_verdict,
    traffic_readiness,
)

WEEK = timedelta(days=7)
MTLS_ONLY = TrafficTotals(mtls_requests=1000)
SOME_PLAINTEXT = TrafficTotals(mtls_requests=900, plaintext_requests=100)
NONE = TrafficTotals()


@pytest.mark.parametrize(
    ("totals", "callers", "history", "expected"),
    [
        # Traffic over the whole window, all of it mutual TLS.
        (MTLS_ONLY, 0, WEEK, Readiness.READY),
        # Any plaintext caller is conclusive, however little history.
        (SOME_PLAINTEXT, 2, WEEK, Readiness.NOT_READY),
        (SOME_PLAINTEXT, 1, timedelta(hours=6), Readiness.NOT_READY),
        # No traffic is no evidence: never "ready".
        (NONE, 0, WEEK, Readiness.NO_TRAFFIC),
        # Less history than the window: a weekly caller may not have shown yet.
        (MTLS_ONLY, 0, timedelta(hours=6), Readiness.NOT_ENOUGH_HISTORY),
        (NONE, 0, timedelta(hours=6), Readiness.NOT_ENOUGH_HISTORY),
    ],
)
def test_traffic_readiness(totals, callers, history, expected):
    assert (
        traffic_readiness(totals=totals, plaintext_callers=callers, history=history, window=WEEK)
        == expected
    )


def verdict(mode, totals, callers=0, history=WEEK):
    traffic = traffic_readiness(
        totals=totals, plaintext_callers=callers, history=history, window=WEEK
    )
    return readiness_verdict(
        mode=mode,
        traffic=traffic,
        totals=totals,
        plaintext_callers=callers,
        history=history,
        window=WEEK,
    )


def test_ready_verdict_names_the_window():
    assert verdict("PERMISSIVE", MTLS_ONLY).sentence == (
        "Ready for STRICT: all traffic over the last 7 d was mutual TLS."
    )


def test_not_ready_counts_the_plaintext_callers():
    assert verdict("PERMISSIVE", SOME_PLAINTEXT, 2).sentence.startswith(
        "Not ready: 2 plaintext callers over the last 7 d"
    )


def test_not_enough_history_says_how_much_is_held():
    sentence = verdict("PERMISSIVE", MTLS_ONLY, history=timedelta(hours=6)).sentence
    assert sentence.startswith("Not enough history: Prometheus holds 6 h of the 7 d window")


def test_already_strict_shows_the_share_and_says_refused_callers_are_invisible():
    result = verdict("STRICT", MTLS_ONLY)
    assert result.readiness == Readiness.ALREADY_STRICT
    assert "0.0% of what was accepted over the last 7 d was plaintext" in result.sentence
    assert "no destination-side series" in result.caveat


def test_strict_wins_over_missing_history():
    assert verdict("STRICT", NONE, history=timedelta(hours=1)).readiness == (
        Readiness.ALREADY_STRICT
    )


def test_unknown_caller_is_worded_with_what_is_known():
    seen = datetime(2026, 5, 1, tzinfo=UTC)
    bare = Caller("shop", "cart", "unknown", "unknown", "unknown", 3, 0, seen)
    assert bare.label == UNKNOWN_CALLER
    with_identity = Caller(
        "shop", "cart", "legacy", "unknown", "spiffe://x/ns/legacy/sa/a", 1, 0, seen
    )
    assert with_identity.label == (
        f"{UNKNOWN_CALLER}: principal spiffe://x/ns/legacy/sa/a, namespace legacy"
    )
    assert Caller("shop", "cart", "web", "frontend", "p", 1, 0, seen).label == "web/frontend"


def test_plaintext_share_is_none_without_traffic():
    assert NONE.plaintext_share is None
    assert SOME_PLAINTEXT.plaintext_share == pytest.approx(0.1)
