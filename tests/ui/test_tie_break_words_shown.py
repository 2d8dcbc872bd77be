"""The policies page and "Why this mode?" name Istio's actual tie-break (issue 13 §4).

Stored by the sync's own writer from policies as a cluster holds them, so the words are the
engine's. The winning policy is the *older* one; no page may call it newer.
"""

import html
import re

import pytest

from tests.factories import snapshot_from_manifests

pytestmark = pytest.mark.django_db


def policy(name, mode, created, selector=None):
    spec = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"namespace": "shop", "name": name, "creationTimestamp": created},
        "spec": spec,
    }


def text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())))


@pytest.fixture
def competing():
    return snapshot_from_manifests(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            policy("zz-old", "STRICT", "2022-01-01T00:00:00Z"),
            policy("aa-new", "DISABLE", "2024-01-01T00:00:00Z"),
            policy("api-a", "STRICT", "2023-01-01T00:00:00Z", {"app": "api"}),
            policy("api-b", "DISABLE", "2023-01-01T00:00:00Z", {"app": "api"}),
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"namespace": "shop", "name": "api"},
                "spec": {"template": {"metadata": {"labels": {"app": "api"}}}},
            },
        ]
    )


def test_policies_page_says_the_older_policy_wins_and_never_calls_it_newer(
    auditor_client, competing
):
    page = text(auditor_client.get("/policies/"))
    assert "(newer)" not in page
    assert "shop/zz-old wins: shop/zz-old was created earlier (2022-01-01T00:00:00Z" in page
    assert "older creation time wins, then name, then namespace" in page


def test_policies_page_names_the_name_tie_break_for_workload_policies(auditor_client, competing):
    page = text(auditor_client.get("/policies/"))
    assert "decided by an older policy" not in page
    assert (
        "shop/api-a wins: both have the same creation time, and the name api-a sorts before api-b"
        in page
    )


def test_why_this_mode_says_why_a_loser_lost_in_the_rule_s_words(auditor_client, competing):
    page = text(auditor_client.get("/namespaces/shop/"))
    assert (
        "Ignored: shop/aa-new (DISABLE), created 2024-01-01T00:00:00Z: lost because it was "
        "created later, and the older creation time wins" in page
    )
