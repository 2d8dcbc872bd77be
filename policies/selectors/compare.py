"""The comparison of two dates, read one page per section.

What changed between the two snapshots (namespaces, workloads) was worked out once per pair
and kept (policies/services/snapshot_differences.py): a page of those is a range of stored
positions, joined to its records by id, and its count is stored. Findings that appeared or
cleared and the audit entries between depend on exemptions and the audit log as well, so
they are worked out on each visit, one query per page and count. So a comparison of two
150,000-workload snapshots costs the same few queries as one of ten, and only the page's
rows reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Exists, OuterRef, Q

from policies.models import (
    ChangedRecord,
    Exemption,
    FindingRecord,
    NamespaceRecord,
    Snapshot,
    SnapshotDifference,
    WorkloadRecord,
)
from policies.selectors.paging import page_clamped
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


# --- Mode changes, stored per pair of snapshots --------------------------------------------


def snapshots_compared(*, at_from: datetime, at_to: datetime) -> tuple[Snapshot, Snapshot] | None:
    """The snapshots in force at the earlier and the later date (of the cluster in scope);
    None when none had been taken by the earlier one."""
    if at_from > at_to:
        at_from, at_to = at_to, at_from
    before, after = snapshot_at(at=at_from), snapshot_at(at=at_to)
    if before is None or after is None:
        return None
    return before, after


# The ports as JSON text, which ModeChange decodes for the rows shown only.
PORTS_TEXT = {"postgresql": "CAST({} AS text)", "sqlite": "{}"}


def changes_page_sql(*, section: ChangedRecord.Section) -> str:
    """The stored changes of difference %(difference)s at positions %(first)s to %(end)s
    (excluded), with their records' key, mode and ports at each date, in position order."""
    if section == ChangedRecord.Section.WORKLOADS:
        table = WorkloadRecord._meta.db_table
        key = (
            "COALESCE(b.namespace, a.namespace), COALESCE(b.name, a.name), COALESCE(b.kind, a.kind)"
        )
        ports = PORTS_TEXT.get(connection.vendor, PORTS_TEXT["postgresql"])
        ports_before = f"COALESCE({ports.format('b.ports')}, '{{}}')"
        ports_after = f"COALESCE({ports.format('a.ports')}, '{{}}')"
    else:  # a namespace is listed as in its own namespace, of kind Namespace
        table = NamespaceRecord._meta.db_table
        key = "COALESCE(b.name, a.name), COALESCE(b.name, a.name), 'Namespace'"
        ports_before = ports_after = "'{}'"
    return f"""
        SELECT {key}, COALESCE(b.mode, ''), COALESCE(a.mode, ''), {ports_before}, {ports_after}
        FROM {ChangedRecord._meta.db_table} AS change
        LEFT JOIN {table} AS b ON b.id = change.before_record_id
        LEFT JOIN {table} AS a ON a.id = change.after_record_id
        WHERE change.difference_id = %(difference)s AND change.section = %(section)s
          AND change.position >= %(first)s AND change.position < %(end)s
        ORDER BY change.position
    """  # noqa: S608


def changes_page(
    *, difference: SnapshotDifference, section: ChangedRecord.Section, page: int
) -> CompareSection:
    """One page of one section's stored changes (a page past the end is the last), with the
    section's stored count: one query."""
    if section == ChangedRecord.Section.WORKLOADS:
        total = difference.workloads_changed
    else:
        total = difference.namespaces_changed
    size = COMPARE_PAGE_SIZES[section.value]
    # The paginator only numbers the pages: the positions say which rows are this page's.
    numbered = Paginator(range(total), size).get_page(page)
    first = (numbered.number - 1) * size
    params = {
        "difference": difference.pk,
        "section": section.value,
        "first": first,
        "end": first + size,
    }
    with connection.cursor() as cursor:
        cursor.execute(changes_page_sql(section=section), params)
        rows = [ModeChange(*row) for row in cursor.fetchall()]
    return CompareSection(
        rows=rows, total=total, page=Page(rows, numbered.number, numbered.paginator)
    )


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
    current = page_clamped(
        rows.values_list("code", "severity", "namespace", "name", "kind", "message"),
        COMPARE_PAGE_SIZES[name],
        page,
    )
    page_rows = [FindingRow(*values) for values in current.object_list]
    return CompareSection(rows=page_rows, total=current.paginator.count, page=current, extra=extra)


# --- The comparison -------------------------------------------------------------------------


def snapshot_compare(
    *,
    difference: SnapshotDifference,
    at_from: datetime,
    at_to: datetime,
    pages: dict[str, int] | None = None,
    audit_clusters: list[str] | None = None,
) -> Comparison:
    """What changed between the snapshots in force at two dates (`difference`, of the
    snapshots `snapshots_compared` names), and the audit entries between, one page of each
    section (`pages`: section name to page number, default 1).

    Audit entries are taken from the first snapshot's time (not the first date) so a change
    made just before `at_from` but after that snapshot, which the second snapshot already
    shows, is still explained.
    """
    pages = pages or {}
    if at_from > at_to:
        at_from, at_to = at_to, at_from
    snapshot_from, snapshot_to = difference.before, difference.after
    expired_from = expired_exemptions_at(at=at_from)
    expired_to = expired_exemptions_at(at=at_to)
    # A user limited to clusters reads only their clusters' entries (None: every one).
    audit = audit_entries_between(
        start=min(snapshot_from.taken_at, at_from), end=at_to, clusters=audit_clusters
    )
    audit_page = page_clamped(audit, COMPARE_PAGE_SIZES["audit"], pages.get("audit", 1))
    return Comparison(
        at_from=at_from,
        at_to=at_to,
        snapshot_from=snapshot_from,
        snapshot_to=snapshot_to,
        namespaces=changes_page(
            difference=difference,
            section=ChangedRecord.Section.NAMESPACES,
            page=pages.get("namespaces", 1),
        ),
        workloads=changes_page(
            difference=difference,
            section=ChangedRecord.Section.WORKLOADS,
            page=pages.get("workloads", 1),
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
            rows=list(audit_page.object_list), total=audit_page.paginator.count, page=audit_page
        ),
    )
