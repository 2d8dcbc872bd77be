"""Who owns a PeerAuthentication's mode, by this meshui's settings: policies.ownership's rule
with MESHUI_RECONCILER_MANAGERS and meshui's own field manager. The sync stores it; the
change services decide from the live object with it."""

from __future__ import annotations

from django.conf import settings

from policies import cluster
from policies.ownership import PolicyOwnership, policy_ownership


def peer_authentication_ownership(obj: dict | None) -> PolicyOwnership:
    """Who manages `obj`'s `.spec.mtls.mode` (None: there is no policy, meshui would make it)."""
    return policy_ownership(
        obj,
        reconciler_managers=settings.MESHUI_RECONCILER_MANAGERS,
        own_manager=cluster.FIELD_MANAGER,
    )
