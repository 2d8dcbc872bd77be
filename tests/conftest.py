"""Shared fixtures. Layer-specific fixtures live in conftest.py files beside the tests."""

import pytest

from policies import cluster

pytest_plugins = ["devcluster.pytest_plugin"]

# meshui's own default: a loaded CI machine answers slowly, and a test that means a timeout
# sets a short one itself.
KUBE_TIMEOUT_SECONDS = 30


@pytest.fixture
def kube(devcluster, settings):
    """The Kubernetes API server double (reset), with meshui's settings pointing at it.

    The one way every layer reaches a cluster in tests: the gateway, sync, changes, reports
    and browser tests all get this double over real HTTP.
    """
    settings.MESHUI_KUBECONFIG = str(devcluster.kubeconfig)
    settings.MESHUI_KUBE_CONTEXT = ""
    settings.MESHUI_CLUSTER_NAME = "test-cluster"
    settings.MESHUI_ROOT_NAMESPACE = "istio-system"
    settings.MESHUI_KUBE_TIMEOUT_SECONDS = KUBE_TIMEOUT_SECONDS
    settings.MESHUI_KUBE_PAGE_SIZE = 500
    settings.REDIS_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    cluster.forget_clients()
    yield devcluster
    cluster.forget_clients()
    devcluster.reset()  # a test may have swapped the CRDs
