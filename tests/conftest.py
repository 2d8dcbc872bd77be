"""Shared fixtures. Layer-specific fixtures live in conftest.py files beside the tests."""

import pytest
from django.db import transaction
from django.db.backends.base.operations import BaseDatabaseOperations

from policies import cluster
from policies.audit_integrity import append_only_guard_create, append_only_guard_drop

pytest_plugins = ["devcluster.pytest_plugin"]


@pytest.fixture(autouse=True, scope="session")
def _test_flush_passes_the_audit_guard():
    """A transactional test ends with Django's flush, which empties every table, the audit
    log's too; its append-only guard refuses that (as it should a production `flush`). In
    the test run alone, the flush drops the guard and puts it back in its own transaction."""
    flush = BaseDatabaseOperations.execute_sql_flush

    def flush_past_the_guard(operations, sql_list):
        with transaction.atomic(using=operations.connection.alias):
            append_only_guard_drop(operations.connection)
            flush(operations, sql_list)
            append_only_guard_create(operations.connection)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", flush_past_the_guard)
        yield


@pytest.fixture(autouse=True)
def _cluster_credentials_in_the_test_tmp(settings, tmp_path_factory):
    """The API server doubles write their kubeconfigs under pytest's temporary directory:
    it is one of the test run's MESHUI_CLUSTER_CREDENTIAL_DIRS, beside the defaults (the demo
    fleet's var/clusters); tests of the rule set their own."""
    settings.MESHUI_CLUSTER_CREDENTIAL_DIRS = [
        *settings.MESHUI_CLUSTER_CREDENTIAL_DIRS,
        str(tmp_path_factory.getbasetemp()),
    ]


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
