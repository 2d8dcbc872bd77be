"""The one label-selector rule every layer uses (Kubernetes' matchLabels)."""

import pytest

from policies.engine import selector_matches


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        # matchLabels: every pair of the selector must be among the labels; extra labels are fine.
        ({"app": "cart"}, {"app": "cart", "tier": "web"}, True),
        ({"app": "cart", "tier": "web"}, {"app": "cart", "tier": "web"}, True),
        # A value that differs, or a key that is missing, is no match.
        ({"app": "cart"}, {"app": "carts"}, False),
        ({"app": "cart", "tier": "web"}, {"app": "cart"}, False),
        ({"app": ""}, {}, False),
        # An empty selector matches any labels (a selector-less policy is namespace-wide).
        ({}, {"app": "cart"}, True),
        ({}, {}, True),
    ],
)
def test_a_selector_matches_labels_that_carry_every_one_of_its_pairs(selector, labels, matches):
    assert selector_matches(selector, labels) is matches
