"""The comparison of two dates, computed in the database and read one page per section.

Each section (namespaces, workloads, findings that appeared, findings that cleared, audit
entries) is one query: the two snapshots' rows joined on their key in SQL, the rows that
did not change left out there, and the page read with its total (`COUNT(*) OVER ()`). So a
comparison of two 150,000-workload snapshots costs the same few queries as one of ten, and
only the page's rows reach Python.

What counts as a change is the rule of `port_moves` (policies/selectors/reports.py): a row
present at one date only was added or removed; a row whose effective mode differs changed;
a row with the same mode changed only when some port's effective mode moved, where a port
its policy does not name has the workload's mode. The SQL below says the same per port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from policies.models import Exemption, FindingRecord, NamespaceRecord, Snapshot, WorkloadRecord
from policies.selectors.report_pages import CountedPaginator
from policies.selectors.reports import (
    EXEMPTION_EXPIRED,
    ExpiredExemption,
    FindingRow,
    ModeChange,
    audit_entries_between,
    snapshot_at,
)

COMPARE_PAGE_SIZES = {
    "namespaces": 50,
    "workloads": 50,
    "appeared": 50,
    "cleared": 50,
    "audit": 25,
}
COMPARE_SECTIONS = tuple(COMPARE_PAGE_SIZES)


@dataclass(frozen=True)
class CompareSection:
    """One page of a comparison's section, and how many rows the section holds in all."""

    rows: list
    total: int
    page: Page
    # Findings judged at a date rather than stored by its snapshot (exemptions that ran out
    # after the snapshot was taken): few, listed above the section's paged rows.
    extra: tuple = ()

    @property
    def count(self) -> int:
        return self.total + len(self.extra)


@dataclass
class Comparison:
    at_from: datetime
    at_to: datetime
    snapshot_from: Snapshot
    snapshot_to: Snapshot
    namespaces: CompareSection
    workloads: CompareSection
    findings_appeared: CompareSection
    findings_cleared: CompareSection
    audit: CompareSection

    @property
    def same_snapshot(self) -> bool:
        return self.snapshot_from.pk == self.snapshot_to.pk


# --- Mode changes in SQL --------------------------------------------------------------------

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
PORTS_TEXT = {"postgresql": "CAST({} AS text)", "sqlite": "{}"}
# Rows in the order of the code points of their names, as Python sorts them (and faster to
# compare than a language's collation); SQLite compares bytes already.
BY_CODE_POINT = {"postgresql": ' COLLATE "C"', "sqlite": ""}
# The join reads 300,000 rows at 10,000 namespaces: enough memory to hash them in one pass,
# and no JIT compilation (the planner's estimate of the ports check asks for it, and
# compiling costs more than the query).
SESSION_SETTINGS = {
    "postgresql": "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
}


def changes_sql(*, workloads: bool) -> str:
    """Rows of snapshot %(before)s and %(after)s joined on their key, keeping the changes,
    ordered by key, one page (%(limit)s, %(offset)s) with the total on every row.

    The join reads only the key, mode and `has_port_exceptions` of each row, which the
    index `workload_report_order` holds in key order (an index-only merge join on
    PostgreSQL). Ports are read only where they can matter: a row with the same mode at
    both dates moved a port only if one side has a port whose mode differs from its
    workload's (`has_port_exceptions`, set by the sync); otherwise every port a policy
    names has the common mode. The page's rows then read their ports by id.
    """
    vendor = connection.vendor if connection.vendor in PORT_MOVED else "postgresql"
    if workloads:
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
        ports = PORTS_TEXT[vendor]
        ports_before = f"COALESCE({ports.format('b.ports')}, '{{}}')"
        ports_after = f"COALESCE({ports.format('a.ports')}, '{{}}')"
        ports_join = f"""LEFT JOIN {table} AS b ON b.id = page.before_id
            LEFT JOIN {table} AS a ON a.id = page.after_id"""
    else:
        table = NamespaceRecord._meta.db_table
        columns = "id, name AS namespace, name, 'Namespace' AS kind, mode"
        key = ("name",)
        ports_moved = "FALSE" if vendor == "postgresql" else "0"
        ports_before = ports_after = "'{}'"
        ports_join = ""
    joined = " AND ".join(f"before_rows.{column} = after_rows.{column}" for column in key)
    order = ", ".join(
        f"COALESCE(before_rows.{column}, after_rows.{column}){BY_CODE_POINT[vendor]}"
        for column in ("namespace", "name", "kind")
    )
    outer_order = ", ".join(
        f"page.{column}{BY_CODE_POINT[vendor]}" for column in ("namespace", "name", "kind")
    )
    return f"""
        WITH before_rows AS (SELECT {columns} FROM {table} WHERE snapshot_id = %(before)s),
             after_rows AS (SELECT {columns} FROM {table} WHERE snapshot_id = %(after)s),
             page AS (
                SELECT COALESCE(before_rows.namespace, after_rows.namespace) AS namespace,
                       COALESCE(before_rows.name, after_rows.name) AS name,
                       COALESCE(before_rows.kind, after_rows.kind) AS kind,
                       COALESCE(before_rows.mode, '') AS before,
                       COALESCE(after_rows.mode, '') AS after,
                       before_rows.id AS before_id,
                       after_rows.id AS after_id,
                       COUNT(*) OVER () AS total
                FROM before_rows FULL OUTER JOIN after_rows ON {joined}
                WHERE before_rows.id IS NULL OR after_rows.id IS NULL
                   OR before_rows.mode <> after_rows.mode OR {ports_moved}
                ORDER BY {order}
                LIMIT %(limit)s OFFSET %(offset)s
             )
        SELECT page.namespace, page.name, page.kind, page.before, page.after,
               {ports_before}, {ports_after}, page.total
        FROM page {ports_join}
        ORDER BY {outer_order}
    """  # noqa: S608


def changes_page(
    *, before: Snapshot, after: Snapshot, workloads: bool, page: int
) -> CompareSection:
    """One page of the rows that changed between two snapshots, with their total.

    One query; a page past the end asks again for page 1 (to learn the total), then the last.
    """
    size = COMPARE_PAGE_SIZES["workloads" if workloads else "namespaces"]
    sql = changes_sql(workloads=workloads)

    def read(number: int) -> tuple[list[ModeChange], int]:
        params = {
            "before": before.pk,
            "after": after.pk,
            "limit": size,
            "offset": (number - 1) * size,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor in SESSION_SETTINGS:  # for this transaction only
                cursor.execute(SESSION_SETTINGS[connection.vendor])
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        total = rows[0][-1] if rows else 0
        return [ModeChange(*row[:-1]) for row in rows], total

    return CompareSection(*counted_page(read, page=page, size=size))


def counted_page(read, *, page: int, size: int) -> tuple[list, int, Page]:
    """This page's rows, the total and the numbered page, from `read(number)`, which returns
    a page's rows and the total its query counted alongside (COUNT(*) OVER ()). A page past
    the end reads page 1 to learn the total, then the last page."""
    rows, total = read(page)
    if not rows and page > 1:
        rows, total = read(1)
        last = max(1, -(-total // size))
        if last > 1:
            rows, total = read(last)
    # The paginator only numbers the pages: the query has read this page's rows already.
    current = Paginator(range(total), size).get_page(page)
    return rows, total, Page(rows, current.number, current.paginator)


# --- Findings that appeared or cleared ------------------------------------------------------


def expired_exemptions_at(*, at: datetime) -> list[ExpiredExemption]:
    """`exemptions_at(at=at).expired` without reading the exemptions in force: the newest
    expired exemption of each target that has none in force at `at`."""
    standing = Exemption.objects.filter(created_at__lte=at).filter(
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=at)
    )
    in_force = standing.filter(
        expires_at__gt=at, namespace=OuterRef("namespace"), workload=OuterRef("workload")
    )
    newest: dict[tuple[str, str], Exemption] = {}
    for exemption in (
        standing.filter(expires_at__lte=at).exclude(Exists(in_force)).order_by("created_at", "id")
    ):
        newest[(exemption.namespace, exemption.workload)] = exemption
    return [ExpiredExemption(exemption) for _target, exemption in sorted(newest.items())]


def finding_keys(rows) -> set[tuple[str, str, str, str]]:
    return {row.key for row in rows}


def findings_difference(
    *,
    present: Snapshot,
    present_expired: list[ExpiredExemption],
    absent: Snapshot,
    absent_expired: list[ExpiredExemption],
    name: str,
    page: int,
) -> CompareSection:
    """Findings of one date (its snapshot's, plus its expired exemptions the snapshot does
    not hold) whose (code, namespace, name, kind) the other date does not have.

    The snapshot's findings are paged in SQL (an anti-join on the key); the expired
    exemptions, bounded by the exemptions recorded, are settled in Python and listed first.
    """
    # A key the snapshot holds twice counts once, as it always has: the row kept is the one
    # listed last in severity order (the least severe, then the newest).
    duplicate = FindingRecord.objects.filter(
        snapshot=present,
        code=OuterRef("code"),
        namespace=OuterRef("namespace"),
        name=OuterRef("name"),
        kind=OuterRef("kind"),
    ).filter(
        Q(severity_rank__lt=OuterRef("severity_rank"))
        | Q(severity_rank=OuterRef("severity_rank"), id__gt=OuterRef("id"))
    )
    stored = FindingRecord.objects.filter(snapshot=absent)
    same_key = stored.filter(
        code=OuterRef("code"),
        namespace=OuterRef("namespace"),
        name=OuterRef("name"),
        kind=OuterRef("kind"),
    )
    absent_expired_keys = finding_keys(expired.as_finding() for expired in absent_expired)
    # The snapshot's own EXEMPTION_EXPIRED rows by key (few; read only when exemptions ran
    # out at either date): the ones the other date has as a judged expiry leave the list
    # by id, which keeps the query small however many exemptions expired.
    present_stored: dict[tuple[str, str, str, str], list[int]] = {}
    if present_expired or absent_expired:
        stored_rows = present.findings.filter(code=EXEMPTION_EXPIRED)
        for pk, *key in stored_rows.values_list("pk", "namespace", "name", "kind"):
            present_stored.setdefault((EXEMPTION_EXPIRED, *key), []).append(pk)
    hidden = [
        pk for key in absent_expired_keys & present_stored.keys() for pk in present_stored[key]
    ]
    rows = (
        FindingRecord.objects.filter(snapshot=present)
        .exclude(Exists(same_key))
        .exclude(Exists(duplicate))
        .exclude(pk__in=hidden)
        .order_by("-severity_rank", "namespace", "name", "code", "kind", "id")
    )
    extra = ()
    if present_expired:
        absent_stored = absent.findings.filter(code=EXEMPTION_EXPIRED)
        absent_keys = absent_expired_keys | {
            (EXEMPTION_EXPIRED, *key)
            for key in absent_stored.values_list("namespace", "name", "kind")
        }
        extra = tuple(
            row
            for row in (expired.as_finding() for expired in present_expired)
            if row.key not in present_stored and row.key not in absent_keys
        )
    # Counted apart from the page: a window count here would carry every message along.
    paginator = CountedPaginator(
        rows.values_list("code", "severity", "namespace", "name", "kind", "message"),
        COMPARE_PAGE_SIZES[name],
    )
    current = paginator.get_page(page)
    page_rows = [FindingRow(*values) for values in current.object_list]
    return CompareSection(rows=page_rows, total=paginator.count, page=current, extra=extra)


# --- The comparison -------------------------------------------------------------------------


def snapshot_compare(
    *,
    at_from: datetime,
    at_to: datetime,
    pages: dict[str, int] | None = None,
    audit_clusters: list[str] | None = None,
) -> Comparison | None:
    """What changed between the snapshots in force at two dates, and the audit entries between,
    one page of each section (`pages`: section name to page number, default 1).

    None when no snapshot had been taken by `at_from`. Audit entries are taken from the first
    snapshot's time (not the first date) so a change made just before `at_from` but after
    that snapshot, which the second snapshot already shows, is still explained.
    """
    pages = pages or {}
    if at_from > at_to:
        at_from, at_to = at_to, at_from
    snapshot_from = snapshot_at(at=at_from)
    snapshot_to = snapshot_at(at=at_to)
    if snapshot_from is None or snapshot_to is None:
        return None
    expired_from = expired_exemptions_at(at=at_from)
    expired_to = expired_exemptions_at(at=at_to)
    # A user limited to clusters reads only their clusters' entries (None: every one).
    audit = audit_entries_between(
        start=min(snapshot_from.taken_at, at_from), end=at_to, clusters=audit_clusters
    )
    audit_pages = CountedPaginator(audit, COMPARE_PAGE_SIZES["audit"])
    audit_page = audit_pages.get_page(pages.get("audit", 1))
    return Comparison(
        at_from=at_from,
        at_to=at_to,
        snapshot_from=snapshot_from,
        snapshot_to=snapshot_to,
        namespaces=changes_page(
            before=snapshot_from,
            after=snapshot_to,
            workloads=False,
            page=pages.get("namespaces", 1),
        ),
        workloads=changes_page(
            before=snapshot_from, after=snapshot_to, workloads=True, page=pages.get("workloads", 1)
        ),
        findings_appeared=findings_difference(
            present=snapshot_to,
            present_expired=expired_to,
            absent=snapshot_from,
            absent_expired=expired_from,
            name="appeared",
            page=pages.get("appeared", 1),
        ),
        findings_cleared=findings_difference(
            present=snapshot_from,
            present_expired=expired_from,
            absent=snapshot_to,
            absent_expired=expired_to,
            name="cleared",
            page=pages.get("cleared", 1),
        ),
        audit=CompareSection(
            rows=list(audit_page.object_list), total=audit_pages.count, page=audit_page
        ),
    )
