"""pytest fixtures for the double (registered in tests/conftest.py).

- `devcluster_server` (session): one `DevCluster` on 127.0.0.1:<free port> for the session.
- `devcluster` (function): the same server, reset before the test: the four initial
  namespaces, Istio's CRDs, no faults, an empty request log. Attributes: `.url`,
  `.kubeconfig` (Path), `.reset(crd_files=...)`, `.seed(objects, validate=True,
  create_namespaces=True)`, `.objects(kind, namespace)`, `.get(kind, namespace, name)`,
  `.inject_fault(action, verb=, resource=, namespace=, name=, times=, delay=, retry_after=)`,
  `.clear_faults()`, `.requests` (RecordedRequest: method, path, query, headers,
  content_type, body, .json(), .param(name)), `.compact()`, `.resource_version`.
- `devcluster_kubeconfig` (function): the kubeconfig path (str) of the reset server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import DevCluster


@pytest.fixture(scope="session")
def devcluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    kubeconfig = tmp_path_factory.mktemp("devcluster") / "kubeconfig"
    cluster = DevCluster(kubeconfig=kubeconfig)
    yield cluster
    cluster.stop()


@pytest.fixture
def devcluster(devcluster_server: DevCluster) -> Iterator[DevCluster]:
    devcluster_server.reset()
    yield devcluster_server
    devcluster_server.clear_faults()


@pytest.fixture
def devcluster_kubeconfig(devcluster: DevCluster) -> str:
    return str(devcluster.kubeconfig)
