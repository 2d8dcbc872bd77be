"""Lists in a real browser: the workloads list filters in place with the state in the URL,
and Back restores the filter fields along with the table (form state follows the URL)."""

import re

from playwright.sync_api import expect

from tests.browser.test_ui_pages import demo_mesh


def workload_rows(page) -> list[str]:
    return page.locator("#workload-list tbody th[scope=row] a").all_inner_texts()


def test_workloads_list_filters_in_place_and_back_restores_the_fields(
    logged_in_page, live_server, screenshot
):
    demo_mesh(extra_namespaces=12)
    page = logged_in_page("auditor")
    page.get_by_role("link", name="Workloads", exact=True).first.click()
    expect(page.get_by_role("heading", name="Workloads", level=1)).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # survives htmx swaps, not page loads

    page.get_by_label("Mode").select_option("STRICT")
    expect(page).to_have_url(re.compile(r"mode=STRICT"))
    page.get_by_label("Search").fill("api")
    expect(page).to_have_url(re.compile(r"q=api"))
    expect(page.locator(".result-count")).to_contain_text("of 2 workloads")
    assert sorted(workload_rows(page)) == ["api", "api"]

    page.get_by_label("Search").fill("ledger")
    expect(page).to_have_url(re.compile(r"q=ledger"))
    expect(page.locator(".result-count")).to_contain_text("of 1 workload")
    assert page.evaluate("window.__sameDocument") is True  # swapped, never reloaded

    page.go_back()
    expect(page).to_have_url(re.compile(r"q=api"))
    expect(page.locator(".result-count")).to_contain_text("of 2 workloads")
    expect(page.get_by_label("Search")).to_have_value("api")
    expect(page.get_by_label("Mode")).to_have_value("STRICT")

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"q=[a-z]"))
    expect(page.get_by_label("Search")).to_have_value("")
    expect(page.get_by_label("Mode")).to_have_value("STRICT")

    # The export link carries the filters the table shows.
    export = page.get_by_role("link", name=re.compile(r"Export these .* as CSV"))
    expect(export).to_have_attribute("href", re.compile(r"export\.csv\?mode=STRICT"))

    page.goto(f"{live_server.url}/workloads/?sidecar=no&sort=-findings")
    expect(page.get_by_label("Sidecar")).to_have_value("no")
    expect(page.get_by_label("Per page")).to_have_value("50")  # the size in force
    page.goto(f"{live_server.url}/workloads/?sort=-findings&per_page=25")
    screenshot(page, "workloads")


def test_back_on_the_namespace_list_restores_the_search_box(logged_in_page, live_server):
    demo_mesh(extra_namespaces=30)
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/namespaces/")
    page.get_by_label("Search").fill("team-1")
    expect(page).to_have_url(re.compile(r"q=team-1"))
    expect(page.locator(".result-count")).to_contain_text("of 10 namespaces")
    page.get_by_label("Search").fill("team-2")
    expect(page).to_have_url(re.compile(r"q=team-2"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"q=team-1"))
    expect(page.get_by_label("Search")).to_have_value("team-1")
    expect(page.locator(".result-count")).to_contain_text("of 10 namespaces")


def test_a_page_past_the_end_says_which_page_it_shows(logged_in_page, live_server):
    demo_mesh(extra_namespaces=60)
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/namespaces/?per_page=25&page=99999")
    expect(page.locator(".page-notice")).to_have_text(
        "There is no page 99999: showing page 3 of 3, the last."
    )
    page.goto(f"{live_server.url}/namespaces/?per_page=25&page=-1")
    expect(page.locator(".page-notice")).to_have_text(
        "There is no page -1: showing page 1 of 3, the first."
    )
    expect(page.locator("#namespace-table tbody tr").first).to_be_visible()


LINES_OF = """(element) => {
  // The text of each rendered line of `element`, read from where each character lands.
  const lines = [];
  let lastTop = null;
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      const top = Math.round(rect.top);
      if (lastTop === null || Math.abs(top - lastTop) > 2) { lines.push(""); lastTop = top; }
      lines[lines.length - 1] += node.data[i];
    }
  }
  return lines;
}"""


def _assert_wraps_at_underscores(lines: list[str], code: str):
    assert "".join(lines) == code
    assert len(lines) > 1, "the cell was wide enough not to wrap: the test proves nothing"
    for line in lines[:-1]:
        assert line.endswith("_"), f"broke mid-word: {lines}"


def test_long_codes_wrap_at_underscores_on_screen_and_in_print(logged_in_page, live_server):
    demo_mesh()
    page = logged_in_page("auditor")
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{live_server.url}/findings/?severity=error")
    code = page.locator("#finding-table td code").first
    expect(code).to_contain_text("DESTINATION_RULE_DISABLES_MTLS_TO_STRICT")
    _assert_wraps_at_underscores(
        code.evaluate(LINES_OF), "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT"
    )
    page.emulate_media(media="print")
    _assert_wraps_at_underscores(
        code.evaluate(LINES_OF), "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT"
    )
