"""Migration 0018 (change groups), and 0020 (the fleet's cluster) after it, on a log that
already has entries: every old entry keeps its hash, verify_audit passes, and the append-only
guard is still in force afterwards. Both add a column hashed only when set."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from policies.audit_integrity import HASHED_FIELDS, audit_entry_hash
from policies.models import AuditEntry
from policies.selectors.audit import audit_chain_check

BEFORE = [("policies", "0017_coverage_enforced")]


def newest():
    """The newest migration: the model (and verify_audit) read every column added since."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes("policies")


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_migrations_0018_and_0020_keep_every_old_entry_verifying_and_the_guard_on():
    old_apps = _migrate(BEFORE)
    try:
        OldEntry = old_apps.get_model("policies", "AuditEntry")
        previous_hash = ""
        for number in range(3):
            content = {
                "action": "namespace_mode_set",
                "created_at": timezone.now(),
                "dry_run_result": "",
                "error": "",
                "object_before": None,
                "object_sent": {"kind": "PeerAuthentication", "spec": {"mtls": {"mode": "STRICT"}}},
                "outcome": "dry_run" if number < 2 else "applied",
                "reason": f"before 0018, #{number}",
                "restore_of_id": None,
                "role": "admin",
                "target_kind": "PeerAuthentication",
                "target_name": "default",
                "target_namespace": "shop",
                "user_id": None,
                "username": "alice",
            }
            assert set(content) == set(HASHED_FIELDS)
            entry_hash = audit_entry_hash(content, previous_hash)
            OldEntry.objects.create(**content, previous_hash=previous_hash, entry_hash=entry_hash)
            previous_hash = entry_hash
    finally:
        _migrate(newest())

    assert list(AuditEntry.objects.values_list("change_id", flat=True)) == ["", "", ""]
    check = audit_chain_check()
    assert check.problem == "" and check.entries == 3
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.update(change_id="0" * 32)
