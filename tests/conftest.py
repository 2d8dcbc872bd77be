"""Shared fixtures. Layer-specific fixtures live in conftest.py files beside the tests."""

import pytest
from django.db import transaction
from django.db.backends.base.operations import BaseDatabaseOperations

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
