"""The audit log: one append-only entry for every attempted change, whatever its outcome.

Entries are only ever created here. meshui has no view, form or service that edits or deletes
one; the cluster is the source of truth for policies, the audit log for who tried what.
Every field is bounded before it is written: what a request sends cannot grow the log by
megabytes, nor fail the write (PostgreSQL refuses over-long names and NUL characters).
"""

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from policies import cluster
from policies.audit_integrity import audit_entry_hash
from policies.models import AuditAction, AuditEntry
from policies.roles import user_role

# The name recorded for changes meshui makes by itself (timed restores).
SYSTEM_USERNAME = "meshui"
ANONYMOUS_USERNAME = "anonymous"

# The longest free text an entry keeps: room for any real reason (the change forms take 1000
# characters and a timed restore quotes its change's; an exemption's is its 4000-character
# justification with owner and expiry), the cluster's wordiest error, a dry run's verdict. A
# longer text is cut and says how long it was.
TEXT_LIMITS = {"reason": 5000, "error": 8000, "dry_run_result": 8000}
# Names are cut to their columns.
NAME_FIELDS = ("username", "role", "action", "target_kind", "target_namespace", "target_name")
# A PeerAuthentication or DestinationRule is a few kilobytes as JSON; a larger object is kept
# as its size and SHA-256 only (of its compact, key-sorted JSON, so a copy can be checked).
OBJECT_LIMIT_BYTES = 64 * 1024
OBJECT_OMITTED = "too large for the audit log"
# PostgreSQL stores no NUL character, in text or in JSON.
NUL, REPLACEMENT_CHARACTER = "\x00", "\ufffd"
# The window of MESHUI_AUDIT_DENIED_PER_MINUTE.
REFUSALS_WINDOW = timedelta(minutes=1)
# The PostgreSQL advisory lock that lets one writer at a time extend the hash chain: a pair
# of keys ("mesh" in ASCII, 1), a key space apart from the namespace locks' single keys.
CHAIN_LOCK_KEYS = (0x6D657368, 1)


# The change the entries being written belong to (see `audit_change`).
_current_change: ContextVar[str] = ContextVar("meshui_audit_change", default="")
CHANGE_ID = re.compile(r"^[0-9a-f]{32}$")


def change_id_new() -> str:
    """A fresh change id: what a change's first preview starts."""
    return uuid.uuid4().hex


@contextmanager
def audit_change(change_id: str) -> Iterator[None]:
    """Every entry written inside belongs to the change `change_id` (a correlation id, as a
    request id is for logs): the view opens it around a preview or a confirm, so the
    services that write entries need not pass it along. An id that is not one of ours, or
    that entries of another person, action or namespace already use, is not joined:
    `audit_entry_record` then starts a change of its own."""
    token = _current_change.set(change_id if CHANGE_ID.match(change_id or "") else "")
    try:
        yield
    finally:
        _current_change.reset(token)


# The moment entries written now are dated (see `audit_entries_dated`); None: the clock.
_dated: ContextVar[datetime | None] = ContextVar("meshui_audit_dated", default=None)


@contextmanager
def audit_entries_dated(moment: datetime) -> Iterator[None]:
    """Entries written inside are dated `moment` instead of the clock, as `now=` does for
    one entry. Only the demo's made-up history uses it (services/demo_history.py), to run
    the real change services as of a past day on an empty log; the chain still links by
    id, so an entry dated back on a live log would stand out in the order of the log."""
    token = _dated.set(moment)
    try:
        yield
    finally:
        _dated.reset(token)


def _change_id_for(*, username: str, action: str, target: tuple[str, str, str]) -> str:
    """The current change's id if this entry may join it, else a new one (or "" outside any
    change). A change is one person's attempts at one action on one target."""
    change_id = _current_change.get()
    if not change_id:
        return ""
    kind, namespace, _name = target
    # Not the name: a toggle's preview names the snapshot's policy, its confirm the live one.
    strangers = (
        AuditEntry.objects.filter(change_id=change_id)
        .exclude(username=username, action=action, target_kind=kind, target_namespace=namespace)
        .exists()
    )
    return change_id_new() if strangers else change_id


def audit_entry_record(
    *,
    user,
    action: AuditAction,
    outcome: str,
    target_kind: str = "",
    target_namespace: str = "",
    target_name: str = "",
    reason: str = "",
    object_sent: dict | list | None = None,
    object_before: dict | None = None,
    dry_run_result: str = "",
    error: str = "",
    restore_of: AuditEntry | None = None,
    now: datetime | None = None,
    cluster_name: str | None = None,
) -> AuditEntry | None:
    """Append one entry, written at `now` (default: this moment). `user` None means meshui
    itself (a timed restore). `cluster_name` is the registered cluster the change went to;
    None: the one gateway calls go to now (`cluster.connection_active`), "" the configured one.

    A refusal past the user's MESHUI_AUDIT_DENIED_PER_MINUTE is recorded as one summary
    entry, then not at all (None) until the minute has passed.
    """
    now = now or _dated.get() or timezone.now()
    is_person = user is not None and getattr(user, "is_authenticated", False)
    role = user_role(user) if is_person else None
    if is_person:
        username = user.get_username()
    else:
        username = SYSTEM_USERNAME if user is None else ANONYMOUS_USERNAME
    username = _text_within_limit("username", username)
    if cluster_name is None:
        connection = cluster.connection_current()
        cluster_name = connection.name if connection is not None else ""
    with transaction.atomic():
        # Held to the end of the transaction: the refusal count and the chain's head stay
        # what they are until this entry is in.
        _chain_lock()
        if outcome == AuditEntry.Outcome.DENIED:
            fate = _refusal_fate(username=username, now=now)
            if fate is _RefusalFate.DROP:
                return None
            if fate is _RefusalFate.SUMMARISE:
                action = AuditAction.REFUSALS_RATE_LIMITED
                error = _refusals_rate_limited_error(username=username, now=now)
        texts = {
            "username": username,
            "role": role.value if role else "",
            "action": str(action),
            "target_kind": target_kind,
            "target_namespace": target_namespace,
            "target_name": target_name,
            "reason": reason,
            "dry_run_result": dry_run_result,
            "error": error,
        }
        texts = {name: _text_within_limit(name, text) for name, text in texts.items()}
        change_id = _change_id_for(
            username=texts["username"],
            action=texts["action"],
            target=(texts["target_kind"], texts["target_namespace"], texts["target_name"]),
        )
        return _chain_append(
            {
                "change_id": change_id,
                "created_at": now,
                "user_id": user.pk if is_person else None,
                "outcome": outcome,
                "restore_of_id": restore_of.pk if restore_of else None,
                "object_sent": _object_within_limit(object_sent),
                "object_before": _object_within_limit(object_before),
                "cluster": cluster_name[:63],
                **texts,
            }
        )


def _chain_append(content: dict) -> AuditEntry:
    """Insert the entry linked to the newest one; the caller holds the chain's lock."""
    previous_hash = (
        AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first() or ""
    )
    return AuditEntry.objects.create(
        **content, previous_hash=previous_hash, entry_hash=audit_entry_hash(content, previous_hash)
    )


def _chain_lock() -> None:
    """One writer at a time from here to the end of the transaction, across processes, so
    two entries never name the same entry before them (a fork of the chain)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", CHAIN_LOCK_KEYS)
        else:
            # SQLite has one writer at a time, but hands out the write lock at the first
            # write: taken at the insert, after reading the head, a second writer would
            # fail with "database is locked". A write that matches no row takes it now.
            cursor.execute("UPDATE policies_auditentry SET id = id WHERE 0")


class _RefusalFate(StrEnum):
    RECORD = "record"
    SUMMARISE = "summarise"
    DROP = "drop"


def _refusal_fate(*, username: str, now: datetime) -> _RefusalFate:
    """Counted in the database, so every web and worker process keeps one limit."""
    limit = settings.MESHUI_AUDIT_DENIED_PER_MINUTE
    if limit <= 0:
        return _RefusalFate.RECORD
    recent = AuditEntry.objects.filter(
        username=username,
        outcome=AuditEntry.Outcome.DENIED,
        created_at__gt=now - REFUSALS_WINDOW,
        created_at__lte=now,
    ).aggregate(
        refusals=Count("id"),
        summaries=Count("id", filter=Q(action=AuditAction.REFUSALS_RATE_LIMITED)),
    )
    if recent["summaries"]:
        return _RefusalFate.DROP
    if recent["refusals"] >= limit:
        return _RefusalFate.SUMMARISE
    return _RefusalFate.RECORD


def _refusals_rate_limited_error(*, username: str, now: datetime) -> str:
    return (
        f"{username} was refused more than {settings.MESHUI_AUDIT_DENIED_PER_MINUTE} times "
        "within a minute: meshui records no more of their refusals until "
        f"{(now + REFUSALS_WINDOW).astimezone(UTC):%H:%M:%S} UTC, and goes on refusing them."
    )


def _text_within_limit(field: str, text: str) -> str:
    text = text.replace(NUL, REPLACEMENT_CHARACTER)
    if field in NAME_FIELDS:
        return text[: AuditEntry._meta.get_field(field).max_length]
    limit = TEXT_LIMITS[field]
    if len(text) <= limit:
        return text
    note = f" … [cut: {len(text)} characters in all]"
    return text[: limit - len(note)] + note


def _without_nul(value):
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT_CHARACTER)
    if isinstance(value, dict):
        return {_without_nul(str(key)): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _object_within_limit(value: dict | list | None) -> dict | list | None:
    """The object as the database will hold it (JSON's own types), or a marker if too large."""
    if value is None:
        return None
    serialized = json.dumps(
        _without_nul(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    if len(serialized) > OBJECT_LIMIT_BYTES:
        return {
            "omitted": OBJECT_OMITTED,
            "bytes": len(serialized),
            "limit_bytes": OBJECT_LIMIT_BYTES,
            "sha256": hashlib.sha256(serialized).hexdigest(),
        }
    return json.loads(serialized)
