"""Migration 0018 (change groups) on a log that already has entries: every old entry keeps
its hash, verify_audit passes, and the append-only guard is still in force afterwards."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from policies.audit_integrity import HASHED_FIELDS, audit_entry_hash
from policies.models import AuditEntry
from policies.selectors.audit import audit_chain_check

BEFORE = [("policies", "0017_coverage_enforced")]
AFTER = [("policies", "0018_audit_change_groups")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_migration_0014_keeps_every_old_entry_verifying_and_the_guard_on():
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
        _migrate(AFTER)

    assert list(AuditEntry.objects.values_list("change_id", flat=True)) == ["", "", ""]
    check = audit_chain_check()
    assert check.problem == "" and check.entries == 3
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.update(change_id="0" * 32)
