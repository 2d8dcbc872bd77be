"""Label selectors as Kubernetes matches them: one rule for the engine, pages and services."""

from __future__ import annotations

from collections.abc import Mapping


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Kubernetes' matchLabels rule: every key=value pair of `selector` is among `labels`.

    An empty selector matches any labels (a selector-less PeerAuthentication is
    namespace-wide); a Service with an empty selector selects no pods, which its callers
    check before asking.
    """
    return selector.items() <= labels.items()
