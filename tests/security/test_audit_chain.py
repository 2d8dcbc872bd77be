"""The hash chain: each entry stores the SHA-256 of its content and of the entry before it,
and `manage.py verify_audit` walks the chain and names the first entry that was edited,
removed or inserted behind meshui's back. The intruder here drops the append-only guard
first, as someone with the table owner's SQL access could (rolled back after each test)."""

import io
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from policies.audit_integrity import append_only_guard_drop, audit_entry_hash
from policies.models import AuditEntry
from policies.services.exemptions import exemption_create
from tests.factories import audit_entry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def entries(db) -> list[AuditEntry]:
    """Three entries, oldest first."""
    return [audit_entry(None, reason=f"INC-{number}") for number in (1, 2, 3)]


@pytest.fixture
def intruder(db):
    """Runs SQL on the audit table with its append-only guard dropped."""
    append_only_guard_drop(connection)

    def run(statement: str, *params):
        with connection.cursor() as cursor:
            cursor.execute(statement, params)

    return run


def verify(*arguments: str) -> list[str]:
    output = io.StringIO()
    call_command("verify_audit", *arguments, stdout=output)
    return output.getvalue().splitlines()


def broken(*arguments: str) -> str:
    with pytest.raises(CommandError) as failure:
        verify(*arguments)
    assert failure.value.returncode == 1
    return str(failure.value)


def test_each_entry_carries_its_own_hash_and_the_one_before_it(entries):
    assert entries[0].previous_hash == ""  # the first entry of the log
    assert [entry.previous_hash for entry in entries[1:]] == [
        entry.entry_hash for entry in entries[:-1]
    ]
    assert len({entry.entry_hash for entry in entries}) == 3
    assert all(len(entry.entry_hash) == 64 for entry in entries)


def test_an_untouched_log_is_intact_and_its_newest_hash_is_printed(entries):
    newest = entries[-1]
    assert verify() == [
        "audit log intact: 3 entries",
        f"newest: entry #{newest.pk}, sha256 {newest.entry_hash}",
    ]


def test_an_empty_log_is_intact(db):
    assert verify() == ["audit log intact: 0 entries"]


def test_an_edited_entry_is_named(entries, intruder):
    intruder("UPDATE policies_auditentry SET reason = 'edited' WHERE id = %s", entries[1].pk)
    assert broken() == (
        f"audit log broken at entry #{entries[1].pk}: its content no longer matches its hash "
        "(edited after it was written)"
    )


def test_an_edit_that_rehashes_the_entry_is_caught_at_the_next_one(entries, intruder):
    edited = AuditEntry.objects.filter(pk=entries[1].pk).values().get()
    edited["reason"] = "nothing to see"
    rehashed = audit_entry_hash(edited, edited["previous_hash"])
    intruder(
        "UPDATE policies_auditentry SET reason = %s, entry_hash = %s WHERE id = %s",
        "nothing to see",
        rehashed,
        entries[1].pk,
    )
    assert broken() == (
        f"audit log broken at entry #{entries[2].pk}: it does not follow entry "
        f"#{entries[1].pk} (an entry was removed, inserted or rewritten before it)"
    )


def test_a_removed_entry_is_named_by_the_one_after_it(entries, intruder):
    intruder("DELETE FROM policies_auditentry WHERE id = %s", entries[1].pk)
    assert broken() == (
        f"audit log broken at entry #{entries[2].pk}: it does not follow entry "
        f"#{entries[0].pk} (an entry was removed, inserted or rewritten before it)"
    )


def test_removing_the_oldest_entries_is_caught_too(entries, intruder):
    intruder("DELETE FROM policies_auditentry WHERE id = %s", entries[0].pk)
    assert broken() == (
        f"audit log broken at entry #{entries[1].pk}: it does not follow the start of the "
        "log (an entry was removed, inserted or rewritten before it)"
    )


def test_an_entry_written_around_meshuis_writer_is_named(entries):
    # What an INSERT by hand (or a code path that skips the writer) leaves: no hashes.
    forged = AuditEntry.objects.create(
        created_at=timezone.now(), username="alice", action="policy_delete", outcome="applied"
    )
    assert broken() == (
        f"audit log broken at entry #{forged.pk}: it does not follow entry "
        f"#{entries[2].pk} (an entry was removed, inserted or rewritten before it)"
    )


def test_a_kept_newest_hash_catches_entries_removed_from_the_end(entries, intruder):
    kept = entries[2].entry_hash
    assert verify("--anchor", kept)[0] == "audit log intact: 3 entries"
    intruder("DELETE FROM policies_auditentry WHERE id = %s", entries[2].pk)
    assert broken("--anchor", kept) == (
        f"audit log broken: no entry has the hash {kept} any more "
        "(the entries from that one on were removed)"
    )


def test_exemptions_are_recorded_in_the_chain_too(users):
    now = timezone.now()
    exemption_create(
        user=users["admin"],
        namespace="legacy",
        owner="team-legacy",
        justification="mainframe speaks plaintext",
        expires_at=now + timedelta(days=30),
        now=now,
    )
    assert verify()[0] == "audit log intact: 1 entries"


@pytest.mark.parametrize(
    "database_url",
    ["postgres://meshui@127.0.0.1:1/meshui", "sqlite:////nonexistent-directory/meshui.sqlite3"],
)
def test_an_unreachable_database_is_one_line_and_exit_code_2(database_url):
    environment = {**os.environ, "DATABASE_URL": database_url}
    environment.pop("MESHUI_TEST_DB_NAME", None)
    finished = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stdout == ""
    [line] = finished.stderr.splitlines()
    assert "audit log not checked: the database is unreachable" in line


def test_concurrent_writers_never_fork_the_chain(transactional_db):
    start = threading.Barrier(4)

    def write(writer: int):
        try:
            start.wait()
            for number in range(10):
                audit_entry(None, reason=f"writer {writer}, entry {number}")
        finally:
            connection.close()

    writers = [threading.Thread(target=write, args=(writer,)) for writer in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert verify()[0] == "audit log intact: 40 entries"


WRITE_40_ENTRIES = """
from policies.services.audit import audit_entry_record
for number in range(40):
    audit_entry_record(user=None, action="restore", outcome="applied", reason=str(number))
"""


def test_concurrent_processes_on_one_sqlite_file_all_get_their_entries_in(tmp_path):
    # SQLite gives out its write lock at a transaction's first write: a writer that read the
    # chain's head first would fail with "database is locked" when another one is writing.
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'meshui.sqlite3'}"}

    def manage(*arguments: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    assert manage("migrate", "-v0").wait(timeout=120) == 0
    writers = [manage("shell", "-c", WRITE_40_ENTRIES) for _ in range(3)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    verified = manage("verify_audit")
    output, _errors = verified.communicate(timeout=60)
    assert output.splitlines()[0] == "audit log intact: 120 entries"


def test_the_migration_hashes_the_entries_it_finds_in_id_order(db, intruder):
    # Entries as they were before the chain: no hashes.
    for number in (1, 2, 3):
        AuditEntry.objects.create(
            created_at=timezone.now() - timedelta(days=number),
            username="alice",
            action="namespace_mode_set",
            outcome="applied",
            reason=f"INC-{number}",
        )
    [migration] = [
        migration
        for (app, name), migration in MigrationLoader(connection).disk_migrations.items()
        if app == "policies" and name.endswith("_audit_log_integrity")
    ]
    sys.modules[type(migration).__module__].hash_existing_entries(apps, None)
    assert verify()[0] == "audit log intact: 3 entries"
