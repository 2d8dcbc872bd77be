"""The posture report page: the snapshot in force at the date asked, and what it shows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.reports.builders import audit_build, exemption_build, moment, snapshot_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_snapshots():
    """shop was PERMISSIVE on 1 November and STRICT from 10 November."""
    older = snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "PERMISSIVE", "billing": "STRICT"},
        workloads=[
            {"namespace": "shop", "name": "cart", "mode": "PERMISSIVE", "has_sidecar": False}
        ],
        findings=[{"code": "DUPLICATE_NAMESPACE_POLICY", "namespace": "shop"}],
    )
    newer = snapshot_build(
        taken_at=moment("2026-11-10 09:00"),
        namespaces={"shop": "STRICT", "billing": "STRICT"},
        workloads=[{"namespace": "shop", "name": "cart", "mode": "STRICT"}],
    )
    return older, newer


def test_report_for_a_past_date_uses_the_snapshot_in_force_then(
    client_as, auditor_user, two_snapshots
):
    page = client_as(auditor_user).get("/reports/", {"at": "2026-11-05"}).content.decode()

    assert "taken 2026-11-01 09:00:00 UTC" in page
    assert "2026-11-10" not in page.split("Changes period")[0]
    assert 'data-testid="coverage-namespaces">50%' in page
    assert "shop/cart" in page  # below STRICT then
    assert "DUPLICATE_NAMESPACE_POLICY" in page.replace("<wbr>", "")


def test_report_for_now_uses_the_newest_snapshot(client_as, auditor_user, two_snapshots):
    page = client_as(auditor_user).get("/reports/").content.decode()

    assert "taken 2026-11-10 09:00:00 UTC" in page
    assert 'data-testid="coverage-namespaces">100%' in page
    assert "Every workload and port is STRICT." in page


def test_report_at_an_exact_time_before_a_snapshot_uses_the_previous_one(
    client_as, auditor_user, two_snapshots
):
    page = client_as(auditor_user).get("/reports/", {"at": "2026-11-10T08:59Z"}).content.decode()

    assert "taken 2026-11-01 09:00:00 UTC" in page


def test_report_shows_cluster_and_mesh_mode(client_as, auditor_user, two_snapshots):
    page = client_as(auditor_user).get("/reports/").content.decode()

    assert 'data-testid="report-cluster">prod-eu' in page
    assert "built-in default (PERMISSIVE) applies" in page


def test_report_explains_each_workload_below_strict_with_its_reason_chain(client_as, auditor_user):
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "PERMISSIVE"},
        workloads=[
            {"namespace": "shop", "name": "cart", "mode": "PERMISSIVE"},
            {
                "namespace": "shop",
                "name": "api",
                "mode": "STRICT",
                "ports": {"9090": "DISABLE", "8080": "STRICT"},
            },
            {"namespace": "shop", "name": "web", "mode": "STRICT"},
        ],
    )
    page = client_as(auditor_user).get("/reports/").content.decode()

    assert 'Workloads and ports below STRICT <span class="count">2</span>' in page
    assert "shop/cart" in page and "shop/api" in page and "shop/web" not in page
    assert "Port <strong>9090</strong>" in page and "Port <strong>8080</strong>" not in page
    assert "The namespace policy sets PERMISSIVE." in page  # the chain's note


def test_a_valid_exemption_takes_the_row_out_of_the_coverage_score(client_as, auditor_user):
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "STRICT", "legacy": "PERMISSIVE"},
    )
    exemption_build(
        namespace="legacy",
        created_at=moment("2026-10-01 00:00"),
        expires_at=timezone.now() + timedelta(days=30),
    )
    page = client_as(auditor_user).get("/reports/").content.decode()

    assert 'data-testid="coverage-namespaces">100%' in page
    assert "1 of 1 (1 exempt, not scored)" in page
    assert "Exempt</span> until" in page


def test_an_expired_exemption_is_a_finding_even_when_the_snapshot_predates_the_expiry(
    client_as, auditor_user
):
    snapshot_build(taken_at=moment("2026-11-01 09:00"), namespaces={"legacy": "PERMISSIVE"})
    exemption_build(
        namespace="legacy",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-11-05 00:00"),
    )
    before = client_as(auditor_user).get("/reports/", {"at": "2026-11-04"}).content.decode()
    after = client_as(auditor_user).get("/reports/", {"at": "2026-11-06"}).content.decode()

    assert "EXEMPTION_EXPIRED" not in before
    assert 'data-testid="coverage-namespaces">–' in before  # the only namespace is exempt
    assert "EXEMPTION_EXPIRED" in after.replace("<wbr>", "")
    assert 'data-testid="coverage-namespaces">0%' in after


def test_report_lists_audit_entries_of_the_period_only(client_as, auditor_user, two_snapshots):
    audit_build(created_at=moment("2026-11-09 10:00"), reason="shop to STRICT, ticket SEC-42")
    audit_build(created_at=moment("2026-09-01 10:00"), reason="long ago")
    page = client_as(auditor_user).get("/reports/", {"at": "2026-11-10T12:00"}).content.decode()

    assert "shop to STRICT, ticket SEC-42" in page
    assert "long ago" not in page
    assert 'Changes in the period <span class="count">1</span>' in page


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("yesterday-ish", "is not a date or time"),
        ("2026-02-30", "is not a calendar date"),
        ("2999-01-01", "is in the future"),
    ],
)
def test_a_bad_date_is_refused_in_words(client_as, auditor_user, two_snapshots, at, message):
    response = client_as(auditor_user).get("/reports/", {"at": at})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_date_before_the_first_snapshot_says_so(client_as, auditor_user, two_snapshots):
    page = client_as(auditor_user).get("/reports/", {"at": "2026-10-01"}).content.decode()

    assert "No snapshot had been taken by 2026-10-01 23:59 UTC" in page
    assert "The oldest snapshot is from 2026-11-01 09:00 UTC" in page


def test_names_from_the_cluster_render_inert(client_as, auditor_user):
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"<script>alert(1)</script>": "PERMISSIVE"},
        cluster_name='"><img src=x onerror=alert(1)>',
    )
    page = client_as(auditor_user).get("/reports/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_print_stylesheet_puts_cluster_and_snapshot_time_in_the_page_header(
    client_as, auditor_user, two_snapshots
):
    response = client_as(auditor_user).get("/reports/print.css", {"at": "2026-11-05"})
    css = response.content.decode()

    assert response["Content-Type"].startswith("text/css")
    assert "@top-left" in css
    assert "prod-eu" in css and "2026-11-01 09:00 UTC" in css


def test_print_stylesheet_escapes_a_hostile_cluster_name(client_as, auditor_user):
    snapshot_build(taken_at=moment("2026-11-01 09:00"), cluster_name='x"; } body { display:none')
    css = client_as(auditor_user).get("/reports/print.css").content.decode()

    # The name stays inside its string: no quote or brace of its own reaches the stylesheet.
    assert css.count('"') == 4
    assert css.count("{") == css.count("}") == 3


def test_report_counts_every_weak_row_but_lists_one_page_of_them(settings):
    from policies.selectors import report_pages

    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "PERMISSIVE"},
        workloads=[
            {"namespace": "shop", "name": "a", "mode": "PERMISSIVE"},
            {"namespace": "shop", "name": "b", "mode": "STRICT", "ports": {"81": "DISABLE"}},
            {"namespace": "shop", "name": "c", "mode": "STRICT", "ports": {"82": "STRICT"}},
            {"namespace": "shop", "name": "d", "mode": "DISABLE"},
        ],
    )
    at = moment("2026-11-02 00:00")
    sizes = {**report_pages.PAGE_SIZES, "workloads": 2}

    def read(page):
        return report_pages.report_page_read(
            at=at,
            since=at - timedelta(days=1),
            filters=report_pages.ReportFilters(),
            pages={"workloads": page},
        )

    original = report_pages.PAGE_SIZES
    report_pages.PAGE_SIZES = sizes
    try:
        first, second = read(1), read(2)
    finally:
        report_pages.PAGE_SIZES = original

    assert first.summary.workloads_below_strict == 3
    assert first.workloads.total == 3
    assert [row.record.name for row in first.workloads.rows] == ["a", "b"]
    assert [port.port for port in first.workloads.rows[1].weak_ports] == ["81"]
    assert [row.record.name for row in second.workloads.rows] == ["d"]
    assert first.summary.workloads_compliant == 1


def test_a_changes_period_that_starts_after_the_report_date_is_refused(
    client_as, auditor_user, two_snapshots
):
    response = client_as(auditor_user).get("/reports/", {"at": "2026-11-05", "since": "2026-11-06"})

    assert response.status_code == 400
    assert (
        "&#x27;Changes since&#x27; must be before &#x27;As at&#x27;." in response.content.decode()
    )


def test_report_and_compare_name_audit_actions_as_the_audit_page_does(
    client_as, auditor_user, two_snapshots
):
    audit_build(created_at=moment("2026-11-09 10:00"), reason="shop to STRICT")
    audit_build(
        created_at=moment("2026-11-09 11:00"), action="exemption_create", reason="legacy bridge"
    )
    report = client_as(auditor_user).get("/reports/", {"at": "2026-11-10T12:00"}).content.decode()
    compare = (
        client_as(auditor_user)
        .get("/reports/compare/", {"from": "2026-11-02", "to": "2026-11-10"})
        .content.decode()
    )

    for page in (report, compare):
        assert "<td>Namespace mode set</td>" in page
        assert "<td>Exemption recorded</td>" in page
        assert "namespace_mode_set" not in page and "exemption_create" not in page
