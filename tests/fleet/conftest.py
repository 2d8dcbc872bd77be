"""A fleet in tests: the configured cluster (`kube`, tests/conftest.py) plus two more API
server doubles, each its own cluster over real HTTP, registered the way an admin does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devcluster.cluster import DevCluster
from policies import cluster
from policies.cluster_sources import SOURCE_KUBECONFIG
from policies.models import Cluster
from policies.selectors.fleet import fleet_member_named, fleet_scope
from policies.services.fleet import ClusterSpec, cluster_register
from policies.services.sync import cluster_sync
from tests import conftest as shared
from tests.changes.conftest import _fast_passwords, users  # noqa: F401 - fixtures shared
from tests.sync.builders import deployment, namespace, peer_auth, service

kube = shared.kube


@pytest.fixture(scope="session")
def west_server(tmp_path_factory) -> Iterator[DevCluster]:
    server = DevCluster(kubeconfig=tmp_path_factory.mktemp("west") / "kubeconfig")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def north_server(tmp_path_factory) -> Iterator[DevCluster]:
    server = DevCluster(kubeconfig=tmp_path_factory.mktemp("north") / "kubeconfig")
    yield server
    server.stop()


@pytest.fixture
def west(west_server) -> Iterator[DevCluster]:
    west_server.reset()
    yield west_server
    west_server.clear_faults()


@pytest.fixture
def north(north_server) -> Iterator[DevCluster]:
    north_server.reset()
    yield north_server
    north_server.clear_faults()


def payments_mesh(*, payments_mode: str = "STRICT", mesh_mode: str = "STRICT") -> list[dict]:
    """istio-system with the mesh-wide policy, `payments` with its own policy and an api
    Deployment behind a Service, and `shop` inheriting the mesh's mode."""
    return [
        namespace("istio-system"),
        namespace("payments", **{"istio-injection": "enabled"}),
        namespace("shop", **{"istio-injection": "enabled"}),
        peer_auth("istio-system", mode=mesh_mode),
        peer_auth("payments", mode=payments_mode),
        deployment("payments", "api"),
        service("payments", "api"),
        deployment("shop", "cart"),
        service("shop", "cart"),
    ]


def register(name: str, double: DevCluster, *, user=None) -> Cluster:
    """Register `double` as cluster `name` from its kubeconfig file, as an admin does."""
    return cluster_register(
        user=user,
        spec=ClusterSpec(name=name, source=SOURCE_KUBECONFIG, kubeconfig=str(double.kubeconfig)),
    )


def sync_member(name: str):
    """Sync the fleet's cluster `name` in its own scope, as its task does."""
    with fleet_scope(fleet_member_named(name)):
        return cluster_sync(trigger="test")


@dataclass
class Fleet:
    east: DevCluster  # the configured cluster (MESHUI_KUBECONFIG), named test-cluster
    west: DevCluster
    west_cluster: Cluster


@pytest.fixture
def fleet(kube, west, db) -> Iterator[Fleet]:
    """Two clusters: the configured one (test-cluster, payments STRICT) and `west`
    (payments PERMISSIVE), both synced."""
    kube.seed(payments_mesh(payments_mode="STRICT"))
    west.seed(payments_mesh(payments_mode="PERMISSIVE"))
    registered = register("west", west)
    cluster_sync(trigger="test")
    sync_member("west")
    yield Fleet(east=kube, west=west, west_cluster=registered)
    cluster.forget_clients()


@pytest.fixture
def client_as(users):  # noqa: F811 - the shared fixture, by name
    """A logged-in test client for one of `users` ("admin", "oncall", "auditor")."""
    from django.test import Client

    def logged_in(role: str) -> Client:
        client = Client()
        client.force_login(users[role])
        return client

    return logged_in
