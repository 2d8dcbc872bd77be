"""What keeps the audit log honest inside the database: the append-only guard.

The guard is a set of triggers that refuse UPDATE and DELETE of an audit row (and TRUNCATE of
the table, on PostgreSQL), whoever sends them: meshui's code, an ORM cascade, a shell. The
migration that introduced it creates it; the definitions live here so that the migration and
the test suite's flush (which must empty every table) use the same SQL.

The guard binds the application's role, not the table's owner: an owner may drop a trigger.
Give meshui a role that does not own its tables to make that step impossible (README, Security).
"""

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
