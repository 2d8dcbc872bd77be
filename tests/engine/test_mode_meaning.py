"""What each effective mode means for traffic, and who enforces it ("Why this mode?")."""

import pytest

from policies.engine.meaning import (
    Enforcer,
    enforcement_words,
    enforcer_of,
    mode_meaning,
    namespace_enforcement_words,
)


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        # STRICT: the receiving proxy accepts only mTLS connections.
        ("STRICT", "plaintext connections are refused"),
        # PERMISSIVE: the proxy sniffs and accepts both, so nothing is enforced.
        ("PERMISSIVE", "mutual TLS and plaintext are both accepted, so nothing is enforced"),
        # DISABLE: no mTLS termination; plaintext only.
        ("DISABLE", "accepts plaintext only"),
    ],
)
def test_each_effective_mode_says_what_it_means_for_traffic(mode, words):
    assert words in mode_meaning(mode)


def test_unset_and_unknown_modes_have_no_meaning_sentence():
    assert mode_meaning("UNSET") == ""
    assert mode_meaning("bogus") == ""


@pytest.mark.parametrize(
    ("has_sidecar", "ambient", "enforcer"),
    [
        (True, False, Enforcer.SIDECAR),
        # A sidecar wins: ambient never captures a pod that has one.
        (True, True, Enforcer.SIDECAR),
        (False, True, Enforcer.ZTUNNEL),
        (False, False, Enforcer.NOBODY),
    ],
)
def test_the_receiving_proxy_enforces_the_mode(has_sidecar, ambient, enforcer):
    assert enforcer_of(has_sidecar=has_sidecar, ambient=ambient) is enforcer


def test_strict_without_a_proxy_is_enforced_by_nobody_and_says_plaintext_gets_in():
    words = enforcement_words("STRICT", Enforcer.NOBODY)
    assert words.startswith("Nobody enforces it")
    assert "accepts plaintext despite STRICT" in words


def test_ztunnel_treats_disable_as_permissive():
    assert "treats DISABLE as PERMISSIVE" in enforcement_words("DISABLE", Enforcer.ZTUNNEL)
    assert "ztunnel" in enforcement_words("STRICT", Enforcer.ZTUNNEL)


def test_a_namespace_counts_who_enforces_its_mode():
    words = namespace_enforcement_words(total=5, sidecar=3, ztunnel=1)
    assert "its sidecar for 3 of 5 workloads" in words
    assert "ztunnel for 1 in ambient mode" in words
    assert "Nobody enforces it for the 1 without a sidecar" in words
    assert namespace_enforcement_words(total=2, sidecar=0, ztunnel=0).startswith(
        "Nobody enforces it: no workload here"
    )
