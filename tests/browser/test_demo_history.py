"""The demo's month in a real browser: trends draw lines at once, and the audit log shows
each change as one entry whose previews unfold under it."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from policies.services.demo_history import DEMO_MARK, demo_history_write
from tests.factories import user_with_role
from tests.sync.test_sync_service import demo_mesh


@pytest.fixture
def demo(kube):
    kube.seed(demo_mesh())
    users = {role: user_with_role(role, username=role) for role in ("admin", "oncall", "auditor")}
    demo_history_write(now=timezone.now(), users=users)
    return kube


def test_demo_trends_show_the_month_at_once(logged_in_page, live_server, demo, screenshot):
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/reports/trends/")
    lines = page.locator("#trend-charts svg polyline")
    expect(lines.first).to_be_visible()
    points = lines.first.get_attribute("points").split()
    assert len(points) >= 6  # a month of snapshots, not one point from today
    screenshot(page, "demo-trends")


def test_audit_log_folds_previews_under_their_change(logged_in_page, live_server, demo, screenshot):
    page = logged_in_page("auditor")
    page.get_by_role("link", name="Audit log").click()
    changes = page.locator("tbody.audit-change")
    # The newest change was previewed twice and never confirmed: its last preview leads.
    expect(changes.first.locator("tr").first).to_contain_text("Previewed")
    expect(changes.first.locator("summary")).to_have_text("1 more attempt: 1 previewed")
    first = changes.nth(1)
    expect(first.locator("tr").first).to_contain_text("Applied")
    expect(first.locator("tr").first).to_contain_text("PERMISSIVE → STRICT")
    summary = first.locator("summary")
    expect(summary).to_have_text(re.compile(r"\d more attempts?: \d previewed"))
    folded = first.locator("table.audit-folded")
    expect(folded).to_be_hidden()
    summary.click()
    expect(folded).to_be_visible()
    expect(folded).to_contain_text("Previewed")
    expect(page.locator("table.audit")).to_contain_text(DEMO_MARK)

    # Filtering swaps the table in place; Back brings the fields back with it.
    page.get_by_label("Outcome").select_option("denied")
    expect(page).to_have_url(re.compile(r"outcome=denied"))
    expect(page.locator("tbody.audit-change")).to_have_count(2)
    expect(page.locator("table.audit")).not_to_contain_text("Previewed")
    page.get_by_label("Outcome").select_option("applied")
    expect(page).to_have_url(re.compile(r"outcome=applied"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"outcome=denied"))
    expect(page.get_by_label("Outcome")).to_have_value("denied")
    expect(page.locator("tbody.audit-change")).to_have_count(2)

    # Last: Playwright's screenshot leaves style="" on inputs, which a later history
    # restore would re-insert (a CSP report that is the test's, not meshui's).
    page.goto(f"{live_server.url}/audit/")
    page.locator("tbody.audit-change summary").nth(1).click()
    screenshot(page, "demo-audit-log")


def test_an_invalid_audit_filter_shows_the_error_and_no_entries(logged_in_page, live_server, demo):
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/audit/?from=notadate")
    expect(page.get_by_role("alert")).to_contain_text("From: Enter a valid date.")
    expect(page.locator("tbody.audit-change")).to_have_count(0)


def test_the_audit_logs_short_date_names_fill_the_date_fields(logged_in_page, live_server, demo):
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/audit/?from=2026-11-01&to=2099-12-31")
    expect(page.get_by_label("From")).to_have_value("2026-11-01")
    expect(page.get_by_label("To")).to_have_value("2099-12-31")
    page.get_by_label("Outcome").select_option("denied")
    expect(page).to_have_url(re.compile(r"outcome=denied"))
    page.go_back()
    expect(page.get_by_label("From")).to_have_value("2026-11-01")
    expect(page.get_by_label("Outcome")).to_have_value("")
