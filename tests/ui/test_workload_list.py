"""The workloads list: filter by namespace, mode, sidecar, findings and exemption, sort, page,
URL state, CSV of the filtered list, htmx swaps; and the overview's counts link to it."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.selectors.workloads import WORKLOAD_SORTS, WorkloadFilters, workloads_matching
from tests.factories import snapshot_with, sync_run
from tests.reports.builders import exemption_build

ROW = re.compile(r'<th scope="row"><a href="/namespaces/([^/]+)/workloads/[^/]+/([^/]+)/">')


def rows(response) -> list[str]:
    return [f"{ns}/{name}" for ns, name in ROW.findall(response.content.decode())]


@pytest.fixture
def mesh(db):
    snapshot = snapshot_with(
        namespaces=[
            {"name": "pay", "mode": "STRICT", "source": "namespace", "policy": "pay/default"},
            "shop",
            "legacy",
        ],
        workloads=[
            {"namespace": "pay", "name": "ledger", "mode": "STRICT", "has_sidecar": True},
            {"namespace": "pay", "name": "api", "mode": "STRICT", "has_sidecar": True},
            {"namespace": "shop", "name": "cart", "mode": "PERMISSIVE", "has_sidecar": True},
            {
                "namespace": "shop",
                "name": "web",
                "mode": "PERMISSIVE",
                "has_sidecar": False,
            },
            {
                "namespace": "legacy",
                "name": "batch",
                "mode": "DISABLE",
                "has_sidecar": False,
            },
        ],
        findings=[
            {"namespace": "shop", "name": "web", "kind": "Deployment"},
            {"namespace": "shop", "name": "web", "kind": "Deployment"},
            {"namespace": "legacy", "name": "batch", "kind": "Deployment"},
        ],
    )
    sync_run(snapshot=snapshot)
    now = timezone.now()
    exemption_build(
        namespace="legacy", created_at=now - timedelta(days=1), expires_at=now + timedelta(days=9)
    )
    exemption_build(
        namespace="shop",
        workload="web",
        created_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=9),
    )
    # Expired: makes nothing exempt.
    exemption_build(
        namespace="shop",
        workload="cart",
        created_at=now - timedelta(days=20),
        expires_at=now - timedelta(days=1),
    )
    return snapshot


def test_workload_list_shows_every_workload_by_namespace(auditor_client, mesh):
    response = auditor_client.get("/workloads/")
    assert response.status_code == 200
    assert rows(response) == ["legacy/batch", "pay/api", "pay/ledger", "shop/cart", "shop/web"]
    assert "Showing 1–5 of 5 workloads" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("namespace=shop", ["shop/cart", "shop/web"]),
        ("mode=STRICT", ["pay/api", "pay/ledger"]),
        ("sidecar=no", ["legacy/batch", "shop/web"]),
        ("sidecar=yes&mode=PERMISSIVE", ["shop/cart"]),
        ("findings=yes", ["legacy/batch", "shop/web"]),
        ("findings=no", ["pay/api", "pay/ledger", "shop/cart"]),
        ("exempt=yes", ["legacy/batch", "shop/web"]),  # a namespace's exemption covers its rows
        ("exempt=no", ["pay/api", "pay/ledger", "shop/cart"]),  # an expired one does not
        ("q=LED", ["pay/ledger"]),
        ("source=namespace", ["pay/api", "pay/ledger"]),
    ],
)
def test_workload_list_filters(auditor_client, mesh, query, expected):
    assert rows(auditor_client.get(f"/workloads/?{query}")) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["pay/api", "legacy/batch", "shop/cart", "pay/ledger", "shop/web"]),
        ("-findings", ["shop/web", "legacy/batch", "pay/api", "pay/ledger", "shop/cart"]),
        ("mode", ["legacy/batch", "shop/cart", "shop/web", "pay/api", "pay/ledger"]),
    ],
)
def test_workload_list_sorts(auditor_client, mesh, sort, expected):
    assert rows(auditor_client.get(f"/workloads/?sort={sort}")) == expected


@pytest.mark.parametrize("key", WORKLOAD_SORTS)
def test_workload_list_every_sort_key_works(auditor_client, mesh, key):
    for sort in (key, f"-{key}"):
        assert len(rows(auditor_client.get(f"/workloads/?sort={sort}"))) == 5


def test_workload_list_exempt_rows_are_badged(auditor_client, mesh):
    page = auditor_client.get("/workloads/?namespace=shop").content.decode()
    assert page.count('class="badge badge-exempt"') == 1


def test_workload_list_bad_filter_answers_400_with_the_message(auditor_client, mesh):
    response = auditor_client.get("/workloads/?mode=SECURE")
    assert response.status_code == 400
    page = response.content.decode()
    assert "This filter cannot be applied." in page
    assert rows(response) == []


def test_workload_list_csv_exports_the_filtered_list_in_the_report_columns(auditor_client, mesh):
    response = auditor_client.get("/workloads/export.csv?mode=PERMISSIVE&sort=-findings&page=7")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    table = list(csv.reader(io.StringIO(body)))
    assert table[0][:4] == ["namespace", "name", "kind", "mode"]
    assert [row[:2] for row in table[1:]] == [["shop", "web"], ["shop", "cart"]]
    exempt = table[0].index("exempt")
    assert [row[exempt] for row in table[1:]] == ["true", "false"]


def test_workload_list_csv_with_a_bad_filter_answers_400_not_a_file(auditor_client, mesh):
    response = auditor_client.get("/workloads/export.csv?sidecar=maybe")
    assert response.status_code == 400
    assert "text/html" in response["Content-Type"]
    assert "This filter cannot be applied." in response.content.decode()


def test_workload_list_export_link_keeps_the_filters(auditor_client, mesh):
    page = auditor_client.get("/workloads/?mode=STRICT&page=1").content.decode()
    assert 'href="/workloads/export.csv?mode=STRICT"' in page


def test_workload_list_htmx_request_gets_only_the_table(auditor_client, mesh):
    response = auditor_client.get(
        "/workloads/?mode=STRICT", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="workload-list"
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="workload-list"')
    assert "<html" not in page
    assert rows(response) == ["pay/api", "pay/ledger"]


def test_workload_list_every_htmx_link_also_has_an_href(auditor_client, mesh):
    page = auditor_client.get("/workloads/?per_page=25").content.decode()
    for tag in re.findall(r"<a [^>]*hx-get[^>]*>", page):
        assert 'href="' in tag
    form = re.search(r'<form id="workload-filters"[^>]*>', page).group(0)
    assert 'action="/workloads/"' in form and 'method="get"' in form


def test_workload_list_query_count_does_not_grow_with_the_mesh(auditor_client, mesh):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert auditor_client.get("/workloads/?exempt=no&sort=-findings").status_code == 200
        return len(queries)

    small = count()
    snapshot_with(
        workloads=[{"namespace": f"ns{i % 7}", "name": f"w{i}"} for i in range(120)],
    )
    assert count() == small


def test_overview_counts_link_to_the_filtered_lists(auditor_client, mesh):
    page = auditor_client.get("/").content.decode()
    for mode in ("STRICT", "PERMISSIVE", "DISABLE"):
        assert f'href="/workloads/?mode={mode}"' in page
        assert f'href="/namespaces/?mode={mode}"' in page
    assert 'href="/workloads/?sidecar=no">2</a>' in page
    assert 'href="/workloads/?sidecar=yes">3</a>' in page
    # Each link shows what the count says.
    assert rows(auditor_client.get("/workloads/?sidecar=no")) == ["legacy/batch", "shop/web"]


def test_workloads_is_in_the_main_navigation(auditor_client, mesh):
    page = auditor_client.get("/workloads/").content.decode()
    assert '<a href="/workloads/" aria-current="page">Workloads</a>' in page


@pytest.mark.parametrize("sort", [*WORKLOAD_SORTS, *(f"-{key}" for key in WORKLOAD_SORTS)])
def test_workload_list_pages_hold_every_workload_once_in_the_sorts_order(auditor_client, db, sort):
    snapshot = snapshot_with(
        workloads=[
            {
                "namespace": f"ns{number % 4}",
                "name": f"w{number:02}",
                "mode": ("STRICT", "PERMISSIVE", "DISABLE")[number % 3],
                "has_sidecar": number % 5 != 0,
            }
            for number in range(60)
        ],
        findings=[
            {"namespace": f"ns{number % 4}", "name": f"w{number:02}", "kind": "Deployment"}
            for number in range(0, 60, 7)
        ],
    )
    sync_run(snapshot=snapshot)
    in_order = workloads_matching(snapshot, WorkloadFilters(), sort=sort)
    expected = [
        f"{namespace}/{name}" for namespace, name in in_order.values_list("namespace", "name")
    ]

    # Each page's rows are read by id after its ids (a deferred join): the pages together
    # are the whole list in the sort's order, the last one too.
    shown = []
    for number in (1, 2, 3):
        shown += rows(auditor_client.get(f"/workloads/?sort={sort}&per_page=25&page={number}"))
    assert shown == expected
    assert len(set(shown)) == 60
