"""Real-browser fixtures: Playwright driving Debian's /usr/bin/chromium against live_server.

Shared by every browser test (the UI's, the policy changes', the reports'):

    def test_something(logged_in_page, live_server):
        page = logged_in_page("auditor")
        page.goto(live_server.url + "/namespaces/")

`page` fails the test if the page opens a dialog (alert/confirm: injected script ran) or
the browser reports a Content Security Policy violation. Screenshots go to
docs/screenshots/ when MESHUI_SCREENSHOTS=1 (see `screenshot`), else to a temp folder, so a
normal test run leaves the checkout untouched.
"""

import os
from pathlib import Path

import pytest

from tests.factories import DEFAULT_PASSWORD, user_with_role

# The traffic tests' real Prometheus, for test_traffic.py.
from tests.traffic.conftest import (  # noqa: F401
    mesh_prometheus,
    prometheus_blocks,
    traffic_settings,
)

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (factories) are still plain synchronous calls, so the async guard can stand down.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LAPTOP_VIEWPORT = {"width": 1366, "height": 860}
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Long enough for a loaded CI machine; a page that never shows the state still fails.
TIMEOUT_MS = 30_000


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, transactional_db, settings):
    """A fresh browser tab (own cookies) that fails the test on dialogs and CSP violations."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    context = browser.new_context(viewport=LAPTOP_VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    dialogs: list[str] = []
    console_errors: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    tab.dialogs = dialogs
    tab.console_errors = console_errors
    yield tab
    context.close()
    assert dialogs == [], f"the page opened dialogs: {dialogs}"
    violations = [text for text in console_errors if "Content Security Policy" in text]
    assert violations == [], f"CSP violations: {violations}"


@pytest.fixture
def log_in(live_server):
    """Log `page` in through the login form as a new user with `role`."""

    def log_in_as(page, role: str, username: str = ""):
        user = user_with_role(role, username=username or f"{role}-browser")
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return log_in_as


@pytest.fixture
def logged_in_page(page, log_in):
    """`logged_in_page("auditor")`: the tab, logged in with that role, on the overview."""
    return lambda role="auditor": log_in(page, role)


@pytest.fixture
def screenshot(tmp_path):
    """Save a full-page screenshot; into docs/screenshots/ when MESHUI_SCREENSHOTS=1."""
    folder = SCREENSHOT_DIR if os.environ.get("MESHUI_SCREENSHOTS") == "1" else tmp_path

    def save(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000  # a real rendering, not a blank page
        return path

    return save
