"""Comparing two dates, and the trend charts drawn on the server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.charts import line_chart, nice_ceiling
from tests.reports.builders import audit_build, moment, snapshot_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "PERMISSIVE", "billing": "STRICT", "gone": "STRICT"},
        workloads=[
            {"namespace": "shop", "name": "cart", "mode": "PERMISSIVE"},
            {"namespace": "billing", "name": "ledger", "mode": "STRICT"},
        ],
        findings=[{"code": "DUPLICATE_NAMESPACE_POLICY", "namespace": "shop"}],
    )
    audit_build(created_at=moment("2026-11-05 10:00"), reason="shop to STRICT, SEC-42")
    audit_build(created_at=moment("2026-11-25 10:00"), reason="after the second date")
    snapshot_build(
        taken_at=moment("2026-11-05 10:01"),
        namespaces={"shop": "STRICT", "billing": "STRICT", "new": "PERMISSIVE"},
        workloads=[
            {"namespace": "shop", "name": "cart", "mode": "STRICT"},
            {
                "namespace": "billing",
                "name": "ledger",
                "mode": "STRICT",
                "ports": {"8443": "DISABLE"},
            },
        ],
        findings=[{"code": "DUPLICATE_NAMESPACE_POLICY", "namespace": "new"}],
    )


def test_compare_lists_mode_changes_findings_and_audit_entries(client_as, auditor_user, history):
    page = (
        client_as(auditor_user)
        .get("/reports/compare/", {"from": "2026-11-02", "to": "2026-11-10"})
        .content.decode()
    )

    assert "Namespaces that changed (3)" in page  # shop, gone (removed), new (added)
    assert "Workloads that changed (2)" in page  # cart mode, ledger port
    assert "port 8443 DISABLE" in page
    assert "Findings that appeared (1)" in page and "Findings that cleared (1)" in page
    assert "shop to STRICT, SEC-42" in page
    assert "after the second date" not in page


def test_compare_under_htmx_returns_only_the_result(client_as, auditor_user, history):
    response = client_as(auditor_user).get(
        "/reports/compare/",
        {"from": "2026-11-02", "to": "2026-11-10"},
        headers={"HX-Request": "true", "HX-Target": "compare-result"},
    )
    html = response.content.decode()

    assert html.lstrip().startswith('<section id="compare-result"')
    assert "<html" not in html


def test_compare_on_the_same_snapshot_says_nothing_changed(client_as, auditor_user, history):
    page = (
        client_as(auditor_user)
        .get("/reports/compare/", {"from": "2026-11-06", "to": "2026-11-07"})
        .content.decode()
    )

    assert "Both dates fall on the same snapshot" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"from": "2026-11-10", "to": "2026-11-02"},
            "&#x27;From&#x27; must be before &#x27;To&#x27;.",
        ),
        ({"from": "someday"}, "is not a date or time"),
        ({"to": "2026-11-02"}, "This field is required."),
    ],
)
def test_compare_refuses_bad_dates_in_words(client_as, auditor_user, history, query, message):
    response = client_as(auditor_user).get("/reports/compare/", query)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_trends_draw_an_svg_line_per_series(client_as, auditor_user, db):
    now = timezone.now()
    for days_ago, strict in ((20, 1), (10, 2), (1, 3)):
        snapshot_build(
            taken_at=now - timedelta(days=days_ago),
            namespaces={f"ns{i}": "STRICT" if i < strict else "PERMISSIVE" for i in range(4)},
        )
    page = client_as(auditor_user).get("/reports/trends/", {"days": "30"}).content.decode()

    # namespaces share + 3 finding lines; no workloads means no workload share to draw
    assert page.count("<polyline") == 4
    assert "3 snapshots in the last 30 days" in page
    assert "75% (3/4)" in page
    assert "<script" not in page.split("<main")[1]


def test_trends_without_snapshots_say_so(client_as, auditor_user, db):
    page = client_as(auditor_user).get("/reports/trends/").content.decode()

    assert "No snapshots in the last 30 days." in page


def test_a_bad_trend_period_falls_back_to_30_days(client_as, auditor_user, db):
    page = client_as(auditor_user).get("/reports/trends/", {"days": "9999"}).content.decode()

    assert "No snapshots in the last 30 days." in page


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (480, 500)]
)
def test_nice_ceiling_rounds_up_to_1_2_5(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_line_chart_places_points_and_skips_missing_values():
    moments = [moment("2026-11-01 00:00"), moment("2026-11-02 00:00"), moment("2026-11-03 00:00")]
    chart = line_chart(moments, [("share", "#000", "", [0.0, None, 1.0])], y_max=1.0)

    # A staircase: 0 holds until the next snapshot, then the line jumps to 1.
    assert chart.series[0].points.split() == [
        f"{chart.left}.0,{chart.bottom}.0",
        f"{chart.right}.0,{chart.bottom}.0",
        f"{chart.right}.0,{chart.top}.0",
    ]
    assert len(chart.series[0].markers) == 2
    assert [tick.label for tick in chart.x_ticks][0] == "11-01 00:00"  # a short span: hours too


def test_count_axis_uses_whole_numbers_and_the_period_sets_the_time_axis():
    moments = [moment("2026-11-20 00:00"), moment("2026-11-21 00:00")]
    chart = line_chart(
        moments,
        [("errors", "#000", "", [0, 3])],
        period=(moment("2026-11-01 00:00"), moment("2026-11-30 00:00")),
    )

    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    assert [tick.label for tick in chart.x_ticks][0] == "11-01"
    assert [tick.label for tick in chart.x_ticks][-1] == "11-30"
    corners = chart.series[0].points.split()
    first_x = float(corners[0].split(",")[0])
    assert first_x > chart.left + (chart.right - chart.left) / 2  # 20 Nov is past mid-month
    assert corners[-1].startswith(f"{chart.right}.0,")  # the last figure holds until now


def test_thinning_keeps_the_last_snapshot_of_each_slot():
    from policies.selectors.reports import TrendPoint, thin_points

    start = moment("2026-11-01 00:00")
    points = [
        TrendPoint(start + timedelta(minutes=10 * index), 1, index % 2, 1, 1, 0, 0, 0)
        for index in range(100)
    ]
    thinned = thin_points(points, start=start, end=start + timedelta(minutes=1000), max_points=10)

    assert len(thinned) == 10
    assert thinned[-1] == points[-1]
    assert thinned[0] == points[9]


def test_trends_under_htmx_return_only_the_charts(client_as, auditor_user, db):
    response = client_as(auditor_user).get(
        "/reports/trends/",
        {"days": "7"},
        headers={"HX-Request": "true", "HX-Target": "trend-charts"},
    )
    html = response.content.decode()

    assert html.lstrip().startswith('<section id="trend-charts"')
    assert "No snapshots in the last 7 days." in html


def test_compare_links_the_full_audit_export_when_it_lists_only_the_first_entries(
    client_as, auditor_user, history, monkeypatch
):
    import policies.selectors.compare as selectors

    audit_build(created_at=moment("2026-11-05 11:00"), reason="a second entry")
    monkeypatch.setitem(selectors.COMPARE_PAGE_SIZES, "audit", 1)
    client = client_as(auditor_user)
    page = client.get("/reports/compare/", {"from": "2026-11-02", "to": "2026-11-10"})
    html = page.content.decode()

    assert "Audit entries in between (2)" in html
    link = html.split('The <a href="')[1].split('"')[0].replace("&amp;", "&")
    rows = b"".join(client.get(link).streaming_content).decode().splitlines()
    assert len(rows) == 3 and "SEC-42" in rows[1] and "a second entry" in rows[2]
