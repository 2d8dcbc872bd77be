"""The audit table refuses UPDATE, DELETE and TRUNCATE in the database itself: meshui's own
code, an ORM cascade or anyone with the application's SQL access cannot edit or remove an
entry. The test database is built by the migrations, so these also catch a later migration
that rebuilds the table on SQLite and loses its triggers."""

import pytest
from django.db import DatabaseError, connection, transaction

from policies.models import AuditEntry
from tests.factories import audit_entry, user_with_role

EDITS = {
    "update": "UPDATE policies_auditentry SET reason = 'nothing happened' WHERE id = %s",
    "delete": "DELETE FROM policies_auditentry WHERE id = %s",
}


def refused_in_the_database(statement: str, params=()) -> None:
    # A savepoint, so the refused statement leaves the test's transaction usable.
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_raw_sql_cannot_edit_or_remove_an_entry(db, edit):
    entry = audit_entry(None, reason="INC-1")
    refused_in_the_database(EDITS[edit], [entry.pk])
    entry.refresh_from_db()
    assert entry.reason == "INC-1"


def test_the_orm_cannot_edit_or_remove_an_entry_either(db):
    entry = audit_entry(None, reason="INC-1")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="nothing happened")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).reason == "INC-1"


def test_truncate_cannot_empty_the_log(db):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE: its DELETE without WHERE is refused row by row")
    audit_entry(None)
    with connection.cursor() as cursor:
        # Else PostgreSQL refuses first for its own reason: the insert's deferred FK checks
        # are still pending in the test's transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    refused_in_the_database("TRUNCATE policies_auditentry CASCADE")
    assert AuditEntry.objects.count() == 1


def test_deleting_an_account_leaves_its_entries_as_written(db):
    # The entry's user link used to be SET NULL on delete: an UPDATE of every entry of theirs.
    leaver = user_with_role("oncall", username="leaver")
    entry = audit_entry(leaver)
    leaver_id = leaver.pk
    leaver.delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert (kept.username, kept.role, kept.user_id) == ("leaver", "oncall", leaver_id)
