"""The workloads list: every workload of the current snapshot, filtered, sorted, paged, and
the same rows for its CSV export.

Like the namespaces list, every query leads with the snapshot id; the exemption filter is one
EXISTS per row against the exemptions in force now (a workload's own or its namespace's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from policies.exports import (
    WORKLOAD_COLUMNS,
    WORKLOAD_FIELDS,
    appended_last,
    csv_chunks,
    workload_values,
)
from policies.models import Exemption, Snapshot, WorkloadRecord
from policies.selectors.paging import page_by_ids, totally_ordered
from policies.selectors.posture import sort_ordering, with_exemptions
from policies.selectors.reports import exemptions_at
from policies.selectors.sync import SyncStatus, snapshot_current, sync_status
from policies.selectors.traffic import traffic_status, with_readiness

# Sort keys offered in the URL (`?sort=-findings`) and their columns; every ordering ends
# with namespace and name so pages are stable.
WORKLOAD_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name", "namespace", "kind"),
    "namespace": ("namespace", "name", "kind"),
    "kind": ("kind", "namespace", "name"),
    "mode": ("mode", "namespace", "name"),
    "source": ("source", "namespace", "name"),
    "sidecar": ("has_sidecar", "namespace", "name"),
    "findings": ("findings_count", "namespace", "name"),
}
# Yes/no filters: "" means either.
YES, NO = "yes", "no"


@dataclass(frozen=True)
class WorkloadFilters:
    """What the list shows: every field empty means every workload."""

    search: str = ""
    namespace: str = ""
    mode: str = ""
    source: str = ""
    sidecar: str = ""  # yes / no
    findings: str = ""  # yes / no
    exempt: str = ""  # yes / no


@dataclass(frozen=True)
class WorkloadList:
    snapshot: Snapshot | None
    sync: SyncStatus
    page: Page | None


def _exemption_in_force(at: datetime) -> Exists:
    """A workload's own exemption or its namespace's, valid at `at` (as reports judge it)."""
    return Exists(
        Exemption.objects.filter(
            Q(workload=OuterRef("name")) | Q(workload=""),
            namespace=OuterRef("namespace"),
            created_at__lte=at,
            expires_at__gt=at,
        ).filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=at))
    )


def _yes_no(rows: QuerySet, value: str, condition: Q) -> QuerySet:
    if value == YES:
        return rows.filter(condition)
    if value == NO:
        return rows.exclude(condition)
    return rows


def workloads_matching(
    snapshot: Snapshot, filters: WorkloadFilters, *, sort: str = "namespace", now=None
) -> QuerySet[WorkloadRecord]:
    """The snapshot's workloads narrowed by `filters`, in `sort` order."""
    rows = WorkloadRecord.objects.filter(snapshot=snapshot)
    if filters.search:
        rows = rows.filter(name__icontains=filters.search)
    if filters.namespace:
        rows = rows.filter(namespace=filters.namespace)
    if filters.mode:
        rows = rows.filter(mode=filters.mode)
    if filters.source:
        rows = rows.filter(source=filters.source)
    rows = _yes_no(rows, filters.sidecar, Q(has_sidecar=True))
    rows = _yes_no(rows, filters.findings, Q(findings_count__gt=0))
    if filters.exempt:
        rows = rows.alias(exempt=_exemption_in_force(now or timezone.now()))
        rows = _yes_no(rows, filters.exempt, Q(exempt=True))
    key = sort.removeprefix("-")
    # Ids break the last ties, so the export and every page (read from either end) agree.
    return totally_ordered(rows.order_by(*sort_ordering(WORKLOAD_SORTS[key], sort.startswith("-"))))


def workload_list_read(
    *,
    filters: WorkloadFilters,
    sort: str = "namespace",
    page_number: int = 1,
    per_page: int = 50,
) -> WorkloadList:
    """One page of the current snapshot's workloads, filtered and sorted."""
    snapshot = snapshot_current()
    sync = sync_status(snapshot=snapshot)
    if snapshot is None:
        return WorkloadList(snapshot=None, sync=sync, page=None)
    now = timezone.now()
    rows = workloads_matching(snapshot, filters, sort=sort, now=now).defer(
        "reason", "labels", "container_ports"
    )
    unfiltered = filters == WorkloadFilters()
    page = page_by_ids(
        rows, per_page, page_number, count=snapshot.workloads_total if unfiltered else None
    )
    exemptions = exemptions_at(
        at=now, namespaces={row.namespace for row in page.object_list}, in_force_only=True
    )
    with_exemptions(page, lambda row: exemptions.for_workload(row.namespace, row.name))
    return WorkloadList(snapshot=snapshot, sync=sync, page=page)


def workload_list_csv(*, filters: WorkloadFilters, sort: str = "namespace") -> Iterator[str] | None:
    """The whole filtered list (every page) as CSV chunks, in the report export's columns;
    None when there is no snapshot yet."""
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    now = timezone.now()
    exemptions = exemptions_at(at=now, in_force_only=True)
    fields = tuple(field for field in WORKLOAD_FIELDS if field != "container_ports")
    rows = with_readiness(
        workloads_matching(snapshot, filters, sort=sort, now=now),
        traffic_status(now=now),
        workloads=True,
    ).values(*fields)
    return csv_chunks(
        WORKLOAD_COLUMNS,
        (appended_last(workload_values(values, exemptions)) for values in rows.iterator(2000)),
    )
