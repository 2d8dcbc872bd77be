"""Fixtures for change tests: a mesh seeded in the API server double (`kube`, from
tests/conftest.py), a snapshot synced from it, and users in each role."""

from __future__ import annotations

import pytest

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
            ),
        )
    kube.clear_faults()
    return partial.value.entry
