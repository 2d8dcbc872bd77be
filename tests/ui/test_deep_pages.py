"""Every paged list reads a page past the middle from the other end (the order reversed, the
rows turned back): each page must hold exactly the rows the plain OFFSET read gives, under
every sort in both directions and with filters, on a mesh whose sort keys tie on purpose."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import AuditEntry
from policies.selectors import paging, report_pages
from policies.selectors.audit import audit_change_page
from policies.selectors.posture import (
    NAMESPACE_SORTS,
    finding_list_read,
    namespace_detail_read,
    namespace_list_read,
    policy_list_read,
)
from policies.selectors.report_pages import ReportFilters, report_page_read
from policies.selectors.workloads import WORKLOAD_SORTS, WorkloadFilters, workload_list_read
from tests.factories import snapshot_with, sync_run

MODES = ("STRICT", "PERMISSIVE", "DISABLE")
NAMES = ("api", "web", "db")  # the same names in every namespace: ties on name
PER_PAGE = 4  # odd totals leave a short last page


def plain_offset(rows, start, end, total):
    return list(rows[start:end])


def every_page(read, pages: int) -> list:
    return [read(number) for number in range(1, pages + 1)]


def pages_alike(monkeypatch, read, pages: int) -> list:
    """Every page read from the nearer end, after checking it against the plain OFFSET read."""
    nearer = every_page(read, pages)
    with monkeypatch.context() as plain:
        plain.setattr(paging, "rows_of_page", plain_offset)
        assert every_page(read, pages) == nearer
    return nearer


@pytest.fixture
def tied_mesh(db):
    snapshot = snapshot_with(
        namespaces=[
            {"name": f"ns-{index}", "mode": MODES[index % 3], "source": "namespace"}
            for index in range(7)
        ],
        workloads=[
            {
                "namespace": f"ns-{index}",
                "name": name,
                "kind": "Deployment" if (index + offset % 3) % 2 else "StatefulSet",
                "mode": MODES[(index + offset % 3) % 3],
                "has_sidecar": (index + offset % 3) % 2 == 0,
            }
            for index in range(7)
            # "api" twice: rows equal in every sort column, told apart by their ids only.
            for offset, name in enumerate((*NAMES, "api"))
        ],
        # Two alike findings on each of four workloads: ties in every column but the id.
        findings=[{"namespace": f"ns-{index}", "name": "web"} for index in (0, 2, 4, 6) * 2],
        policies=[
            {"kind": "PeerAuthentication", "namespace": f"ns-{index}", "name": "default"}
            for index in range(7)
        ],
    )
    sync_run(snapshot=snapshot)
    return snapshot


WORKLOAD_FILTERS = [
    WorkloadFilters(),
    WorkloadFilters(sidecar="no"),
    WorkloadFilters(mode="PERMISSIVE"),
    WorkloadFilters(search="a"),
    WorkloadFilters(exempt="no", findings="no"),
]


@pytest.mark.parametrize("filters", WORKLOAD_FILTERS)
@pytest.mark.parametrize("sort", [*WORKLOAD_SORTS, *(f"-{key}" for key in WORKLOAD_SORTS)])
def test_workload_pages_match_plain_offset(tied_mesh, monkeypatch, filters, sort):
    def read(number):
        listed = workload_list_read(filters=filters, sort=sort, page_number=number, per_page=4)
        return [row.pk for row in listed.page.object_list]

    total = workload_list_read(filters=filters, sort=sort, per_page=PER_PAGE).page.paginator.count
    pages = pages_alike(monkeypatch, read, -(-total // PER_PAGE))
    ids = [pk for page in pages for pk in page]
    assert len(ids) == len(set(ids)) == total > PER_PAGE


@pytest.mark.parametrize("mode", ["", "PERMISSIVE"])
@pytest.mark.parametrize("sort", [*NAMESPACE_SORTS, *(f"-{key}" for key in NAMESPACE_SORTS)])
def test_namespace_pages_match_plain_offset(tied_mesh, monkeypatch, sort, mode):
    def read(number):
        page = namespace_list_read(sort=sort, mode=mode, page_number=number, per_page=2).page
        return [row.name for row in page.object_list]

    pages = namespace_list_read(sort=sort, mode=mode, per_page=2).page.paginator.num_pages
    names = [name for page in pages_alike(monkeypatch, read, pages) for name in page]
    assert len(names) == len(set(names)) == (7 if not mode else 2)


def test_finding_namespace_and_policy_pages_match_plain_offset(tied_mesh, monkeypatch):
    def findings(number):
        page = finding_list_read(page_number=number, per_page=3).page
        return [row.pk for row in page.object_list]

    def workloads(number):
        detail = namespace_detail_read(name="ns-0", workload_page=number, per_page=2)
        return [row.pk for row in detail.workloads.object_list]

    def policies(number):
        page = policy_list_read(kind="PeerAuthentication", pa_page=number, per_page=2)
        return [row.pk for row in page.peer_authentications.object_list]

    assert sum(map(len, pages_alike(monkeypatch, findings, 3))) == 8
    assert sum(map(len, pages_alike(monkeypatch, workloads, 2))) == 4  # api twice
    assert sum(map(len, pages_alike(monkeypatch, policies, 4))) == 7


def test_audit_pages_match_plain_offset(db, monkeypatch):
    moment = timezone.now() - timedelta(hours=1)
    AuditEntry.objects.bulk_create(
        AuditEntry(
            # Three changes to a second, some of two attempts: ties on the newest moment.
            created_at=moment + timedelta(seconds=index // 3),
            username="alice",
            action="namespace_mode_set",
            outcome="applied" if index % 4 else "dry_run",
            change_id=f"{index // 2:032x}" if index % 5 else "",
        )
        for index in range(23)
    )

    def read(number):
        page = audit_change_page(AuditEntry.objects.all(), page_number=number, per_page=3)
        return [(change.lead.pk, [entry.pk for entry in change.folded]) for change in page]

    pages = pages_alike(monkeypatch, read, 6)
    leads = [lead for page in pages for lead, _folded in page]
    assert len(leads) == len(set(leads)) > 12


@pytest.mark.parametrize(
    "filters", [ReportFilters(), ReportFilters(namespace="ns-1"), ReportFilters(mode="DISABLE")]
)
def test_report_sections_match_plain_offset(tied_mesh, monkeypatch, filters):
    for section in report_pages.SECTIONS:
        monkeypatch.setitem(report_pages.PAGE_SIZES, section, 2)
    now = timezone.now()
    sections = ("namespaces", "workloads", "findings", "compliant_workloads")

    def report(number):
        return report_page_read(
            at=now,
            since=now - timedelta(days=30),
            filters=filters,
            pages=dict.fromkeys(sections, number),
            show_compliant=True,
        )

    def read(number):
        return [
            [getattr(row, "record", row).pk for row in getattr(report(number), section).rows]
            for section in sections
        ]

    pages = pages_alike(monkeypatch, read, 12)
    for index, section in enumerate(sections):
        ids = {pk for page in pages for pk in page[index]}
        assert len(ids) == getattr(report(1), section).total
    assert report(1).workloads.total > 2  # pages past the middle were read


def test_workloads_by_name_descending_tie_break_by_namespace(tied_mesh):
    listed = workload_list_read(filters=WorkloadFilters(mode="STRICT"), sort="-name", per_page=50)
    rows = [(row.name, row.namespace) for row in listed.page.object_list]
    assert rows == sorted(rows, key=lambda row: (-ord(row[0][0]), row[1]))
