"""What changed between two snapshots, worked out in the database once per pair and kept.

Each section (namespaces, workloads) is one INSERT ... SELECT: the two snapshots' rows joined
on their key in SQL, the rows that did not change left out there, and each change numbered
in the page order, so the compare page reads any page as a range of positions and its count
from one row. Only the ids of the records at each date are stored; a page reads its rows'
names, modes and ports by id.

What counts as a change is the rule of `port_moves` (policies/selectors/reports.py): a row
present at one date only was added or removed; a row whose effective mode differs changed;
a row with the same mode changed only when some port's effective mode moved, where a port
its policy does not name has the workload's mode. The SQL below says the same per port.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from policies.models import (
    ChangedRecord,
    NamespaceRecord,
    Snapshot,
    SnapshotDifference,
    WorkloadRecord,
)

# True when some port's effective mode differs between the rows `b` (before) and `a`
# (after) of the same mode: over the ports either side's policy names, a port one side does
# not name takes that side's workload mode.
PORT_MOVED = {
    "postgresql": """EXISTS (
        SELECT 1 FROM jsonb_object_keys(b.ports || a.ports) AS port(key)
        WHERE COALESCE(b.ports ->> port.key, b.mode) <> COALESCE(a.ports ->> port.key, a.mode)
    )""",
    "sqlite": """EXISTS (
        SELECT 1 FROM (
            SELECT key FROM json_each(b.ports) UNION SELECT key FROM json_each(a.ports)
        ) AS port
        WHERE COALESCE((SELECT value FROM json_each(b.ports) WHERE key = port.key), b.mode)
           <> COALESCE((SELECT value FROM json_each(a.ports) WHERE key = port.key), a.mode)
    )""",
}
# Rows in the order of the code points of their names, as Python sorts them (and faster to
# compare than a language's collation); SQLite compares bytes already.
BY_CODE_POINT = {"postgresql": ' COLLATE "C"', "sqlite": ""}
# The join reads 300,000 rows at 10,000 namespaces: enough memory to hash them in one pass,
# and no JIT compilation (the planner's estimate of the ports check asks for it, and
# compiling costs more than the query).
SESSION_SETTINGS = {
    "postgresql": "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
}


def changes_insert_sql(*, section: ChangedRecord.Section) -> str:
    """Store, as ChangedRecord rows of difference %(difference)s, the rows of snapshot
    %(before)s and %(after)s joined on their key that changed, numbered in key order.

    The join reads only the key, mode and `has_port_exceptions` of each row, which the
    index `workload_report_order` holds in key order (an index-only merge join on
    PostgreSQL). Ports are read only where they can matter: a row with the same mode at
    both dates moved a port only if one side has a port whose mode differs from its
    workload's (`has_port_exceptions`, set by the sync); otherwise every port a policy
    names has the common mode.
    """
    vendor = connection.vendor if connection.vendor in PORT_MOVED else "postgresql"
    if section == ChangedRecord.Section.WORKLOADS:
        table = WorkloadRecord._meta.db_table
        columns = "id, namespace, name, kind, mode, has_port_exceptions"
        key = ("namespace", "name", "kind")
        ports_moved = f"""(
            (before_rows.has_port_exceptions OR after_rows.has_port_exceptions) AND EXISTS (
                SELECT 1 FROM {table} AS b, {table} AS a
                WHERE b.id = before_rows.id AND a.id = after_rows.id
                  AND b.ports <> a.ports AND {PORT_MOVED[vendor]}
            )
        )"""  # noqa: S608
    else:
        table = NamespaceRecord._meta.db_table
        columns = "id, name AS namespace, name, 'Namespace' AS kind, mode"
        key = ("name",)
        ports_moved = "FALSE" if vendor == "postgresql" else "0"
    # Each side read in key order: PostgreSQL then merges the two index scans as they come
    # rather than sorting 150,000 rows on each side first.
    key_order = ", ".join(key)
    joined = " AND ".join(f"before_rows.{column} = after_rows.{column}" for column in key)
    # The ids break ties only if a snapshot held one key twice: a stable order all the same.
    order = ", ".join(
        [
            *(
                f"COALESCE(before_rows.{column}, after_rows.{column}){BY_CODE_POINT[vendor]}"
                for column in ("namespace", "name", "kind")
            ),
            "before_rows.id",
            "after_rows.id",
        ]
    )
    # INSERT first: Python's sqlite3 counts the rows of a statement that starts with it.
    return f"""
        INSERT INTO {ChangedRecord._meta.db_table}
            (difference_id, section, position, before_record_id, after_record_id)
        WITH before_rows AS (
                SELECT {columns} FROM {table} WHERE snapshot_id = %(before)s ORDER BY {key_order}
             ),
             after_rows AS (
                SELECT {columns} FROM {table} WHERE snapshot_id = %(after)s ORDER BY {key_order}
             )
        SELECT %(difference)s, %(section)s, ROW_NUMBER() OVER (ORDER BY {order}) - 1,
               before_rows.id, after_rows.id
        FROM before_rows FULL OUTER JOIN after_rows ON {joined}
        WHERE before_rows.id IS NULL OR after_rows.id IS NULL
           OR before_rows.mode <> after_rows.mode OR {ports_moved}
    """  # noqa: S608


def changes_store(*, difference: SnapshotDifference, section: ChangedRecord.Section) -> int:
    """Store one section's changes of `difference`; how many there are."""
    params = {
        "difference": difference.pk,
        "section": section.value,
        "before": difference.before_id,
        "after": difference.after_id,
    }
    with connection.cursor() as cursor:
        if connection.vendor in SESSION_SETTINGS:  # for this transaction only
            cursor.execute(SESSION_SETTINGS[connection.vendor])
        cursor.execute(changes_insert_sql(section=section), params)
        return cursor.rowcount


def snapshot_difference_ensure(*, before: Snapshot, after: Snapshot) -> SnapshotDifference:
    """What changed from snapshot `before` to `after`, worked out and kept on first request.

    The first request of a pair pays for the join (a few hundred milliseconds at 10,000
    namespaces); every later page of it reads stored rows. Two requests of one new pair at
    once: the second waits for the first's row and reads it.
    """
    known = SnapshotDifference.objects.filter(before=before, after=after).first()
    if known is None:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    known = SnapshotDifference.objects.create(
                        before=before, after=after, computed_at=timezone.now()
                    )
            except IntegrityError:  # another request stored the same pair meanwhile
                known = SnapshotDifference.objects.get(before=before, after=after)
            else:
                if before.pk != after.pk:  # a snapshot and itself differ in nothing
                    known.namespaces_changed = changes_store(
                        difference=known, section=ChangedRecord.Section.NAMESPACES
                    )
                    known.workloads_changed = changes_store(
                        difference=known, section=ChangedRecord.Section.WORKLOADS
                    )
                    known.save(update_fields=["namespaces_changed", "workloads_changed"])
                snapshot_differences_prune(keep=settings.MESHUI_COMPARISONS_KEPT)
    # The caller's snapshots, so reading them costs no query.
    known.before, known.after = before, after
    return known


# A new snapshot is compared at once with the earlier snapshots of the newest few pairs that
# ended at the one before it: "from X to now" then reads stored rows after the sync too. A
# few, because without Redis the sync that asks for this runs in a request.
PAIRS_CARRIED_FORWARD = 3


def snapshot_differences_carry_forward(*, snapshot_id: int) -> int:
    """Work out and keep the differences from the earlier snapshots of the newest pairs that
    ended at the snapshot before `snapshot_id` (of its cluster) to that one; how many."""
    snapshot = Snapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is None:  # pruned since
        return 0
    previous = (
        Snapshot.objects.filter(cluster_id=snapshot.cluster_id, taken_at__lt=snapshot.taken_at)
        .newest_first()
        .first()
    )
    if previous is None:
        return 0
    pairs = list(
        SnapshotDifference.objects.filter(after=previous)
        .exclude(before=previous)
        .select_related("before")
        .order_by("-computed_at", "-id")[:PAIRS_CARRIED_FORWARD]
    )
    for pair in pairs:
        snapshot_difference_ensure(before=pair.before, after=snapshot)
    return len(pairs)


def snapshot_differences_prune(*, keep: int) -> int:
    """Delete all but the `keep` newest differences (with their rows); how many went."""
    newest = SnapshotDifference.objects.order_by("-computed_at", "-id").values("id")[:keep]
    _total, by_model = SnapshotDifference.objects.exclude(id__in=newest).delete()
    return by_model.get(SnapshotDifference._meta.label, 0)
