"""The namespace list: search, filter, sort by every column, paginate, htmx swaps, query counts."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.selectors.posture import NAMESPACE_SORTS
from tests.factories import snapshot_with, sync_run


def row_names(response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/namespaces/([^/]+)/">', response.content.decode())


@pytest.fixture
def namespaces(db):
    snapshot = snapshot_with(
        namespaces=[
            {"name": "alpha", "mode": "STRICT", "source": "namespace", "policy": "alpha/default"},
            {"name": "bravo", "mode": "DISABLE", "source": "namespace", "policy": "bravo/off"},
            "charlie",
            "delta",
        ],
        workloads=[
            *[{"namespace": "charlie", "name": f"w{i}", "has_sidecar": i < 1} for i in range(3)],
            *[{"namespace": "alpha", "name": f"w{i}"} for i in range(2)],
            {"namespace": "delta", "name": "w0", "ports": {"80": "STRICT"}},
        ],
        findings=[{"namespace": "bravo"}, {"namespace": "bravo"}, {"namespace": "delta"}],
    )
    sync_run(snapshot=snapshot)
    return snapshot


def test_lists_every_namespace_by_name_with_mode_source_and_counts(auditor_client, namespaces):
    response = auditor_client.get("/namespaces/")
    assert row_names(response) == ["alpha", "bravo", "charlie", "delta"]
    page = response.content.decode()
    assert "Showing 1–4 of 4 namespaces" in page
    assert 'namespace policy<br><code class="small">alpha/default</code>' in page
    assert "built-in default (no policy)" in page
    assert "1/3 (33%)" in page  # charlie's sidecar coverage


def test_search_matches_part_of_the_name(auditor_client, namespaces):
    assert row_names(auditor_client.get("/namespaces/?q=LT")) == ["delta"]


def test_filter_by_mode_and_source(auditor_client, namespaces):
    assert row_names(auditor_client.get("/namespaces/?mode=PERMISSIVE")) == ["charlie", "delta"]
    assert row_names(auditor_client.get("/namespaces/?source=namespace&mode=DISABLE")) == ["bravo"]


def test_no_match_says_so(auditor_client, namespaces):
    assert (
        "No namespace matches these filters."
        in auditor_client.get("/namespaces/?q=zulu").content.decode()
    )


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha", "bravo", "charlie", "delta"]),
        ("-name", ["delta", "charlie", "bravo", "alpha"]),
        ("mode", ["bravo", "charlie", "delta", "alpha"]),
        ("-workloads", ["charlie", "alpha", "delta", "bravo"]),
        ("-findings", ["bravo", "delta", "alpha", "charlie"]),
        ("-exceptions", ["delta", "alpha", "bravo", "charlie"]),
        ("sidecars", ["bravo", "charlie", "alpha", "delta"]),
        ("-strict", ["alpha", "bravo", "charlie", "delta"]),
        ("-permissive", ["charlie", "delta", "alpha", "bravo"]),
        ("source", ["charlie", "delta", "alpha", "bravo"]),
    ],
)
def test_sorts_by_column_with_name_as_tie_break(auditor_client, namespaces, sort, expected):
    assert row_names(auditor_client.get(f"/namespaces/?sort={sort}")) == expected


# Readiness columns show only with traffic data on (tests/traffic/test_pages.py).
TRAFFIC_SORTS = {"readiness", "plaintext"}


@pytest.mark.parametrize("key", [key for key in NAMESPACE_SORTS if key not in TRAFFIC_SORTS])
def test_every_column_header_links_to_its_sort(auditor_client, namespaces, key):
    page = auditor_client.get("/namespaces/").content.decode()
    assert re.search(rf'href="\?sort=-?{key}"', page)


def test_clicking_the_active_column_reverses_it(auditor_client, namespaces):
    page = auditor_client.get("/namespaces/?sort=-findings").content.decode()
    assert 'aria-sort="descending"><a href="?sort=findings"' in page


def test_paginates_and_keeps_filters_in_page_links(auditor_client, namespaces):
    response = auditor_client.get("/namespaces/?mode=PERMISSIVE&per_page=25&page=1")
    assert row_names(response) == ["charlie", "delta"]
    snapshot_rows = [{"name": f"ns-{i:03d}"} for i in range(60)]
    snapshot_with(namespaces=snapshot_rows)
    first = auditor_client.get("/namespaces/?q=ns-&per_page=25")
    assert len(row_names(first)) == 25
    page = first.content.decode()
    assert "Page 1 of 3" in page
    assert 'href="?q=ns-&amp;per_page=25&amp;page=2"' in page
    assert row_names(auditor_client.get("/namespaces/?q=ns-&per_page=25&page=3"))[0] == "ns-050"


def test_htmx_request_gets_only_the_table_partial(auditor_client, namespaces):
    response = auditor_client.get(
        "/namespaces/?mode=STRICT", headers={"HX-Request": "true", "HX-Target": "namespace-table"}
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="namespace-table"')
    assert "<html" not in page
    assert row_names(response) == ["alpha"]
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(auditor_client, namespaces):
    response = auditor_client.get(
        "/namespaces/?mode=STRICT",
        headers={
            "HX-Request": "true",
            "HX-Target": "namespace-table",
            "HX-History-Restore-Request": "true",
        },
    )
    assert "<html" in response.content.decode()


def test_every_htmx_link_and_form_also_works_without_javascript(auditor_client, namespaces):
    page = auditor_client.get("/namespaces/").content.decode()
    for tag in re.findall(r"<(?:a|form)\b[^>]*hx-(?:get|post)=[^>]*>", page):
        assert 'href="' in tag or 'action="' in tag, tag
        assert 'hx-push-url="true"' in tag, tag


def test_bad_filter_in_an_htmx_request_swaps_in_the_message(auditor_client, namespaces):
    response = auditor_client.get(
        "/namespaces/?mode=SECURE", headers={"HX-Request": "true", "HX-Target": "namespace-table"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def _query_count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url", ["/namespaces/", "/namespaces/?sort=-sidecars&mode=PERMISSIVE", "/"]
)
def test_query_count_does_not_grow_with_the_mesh(auditor_client, namespaces, url):
    small = _query_count(auditor_client, url)
    snapshot_with(
        namespaces=[f"ns-{i:04d}" for i in range(300)],
        workloads=[
            {"namespace": f"ns-{i:04d}", "name": f"app-{j}"} for i in range(300) for j in range(3)
        ],
        findings=[{"namespace": f"ns-{i:04d}"} for i in range(300)],
    )
    large = _query_count(auditor_client, url)
    assert large == small
    # 10, plus the overdue-restore banner every page shows and the list's timed modes, and the
    # user's cluster limit (read on every request: a narrowed limit holds at once).
    assert large <= 13


def test_namespace_list_stays_within_its_query_budget(
    auditor_client, namespaces, django_assert_max_num_queries
):
    # 9, plus the overdue-restore banner every page shows and the rows' timed modes, and the
    # user's cluster limit (read on every request: a narrowed limit holds at once).
    with django_assert_max_num_queries(12):
        auditor_client.get("/namespaces/?per_page=200")
