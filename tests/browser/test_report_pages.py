"""The report at scale in a browser: summary first, exceptions paged in place, printed whole."""

import hashlib
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from tests.reports.builders import audit_build, exemption_build, snapshot_build


def seed_mesh():
    """45 workloads below STRICT in 15 PERMISSIVE namespaces, 10 STRICT namespaces."""
    namespaces = {f"team-{index:02d}": "PERMISSIVE" for index in range(15)}
    namespaces.update({f"core-{index:02d}": "STRICT" for index in range(10)})
    workloads = [
        {"namespace": f"team-{index:02d}", "name": f"svc-{number}", "mode": "PERMISSIVE"}
        for index in range(15)
        for number in range(3)
    ] + [{"namespace": f"core-{index:02d}", "name": "api", "mode": "STRICT"} for index in range(10)]
    snapshot_build(
        taken_at=timezone.now() - timedelta(hours=1), namespaces=namespaces, workloads=workloads
    )
    exemption_build(
        namespace="team-03",
        created_at=timezone.now() - timedelta(days=2),
        expires_at=timezone.now() + timedelta(days=20),
    )
    audit_build(created_at=timezone.now() - timedelta(days=1), reason="core to STRICT, CHG-7")


def test_auditor_pages_through_the_exceptions_and_back(logged_in_page, live_server, screenshot):
    seed_mesh()
    page = logged_in_page("auditor")
    page.get_by_role("link", name="Reports").click()

    expect(page.get_by_test_id("summary-workloads-below")).to_contain_text("45 of 55 workloads")
    expect(page.get_by_test_id("summary-compliant")).to_contain_text(
        "10 namespaces and 10 workloads"
    )
    workloads = page.locator("#report-workloads")
    expect(workloads).to_contain_text("Showing 1–20 of 45")
    expect(workloads).to_contain_text("team-00/svc-0")

    workloads.get_by_role("link", name="Next →").click()
    expect(workloads).to_contain_text("Showing 21–40 of 45")
    expect(workloads).not_to_contain_text("team-00/svc-0")
    assert "workloads_page=2" in page.url and "at=" in page.url
    # Only the section swapped: the summary and the other sections are the same elements.
    expect(page.get_by_test_id("summary-namespaces-below")).to_contain_text("15 of 25")
    expect(page.locator("#report-namespaces")).to_contain_text("team-00")

    workloads.get_by_role("link", name="← Previous").click()
    expect(workloads).to_contain_text("Showing 1–20 of 45")
    workloads.get_by_role("link", name="Next →").click()
    expect(workloads).to_contain_text("Showing 21–40 of 45")
    page.go_back()  # the browser's Back restores the page the address bar names
    expect(workloads).to_contain_text("Showing 1–20 of 45")

    page.get_by_label("Namespace contains").fill("team-01")
    expect(workloads).to_contain_text("team-01/svc-2")
    expect(workloads).not_to_contain_text("team-00/svc-0")
    assert "namespace=team-01" in page.url

    # Taken last: a screenshot leaves empty style attributes that htmx's history cache keeps.
    page.goto(f"{live_server.url}/reports/")
    screenshot(page, "report")


def test_printable_report_holds_every_exception_and_the_exports_checksums(
    logged_in_page, live_server, screenshot, tmp_path
):
    seed_mesh()
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/reports/")
    page.get_by_role("link", name="Printable report", exact=True).click()

    expect(
        page.get_by_role("heading", name="Workloads and ports below STRICT (45)")
    ).to_be_visible()
    expect(page.locator(".report-print-table").nth(1).locator("tbody tr")).to_have_count(45)
    checksum = page.get_by_test_id("sha256-workloads-csv").inner_text()
    with page.expect_download() as download:
        page.get_by_test_id("export-workloads-csv").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == checksum
    assert download.value.suggested_filename in page.content()

    screenshot(page, "report-print")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    pdf = page.pdf(prefer_css_page_size=True, path=str(tmp_path / "report.pdf"))
    assert pdf.startswith(b"%PDF")
