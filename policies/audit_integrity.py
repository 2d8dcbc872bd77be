"""What keeps the audit log honest inside the database: the append-only guard and the hash
chain's canonical form.

The guard is a set of triggers that refuse UPDATE and DELETE of an audit row (and TRUNCATE of
the table, on PostgreSQL), whoever sends them: meshui's code, an ORM cascade, a shell. The
migration that introduced it creates it; the definitions live here so that the migration and
the test suite's flush (which must empty every table) use the same SQL.

The guard binds the application's role, not the table's owner: an owner may drop a trigger.
Give meshui a role that does not own its tables to make that step impossible (README, Security).

The chain makes what gets past the guard visible: each entry stores the SHA-256 of its content
and of the entry before it (by id), so an edit, a removal or an insertion breaks a link that
`manage.py verify_audit` finds. The writer, the migration that hashed the older entries and
the verifier all hash with `audit_entry_hash`: changing it breaks every stored chain.
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

AUDIT_TABLE = "policies_auditentry"
GUARD_MESSAGE = "the audit log is append-only"

_POSTGRESQL_CREATE = [
    f"""
    CREATE OR REPLACE FUNCTION {AUDIT_TABLE}_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{GUARD_MESSAGE}: % on {AUDIT_TABLE} is refused', TG_OP;
    END
    $$
    """,
    f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_edit ON {AUDIT_TABLE}",
    f"""
    CREATE TRIGGER {AUDIT_TABLE}_no_edit BEFORE UPDATE OR DELETE ON {AUDIT_TABLE}
    FOR EACH ROW EXECUTE FUNCTION {AUDIT_TABLE}_append_only()
    """,
    # Row triggers do not fire on TRUNCATE, which would empty the log in one statement.
    f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_truncate ON {AUDIT_TABLE}",
    f"""
    CREATE TRIGGER {AUDIT_TABLE}_no_truncate BEFORE TRUNCATE ON {AUDIT_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {AUDIT_TABLE}_append_only()
    """,
]
_POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_edit ON {AUDIT_TABLE}",
    f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_truncate ON {AUDIT_TABLE}",
    f"DROP FUNCTION IF EXISTS {AUDIT_TABLE}_append_only()",
]
# SQLite has no TRUNCATE: a DELETE without WHERE fires the row trigger like any other.
_SQLITE_CREATE = [
    f"""
    CREATE TRIGGER IF NOT EXISTS {AUDIT_TABLE}_no_{verb.lower()} BEFORE {verb} ON {AUDIT_TABLE}
    BEGIN
        SELECT RAISE(ABORT, '{GUARD_MESSAGE}: {verb} on {AUDIT_TABLE} is refused');
    END
    """
    for verb in ("UPDATE", "DELETE")
]
_SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_{verb}" for verb in ("update", "delete")]

_GUARD_SQL = {
    "postgresql": (_POSTGRESQL_CREATE, _POSTGRESQL_DROP),
    "sqlite": (_SQLITE_CREATE, _SQLITE_DROP),
}


def _execute_all(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _guard_sql(connection: BaseDatabaseWrapper) -> tuple[list[str], list[str]]:
    try:
        return _GUARD_SQL[connection.vendor]
    except KeyError:
        raise NotImplementedError(
            f"meshui guards its audit log on PostgreSQL and SQLite, not {connection.vendor}."
        ) from None


def append_only_guard_create(connection: BaseDatabaseWrapper) -> None:
    """Install the triggers (idempotent). On SQLite, run it again in any later migration
    that alters the audit table: SQLite rebuilds a table to alter it, and drops its triggers."""
    create, _drop = _guard_sql(connection)
    _execute_all(connection, create)


def append_only_guard_drop(connection: BaseDatabaseWrapper) -> None:
    """Remove the triggers: for the migration's reverse and the test suite's flush only."""
    _create, drop = _guard_sql(connection)
    _execute_all(connection, drop)


# Everything an entry says, by column (its links by id), in the canonical JSON's key order.
# Not the entry's own id: the chain's order is the ids' order, so moving an entry breaks its
# links anyway.
HASHED_FIELDS = (
    "action",
    "created_at",
    "dry_run_result",
    "error",
    "object_before",
    "object_sent",
    "outcome",
    "reason",
    "restore_of_id",
    "role",
    "target_kind",
    "target_name",
    "target_namespace",
    "user_id",
    "username",
)


# Fields added after the chain began: hashed when they hold a value, left out of the canonical
# form when empty, so every entry written before them keeps the hash it was given (and
# verify_audit still passes), while a value written since cannot be changed or blanked
# without breaking the entry's hash.
HASHED_WHEN_SET = ("change_id", "cluster")


def audit_entry_hash(content: Mapping[str, Any], previous_hash: str) -> str:
    """SHA-256 of an entry's HASHED_FIELDS (and HASHED_WHEN_SET that hold a value) and the
    previous entry's hash, as compact, key-sorted JSON with the time in UTC to the
    microsecond (what both databases store)."""
    canonical = {name: content[name] for name in HASHED_FIELDS}
    canonical.update({name: content[name] for name in HASHED_WHEN_SET if content.get(name)})
    canonical["created_at"] = (
        content["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    )
    canonical["previous_hash"] = previous_hash
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()
