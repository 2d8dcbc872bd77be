"""Fixtures for change tests: a mesh seeded in the API server double (`kube`, from
tests/conftest.py), a snapshot synced from it, and users in each role."""

from __future__ import annotations

import pytest

from devcluster import kubectl_last_applied
from policies.services import changes
from policies.services.sync import cluster_sync
from tests import conftest as shared
from tests.engine.builders import deployment, namespace, peer_auth, service
from tests.factories import user_with_role

# tests/conftest.py's `kube`, importable from here as tests/security/conftest.py imports it.
kube = shared.kube

SIDECAR = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made per test; the production hasher's cost buys nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def _changes_double(devcluster_server):
    """The session's double. Nothing here needs it any more (`kube` is tests/conftest.py's);
    kept while other branches' tests/security/conftest.py import it by name."""
    return devcluster_server


def shop_mesh() -> list[dict]:
    """istio-system, `shop` (cart with a sidecar, batch without) and `legacy` without one."""
    return [
        namespace("istio-system"),
        namespace("shop"),
        namespace("legacy"),
        deployment("shop", "cart", ports=[8080], annotations=SIDECAR),
        deployment("shop", "batch", ports=[9000]),
        deployment("legacy", "mainframe", ports=[23]),
        service("shop", "cart"),
    ]


@pytest.fixture
def mesh(kube, db):
    """The shop mesh seeded in the double and synced into the current snapshot."""
    kube.seed(shop_mesh())
    cluster_sync(trigger="test")
    return kube


def resync():
    return cluster_sync(trigger="test")


@pytest.fixture
def users(db):
    return {
        "admin": user_with_role("admin", username="alice"),
        "oncall": user_with_role("oncall", username="olga"),
        "auditor": user_with_role("auditor", username="aud"),
        "norole": user_with_role(None, username="nobody"),
    }


def seed_policy(kube, **kwargs) -> dict:
    return kube.seed([peer_auth(**kwargs)])[0]


# How real clusters' policies come to be, and what the API server records for each.
LAST_JUNE = "2025-06-01T09:00:00Z"
ARGO_TRACKING = "argocd.argoproj.io/tracking-id"


def kubectl_applied_policy(kube, *, time: str = LAST_JUNE, **kwargs) -> dict:
    """A PeerAuthentication made with client-side `kubectl apply`: its last-applied
    annotation, manager kubectl-client-side-apply, operation Update."""
    made = kubectl_last_applied(peer_auth(**kwargs))
    return kube.seed([made], manager="kubectl-client-side-apply", time=time)[0]


def argocd_policy(kube, *, application: str = "shop-mesh", time: str = LAST_JUNE, **kwargs) -> dict:
    """A PeerAuthentication Argo CD syncs with server-side apply: its tracking annotation,
    manager argocd-controller, operation Apply."""
    made = peer_auth(**kwargs)
    metadata = made["metadata"]
    where = f"{metadata['namespace']}/{metadata['name']}"
    tracking = f"{application}:security.istio.io/PeerAuthentication:{where}"
    metadata.setdefault("annotations", {})[ARGO_TRACKING] = tracking
    return kube.seed([made], manager="argocd-controller", operation="Apply", time=time)[0]


def meshui_policy(kube, **kwargs) -> dict:
    """A PeerAuthentication meshui applied (server-side, field manager meshui)."""
    return kube.seed([peer_auth(**kwargs)], manager="meshui", operation="Apply")[0]


def half_done_pair(kube, users):
    """A workload policy applied, its DestinationRule refused: a change to retry or roll back."""
    kube.inject_fault(503, verb="patch", resource="destinationrules")
    with pytest.raises(changes.PartialChange) as partial:
        changes.peer_authentication_apply(
            user=users["admin"],
            plan=changes.peer_authentication_plan(
                scope="workload",
                namespace="shop",
                name="cart",
                spec={"selector": {"matchLabels": {"app": "cart"}}, "mtls": {"mode": "STRICT"}},
                with_destination_rule=True,
                reason="INC-7 test",
            ),
        )
    kube.clear_faults()
    return partial.value.entry
