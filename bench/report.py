"""The report page at 10,000 namespaces: server time, load in chromium, the printed PDF.

    .venv/bin/python bench/report.py              # uses (or builds once) bench/stored_mesh.py
    .venv/bin/python bench/report.py --rebuild    # builds the stored mesh again

Three measurements on the stored mesh (PostgreSQL):
1. server: whole requests through Django's test client, median of --repeat (target < 150 ms);
2. browser: gunicorn serves meshui, Playwright drives Debian's chromium; each page's
   navigation timing (navigationStart to loadEventEnd) and the htmx swap of a section's next
   page, median of --repeat (target < 1 s);
3. print: the printable report of the snapshot whose exceptions are 5 % of workloads
   (7,500 workloads, 500 namespaces), opened and rendered to PDF by chromium (target < 30 s),
   the first time (checksums computed) and again (checksums kept).
It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stored_mesh import DATABASE, FIVE_PERCENT_AGE, stored_mesh  # noqa: E402

SERVER_TARGET_MS = 150
BROWSER_TARGET_MS = 1000
PDF_TARGET_S = 30


def report_urls(summary) -> list[tuple[str, str, dict]]:
    """The report's pages on the current snapshot: first, later and last pages, filters."""
    from policies.selectors.report_pages import PAGE_SIZES

    last_workloads = -(-summary.workloads_below_strict // PAGE_SIZES["workloads"])
    last_namespaces = -(-summary.namespaces_below_strict // PAGE_SIZES["namespaces"])
    swap = {"HX-Request": "true", "HX-Target": "report-workloads"}
    return [
        ("report, first page", "/reports/", {}),
        ("report, workloads page 2", "/reports/?workloads_page=2", {}),
        (
            f"report, last pages ({last_workloads:,} / {last_namespaces:,})",
            f"/reports/?workloads_page={last_workloads}&namespaces_page={last_namespaces}",
            {},
        ),
        ("report, filtered ns-09 DISABLE", "/reports/?namespace=ns-09&mode=DISABLE", {}),
        ("report, findings: errors, page 50", "/reports/?severity=error&findings_page=50", {}),
        (
            "report, compliant rows, page 900",
            "/reports/?compliant=on&compliant_workloads_page=900",
            {},
        ),
        ("report, htmx swap of workloads page 3", "/reports/?workloads_page=3", swap),
    ]


def median_ms(client, url, headers, repeat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        client.get(url, headers=headers)
    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.get(url, headers=headers)
            timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings), len(queries), len(response.content)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "meshui.settings",
    }
    env.pop("MESHUI_TEST_DB_NAME", None)
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "meshui.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def session_cookie(port: int) -> dict:
    """A logged-in session for the bench auditor, as the login form would leave it."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "domain": "127.0.0.1",
        "path": "/",
    }


NAVIGATION_MS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return nav.loadEventEnd - nav.startTime;
}"""


def browser_figures(base: str, cookie: dict, urls, repeat: int, five_percent_at: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1366, "height": 860})
        context.add_cookies([cookie])
        page = context.new_page()
        page.set_default_timeout(120_000)
        print(f"\n{'chromium: page load (navigation timing)':<52} {'median':>9}  target < 1 s")
        for label, url, headers in urls:
            if headers:
                continue
            timings = []
            for _ in range(repeat + 1):
                page.goto(base + url, wait_until="load")
                timings.append(page.evaluate(NAVIGATION_MS))
            median = statistics.median(timings[1:])
            verdict = "ok" if median < BROWSER_TARGET_MS else "OVER"
            print(f"{label:<52} {median:>7.0f}ms  {verdict}")

        swaps = []
        for _ in range(repeat):
            page.goto(base + "/reports/", wait_until="load")
            section = page.locator("#report-workloads")
            began = time.perf_counter()
            section.get_by_role("link", name="Next →").click()
            section.get_by_text("Showing 21–40").wait_for()
            swaps.append((time.perf_counter() - began) * 1000)
        median = statistics.median(swaps)
        verdict = "ok" if median < BROWSER_TARGET_MS else "OVER"
        label = "htmx: workloads section, next page (click to shown)"
        print(f"{label:<52} {median:>7.0f}ms  {verdict}")

        print(f"\n{'printed report, 5 % exceptions':<52} {'open':>9} {'pdf':>9} {'pages':>7}")
        for attempt in ("first (checksums computed)", "again (checksums kept)"):
            began = time.perf_counter()
            page.goto(f"{base}/reports/print/?at={five_percent_at}", wait_until="load")
            opened = time.perf_counter() - began
            began = time.perf_counter()
            pdf = page.pdf(prefer_css_page_size=True)
            rendered = time.perf_counter() - began
            pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
            total = opened + rendered
            verdict = "ok" if total < PDF_TARGET_S else "OVER"
            print(
                f"{attempt:<52} {opened:>8.1f}s {rendered:>8.1f}s {pages:>7,}  "
                f"{total:.1f} s in all, {len(pdf) / 1e6:.1f} MB, {verdict}"
            )
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    current = stored_mesh(rebuild=args.rebuild)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from policies.exports import export_scope
    from policies.models import ExportChecksum
    from policies.selectors.report_pages import report_summary

    scope = export_scope(at=timezone.now(), since=timezone.now() - timezone.timedelta(days=30))
    summary = report_summary(scope, timed={})
    print(
        f"stored mesh: {current.namespaces_total:,} namespaces, {current.workloads_total:,} "
        f"workloads; {summary.namespaces_below_strict:,} namespaces and "
        f"{summary.workloads_below_strict:,} workloads below STRICT"
    )
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    urls = report_urls(summary)
    print(f"\n{'server (Django test client)':<52} {'median':>8} {'queries':>8} {'KB':>6}")
    for label, url, headers in urls:
        median, queries, size = median_ms(client, url, headers, args.repeat)
        verdict = "ok" if median < SERVER_TARGET_MS else "OVER"
        print(f"{label:<52} {median:>6.0f}ms {queries:>8} {size / 1024:>6.0f}  {verdict}")
    if args.no_browser:
        return 0

    five_percent_at = (current.taken_at - FIVE_PERCENT_AGE / 2).strftime("%Y-%m-%dT%H:%M:%SZ")
    # The first print computes the checksums: start from none kept, as after a new sync.
    ExportChecksum.objects.all().delete()
    port = free_port()
    server = gunicorn_start(port)
    try:
        browser_figures(
            f"http://127.0.0.1:{port}", session_cookie(port), urls, args.repeat, five_percent_at
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
