"""The auditor's path in a real browser: open a past report, print it, compare two dates."""

from playwright.sync_api import expect

from tests.factories import engine_finding
from tests.reports.builders import audit_build, moment, snapshot_build

# Without a mesh-wide policy the engine reports the mesh PERMISSIVE in both snapshots.
NO_MESH_POLICY = {"code": "MESH_PERMISSIVE", "namespace": "istio-system", "kind": "Mesh"}


def seed_history():
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "PERMISSIVE", "billing": "STRICT"},
        workloads=[{"namespace": "shop", "name": "cart", "mode": "PERMISSIVE"}],
        findings=[
            {
                "code": "DUPLICATE_NAMESPACE_POLICY",
                "namespace": "shop",
                "name": "default",
                "message": engine_finding(
                    "DUPLICATE_NAMESPACE_POLICY", namespace="shop", mode="PERMISSIVE"
                )[1],
            },
            NO_MESH_POLICY,
        ],
    )
    audit_build(created_at=moment("2026-11-05 10:00"), reason="shop to STRICT, ticket SEC-42")
    snapshot_build(
        taken_at=moment("2026-11-05 10:01"),
        namespaces={"shop": "STRICT", "billing": "STRICT"},
        workloads=[{"namespace": "shop", "name": "cart", "mode": "STRICT"}],
        findings=[NO_MESH_POLICY],
    )


def test_auditor_opens_a_past_report_and_compares_two_dates(
    logged_in_page, live_server, screenshot, tmp_path
):
    seed_history()
    page = logged_in_page("auditor")

    page.get_by_role("link", name="Reports").click()
    page.get_by_label("As at").fill("2026-11-03")
    page.get_by_role("button", name="Show report").click()
    expect(page.get_by_test_id("report-snapshot")).to_contain_text("taken 2026-11-01 09:00:00")
    expect(page.get_by_test_id("coverage-namespaces")).to_have_text("50%")
    expect(page.get_by_role("heading", name="shop/cart")).to_be_visible()

    pdf = page.pdf(prefer_css_page_size=True, path=str(tmp_path / "report.pdf"))
    assert pdf.startswith(b"%PDF")

    page.get_by_role("link", name="Compare two dates").click()
    page.get_by_label("From").fill("2026-11-02")
    page.get_by_label("To").fill("2026-11-10")
    page.get_by_role("button", name="Compare").click()
    result = page.locator("#compare-result")
    expect(result).to_contain_text("Namespaces that changed (1)")
    expect(result).to_contain_text("shop to STRICT, ticket SEC-42")
    expect(result).to_contain_text("Findings that cleared (1)")
    # htmx swapped the result in place and kept the dates in the address bar.
    assert "from=2026-11-02" in page.url
    screenshot(page, "compare")


def test_report_prints_without_navigation(logged_in_page, live_server):
    seed_history()
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/reports/")

    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".report-form")).to_be_hidden()
    expect(page.get_by_role("heading", name="mTLS posture report")).to_be_visible()


def test_admin_records_an_exemption_and_the_report_marks_the_namespace(
    logged_in_page, live_server, screenshot
):
    from datetime import timedelta

    from django.utils import timezone

    snapshot_build(
        taken_at=timezone.now() - timedelta(hours=1),
        namespaces={"shop": "STRICT", "legacy": "PERMISSIVE"},
    )
    snapshot_build(taken_at=timezone.now() - timedelta(days=3), namespaces={"shop": "PERMISSIVE"})
    page = logged_in_page("admin")
    page.goto(f"{live_server.url}/exemptions/")

    page.locator("section.exemption-new").get_by_label("Namespace").fill("legacy")
    page.get_by_label("Owner").fill("team-legacy")
    page.get_by_label("Justification").fill("Mainframe bridge speaks plaintext until Q1.")
    page.get_by_label("Expires on").fill((timezone.now() + timedelta(days=30)).date().isoformat())
    page.get_by_role("button", name="Record exemption").click()
    expect(page.locator(".messages")).to_contain_text("Exemption recorded for legacy")
    screenshot(page, "exemptions")

    page.get_by_role("link", name="Posture report").click()
    expect(page.get_by_test_id("coverage-namespaces")).to_have_text("100%")
    expect(page.locator("tr.exempt")).to_contain_text("legacy")

    page.get_by_role("link", name="Trends").click()
    expect(page.locator("#trend-charts svg polyline").first).to_be_visible()
    screenshot(page, "trends")


def test_auditor_pages_a_long_comparison_in_place(logged_in_page, live_server, screenshot):
    names = [f"team-{index:03d}" for index in range(60)]
    snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces=dict.fromkeys(names, "STRICT"),
        workloads=[{"namespace": name, "name": "api", "mode": "STRICT"} for name in names],
    )
    snapshot_build(
        taken_at=moment("2026-11-05 10:01"),
        namespaces=dict.fromkeys(names, "PERMISSIVE"),
        workloads=[
            {"namespace": name, "name": "api", "mode": "STRICT", "ports": {"8443": "DISABLE"}}
            for name in names
        ],
    )
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/reports/compare/?from=2026-11-02&to=2026-11-10")
    workloads = page.locator("#compare-workloads")
    expect(workloads).to_contain_text("Showing 1–50 of 60")
    expect(workloads).to_contain_text("ports changed: 8443 STRICT → DISABLE")
    screenshot(page, "compare-paged")

    page.evaluate("window.marker = 'same page'")  # gone if the link loads a new page
    workloads.get_by_role("link", name="Next →").click()
    expect(workloads).to_contain_text("Showing 51–60 of 60")
    expect(page.locator("#compare-namespaces")).to_contain_text("Showing 1–50 of 60")
    assert page.evaluate("window.marker") == "same page"
    assert "workloads_page=2" in page.url
