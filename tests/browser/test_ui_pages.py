"""The UI in a real browser: login, htmx filtering with URL state and back button, the reason
chain, the stale banner, the sync-now progress, and hostile names staying inert."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from policies import tasks
from tests.engine.builders import (
    deployment,
    destination_rule,
    labelled_namespace,
    mesh_policy,
    namespace,
    peer_auth,
    service,
)
from tests.factories import CREATED, snapshot_from_manifests, snapshot_with, sync_run

NO_INJECTION = {"sidecar.istio.io/inject": "false"}


def demo_mesh(*, extra_namespaces: int = 0):
    """A mesh that looks like a real one, for the pages and their screenshots.

    Built from manifests and stored as a sync would (engine posture, sync writer), so every
    mode, reason and finding shown is one meshui really computes for this cluster:
    - the mesh is PERMISSIVE (istio-system/default), which the engine reports (info);
    - checkout and payments are STRICT by namespace policy; checkout has a second, newer
      namespace-wide policy that loses (duplicate, warning);
    - payments/ledger is STRICT by its own policy except metrics port 9090 (PERMISSIVE),
      with a DestinationRule sending ISTIO_MUTUAL; payments/batch-export opts out of
      injection although payments is STRICT (warning);
    - frontend's DestinationRule sends plaintext to STRICT checkout/api (error);
    - legacy-batch is DISABLE and has no sidecar injection.
    """
    names = ["checkout", "payments", "catalog", "frontend", "legacy-batch", "observability"]
    names += [f"team-{i:02d}" for i in range(extra_namespaces)]
    objects: list[dict] = [
        namespace("istio-system"),
        mesh_policy("PERMISSIVE", created="2023-03-02T09:00:00Z"),
        peer_auth("checkout", mode="STRICT", created="2024-01-10T08:00:00Z"),
        peer_auth("checkout", "strict-v2", mode="STRICT", created="2024-06-01T12:30:00Z"),
        peer_auth("payments", mode="STRICT", created="2024-02-14T10:00:00Z"),
        peer_auth(
            "payments",
            "ledger-metrics",
            mode="STRICT",
            selector={"app": "ledger"},
            ports={"9090": "PERMISSIVE"},  # keys are strings in API JSON
            created="2024-04-03T16:20:00Z",
        ),
        peer_auth("legacy-batch", mode="DISABLE", created="2023-11-20T07:45:00Z"),
        deployment("payments", "ledger", ports=[8080, 9090]),
        service("payments", "ledger"),
        destination_rule(
            "payments", "ledger", "ledger.payments.svc.cluster.local", created=CREATED
        ),
        deployment("payments", "batch-export", labels={"app": "batch-export", **NO_INJECTION}),
        service("checkout", "api"),
        destination_rule("frontend", "checkout-api", "api.checkout.svc.cluster.local", "DISABLE"),
    ]
    for name in names:
        if name == "legacy-batch":
            objects.append(namespace(name))
        else:
            objects.append(labelled_namespace(name, {"istio-injection": "enabled"}))
        objects += [deployment(name, app, ports=[8080]) for app in ("api", "worker", "web")]
    snapshot = snapshot_from_manifests(objects, cluster_name="prod-eu-west1")
    sync_run(snapshot=snapshot, duration_ms=1840)
    return snapshot


def rows(page) -> list[str]:
    return page.locator("#namespace-table tbody th[scope=row] a").all_inner_texts()


def test_login_then_overview_shows_the_mesh_at_a_glance(page, log_in, live_server, screenshot):
    demo_mesh()
    page.goto(f"{live_server.url}/namespaces/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/namespaces/"))
    log_in(page, "auditor")
    expect(page.get_by_role("heading", name="Mesh-wide mode")).to_be_visible()
    expect(page.locator("#strict-share")).to_contain_text("of workloads STRICT")
    expect(page.locator(".mesh")).to_contain_text("not required to be encrypted")
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)  # auditors can't
    screenshot(page, "overview")


def test_filter_namespaces_with_htmx_keeps_state_in_the_url_and_back_works(
    logged_in_page, live_server, screenshot
):
    demo_mesh(extra_namespaces=60)
    page = logged_in_page("oncall")
    page.get_by_role("link", name="Namespaces", exact=True).click()
    expect(page.locator(".result-count")).to_contain_text("of 67 namespaces")  # and istio-system
    page.evaluate("window.__sameDocument = true")  # survives htmx swaps, not page loads

    page.get_by_label("Mode").select_option("STRICT")
    expect(page).to_have_url(re.compile(r"mode=STRICT"))
    expect(page.locator(".result-count")).to_contain_text("of 2 namespaces")
    assert rows(page) == ["checkout", "payments"]

    page.get_by_label("Mode").select_option("")
    page.get_by_label("Search").fill("team-0")
    expect(page).to_have_url(re.compile(r"q=team-0"))
    expect(page.locator(".result-count")).to_contain_text("of 10 namespaces")

    page.get_by_role("link", name="Findings", exact=True).first.wait_for()
    page.locator("#namespace-table").get_by_role("link", name="Namespace").click()
    expect(page).to_have_url(re.compile(r"sort=-name"))
    expect(page.locator("#namespace-table tbody tr").first).to_contain_text("team-09")
    assert page.evaluate("window.__sameDocument") is True  # swapped, never reloaded

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"sort=-name"))
    expect(page.locator("#namespace-table tbody tr").first).to_contain_text("team-00")

    page.goto(f"{live_server.url}/namespaces/?per_page=25")
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator(".pagination")).to_contain_text("Page 2 of 3")
    page.reload()  # the URL alone restores the state: bookmarkable
    expect(page.locator(".pagination")).to_contain_text("Page 2 of 3")
    page.goto(f"{live_server.url}/namespaces/?per_page=25")
    screenshot(page, "namespaces")


def test_open_a_namespace_and_read_why_it_has_its_mode(logged_in_page, live_server, screenshot):
    demo_mesh()
    page = logged_in_page("auditor")
    page.goto(f"{live_server.url}/namespaces/")
    page.get_by_role("link", name="checkout", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^checkout"))).to_be_visible()
    why = page.locator("details.why").first
    expect(why).to_contain_text("decided at the namespace level by checkout/default")
    expect(why).to_contain_text("overridden by a more specific level")
    expect(why).to_contain_text("Ignored: checkout/strict-v2 (STRICT)")
    expect(why).to_contain_text("lost because it was created later")
    screenshot(page, "namespace")

    # A workload's chain is one click away and needs no JavaScript (<details>).
    workload_why = page.locator("#workload-table details.why").first
    workload_why.locator("summary").click()
    expect(workload_why.locator("ol.chain > li")).to_have_count(3)  # mesh → namespace → workload

    page.goto(f"{live_server.url}/namespaces/payments/workloads/Deployment/ledger/")
    expect(page.locator("table.ports")).to_contain_text("9090")
    port_why = page.locator("table.ports details.why").first
    port_why.locator("summary").click()
    expect(port_why).to_contain_text("payments/ledger-metrics sets port 9090 to PERMISSIVE.")
    screenshot(page, "workload")


def test_stale_banner_appears_when_the_last_sync_failed(logged_in_page, live_server):
    demo_mesh()
    sync_run(
        status="failed",
        error="Unavailable: the API server timed out after 30 s",
        ago=timedelta(seconds=2),
    )
    page = logged_in_page("auditor")
    banner = page.get_by_role("alert").filter(has_text="Stale data.")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("The last sync failed")
    expect(banner).to_contain_text("the API server timed out")
    page.get_by_role("link", name="Namespaces", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Stale data.")).to_be_visible()


def test_policies_and_findings_pages(logged_in_page, live_server, screenshot):
    demo_mesh()
    page = logged_in_page("auditor")
    page.get_by_role("link", name="Policies", exact=True).click()
    expect(page.locator("#pa-table")).to_contain_text("strict-v2")
    expect(page.locator("#dr-table")).to_contain_text("ledger.payments.svc.cluster.local")
    page.get_by_label("PA status").select_option("shadowed")
    expect(page).to_have_url(re.compile(r"status=shadowed"))
    expect(page.locator("#pa-table .result-count")).to_contain_text("Showing 1–1 of 1")
    page.goto(f"{live_server.url}/policies/")
    screenshot(page, "policies")
    page.get_by_role("link", name="Findings", exact=True).click()
    page.get_by_label("Severity").select_option("error")
    expect(page).to_have_url(re.compile(r"severity=error"))
    expect(page.locator("#finding-table tbody tr")).to_have_count(1)
    page.goto(f"{live_server.url}/findings/")
    screenshot(page, "findings")


def test_sync_now_shows_progress_and_swaps_in_the_fresh_snapshot(
    logged_in_page, live_server, monkeypatch
):
    demo_mesh()

    def sync_finishes_at_once(kwargs=None, **options):  # the eager task, minus the cluster
        fresh = snapshot_with(
            namespaces=["fresh-a", "fresh-b"],
            mesh_mode="STRICT",
            mesh_policy="istio-system/default",
        )
        sync_run(snapshot=fresh, trigger=kwargs["trigger"], ago=timedelta(0))

    monkeypatch.setattr(tasks.sync_cluster, "apply_async", sync_finishes_at_once)
    page = logged_in_page("oncall")
    expect(page.locator("#ns-title")).to_contain_text("7")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#ns-title")).to_contain_text("2")  # the page reloaded its data
    expect(page.locator(".mesh .big .badge")).to_have_text("STRICT")
    expect(page.locator("#sync-status")).to_contain_text("Succeeded")


def test_hostile_names_and_labels_never_run(logged_in_page, live_server):
    payload = '"><img src=x onerror=alert(1)>'
    script = "<script>alert('meshui')</script>"
    snapshot_with(
        namespaces=[{"name": payload, "labels": {script: script}}],
        workloads=[{"namespace": payload, "name": payload, "labels": {"app": script}}],
        findings=[{"namespace": payload, "name": payload, "message": script, "code": script}],
        policies=[
            {
                "namespace": payload,
                "name": payload,
                "manifest": {"metadata": {"annotations": {"x": script}}},
            }
        ],
    )
    page = logged_in_page("auditor")
    for path in ["/namespaces/", "/findings/", "/policies/"]:
        page.goto(live_server.url + path)
    page.goto(f"{live_server.url}/namespaces/")
    page.locator("#namespace-table tbody a").first.click()
    expect(page.locator("h1")).to_contain_text(payload)  # shown as text
    expect(page.locator("dl.facts")).to_contain_text(script)
    assert page.locator("img[src=x]").count() == 0
    # The `page` fixture fails the test if any alert() opened a dialog.


@pytest.mark.parametrize("width", [1280, 1024])
def test_pages_fit_a_laptop_screen_without_sideways_scrolling(logged_in_page, live_server, width):
    demo_mesh()
    page = logged_in_page("admin")
    page.set_viewport_size({"width": width, "height": 800})
    for path in ["/", "/namespaces/", "/namespaces/payments/", "/policies/", "/findings/"]:
        page.goto(live_server.url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is {overflow}px too wide at {width}px"


def test_keyboard_users_reach_content_with_visible_focus(logged_in_page):
    demo_mesh()
    page = logged_in_page("auditor")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('main') !== null")
    assert focused


@pytest.mark.parametrize("role", ["admin", "oncall"])
def test_sync_button_is_offered_to_roles_that_may_sync(logged_in_page, role):
    demo_mesh()
    page = logged_in_page(role)
    expect(page.get_by_role("button", name="Sync now")).to_be_visible()
