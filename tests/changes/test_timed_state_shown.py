"""A namespace in a timed mode says so wherever its mode shows ("PERMISSIVE until 14:30, then
STRICT"), in one query per page; an overdue restore is shown loudly on every page, in
/metrics and in /healthz until it runs or someone cancels it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.models import AuditEntry, TimedRestore
from policies.selectors.report_pages import ReportFilters, report_page_read
from tests.factories import user_with_role
from tests.reports.builders import snapshot_build

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "scrape-me"


@pytest.fixture
def mesh_snapshot():
    names = {"shop": "PERMISSIVE", "pay": "STRICT", "legacy": "PERMISSIVE"}
    names |= {f"team-{number:02}": "PERMISSIVE" for number in range(8)}
    # Taken before the timed changes below, so a report as at any of their moments has it.
    return snapshot_build(taken_at=timezone.now() - timedelta(hours=1), namespaces=names)


@pytest.fixture
def auditor(client, db):
    client.force_login(user_with_role("auditor", username="aud"))
    return client


def timed_change(namespace: str, *, restore_at, mode="PERMISSIVE", back="STRICT", made=None):
    """On-call's timed change of `namespace` to `mode`, and its pending restore to `back`."""
    change = AuditEntry.objects.create(
        created_at=made or timezone.now() - timedelta(minutes=5),
        username="olga",
        role="oncall",
        action="namespace_mode_set",
        target_kind="PeerAuthentication",
        target_namespace=namespace,
        target_name="default",
        reason="INC-30",
        outcome="applied",
        object_sent={
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"mtls": {"mode": mode}},
        },
    )
    return TimedRestore.objects.create(
        namespace=namespace, restore_mode=back, restore_at=restore_at, change=change
    )


def until_words(at) -> str:
    """How pages write the time: the time alone today, with the date on another day."""
    if timezone.localdate(at) == timezone.localdate():
        return f"until {at:%H:%M} UTC"
    return f"until {at:%Y-%m-%d %H:%M} UTC"


def test_the_namespace_list_shows_each_timed_mode_beside_the_mode(auditor, mesh_snapshot):
    at = timezone.now() + timedelta(minutes=30)
    timed_change("shop", restore_at=at)
    timed_change("legacy", restore_at=at + timedelta(days=2), back="ABSENT")
    page = auditor.get("/namespaces/").content.decode()
    assert f"PERMISSIVE {until_words(at)}, then STRICT" in page
    later = at + timedelta(days=2)
    assert f"PERMISSIVE {until_words(later)}, then no namespace-wide policy" in page
    assert page.count('class="timed-state') == 2


def test_the_namespace_list_reads_timed_modes_in_one_query_whatever_their_number(
    auditor, mesh_snapshot
):
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert auditor.get("/namespaces/").status_code == 200
        return len(captured)

    at = timezone.now() + timedelta(hours=1)
    timed_change("shop", restore_at=at)
    with_one = queries_for_the_list()
    for number in range(8):
        timed_change(f"team-{number:02}", restore_at=at)
    assert queries_for_the_list() == with_one
    assert auditor.get("/namespaces/").content.decode().count('class="timed-state') == 9


def test_the_overview_lists_namespaces_in_a_timed_mode(auditor, mesh_snapshot):
    at = timezone.now() + timedelta(minutes=45)
    timed_change("shop", restore_at=at)
    page = auditor.get("/").content.decode()
    assert "Timed namespace modes" in page
    assert f"PERMISSIVE {until_words(at)}, then STRICT" in page
    assert 'href="/namespaces/shop/"' in page


def test_the_report_shows_the_timed_mode_as_it_stood_at_the_reports_moment(auditor, mesh_snapshot):
    at = timezone.now() + timedelta(minutes=45)
    restore = timed_change("shop", restore_at=at)
    page = auditor.get("/reports/").content.decode()
    assert f"PERMISSIVE {until_words(at)}, then STRICT" in page

    def timed_in_report(moment):
        report = report_page_read(
            at=moment,
            since=moment - timedelta(days=1),
            filters=ReportFilters(),
            pages={},
            show_compliant=True,
        )
        rows = [*report.namespaces.rows, *report.compliant_namespaces.rows]
        return {row.record.name: row.timed for row in rows if row.timed}

    assert set(timed_in_report(timezone.now())) == {"shop"}
    # Before the change was made there was nothing timed; after the restore ran, neither.
    assert timed_in_report(restore.change.created_at - timedelta(seconds=1)) == {}
    TimedRestore.objects.update(status="done", finished_at=timezone.now())
    assert timed_in_report(timezone.now() + timedelta(seconds=1)) == {}
    assert set(timed_in_report(restore.change.created_at + timedelta(seconds=1))) == {"shop"}


def test_an_overdue_restore_is_shown_on_every_page_in_metrics_and_in_healthz(
    auditor, mesh_snapshot, settings
):
    settings.MESHUI_RESTORE_SWEEP_INTERVAL = 30
    settings.MESHUI_METRICS_TOKEN = METRICS_TOKEN
    restore = timed_change("shop", restore_at=timezone.now() - timedelta(minutes=3))
    timed_change("pay", restore_at=timezone.now() - timedelta(seconds=10))  # within a sweep
    for url in ("/", "/namespaces/", "/namespaces/shop/", "/namespaces/pay/", "/audit/"):
        page = auditor.get(url).content.decode()
        assert page.count("Timed restore overdue") == 1, url
        assert (
            'Namespace <a href="/namespaces/shop/">shop</a> should have gone back to STRICT' in page
        )
    assert "(restore overdue)" in auditor.get("/namespaces/").content.decode()

    metrics = auditor.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = metrics.content.decode()
    assert "meshui_timed_restores_overdue 1.0" in text
    assert "meshui_timed_restores_pending 2.0" in text

    health = auditor.get("/healthz")
    assert health.status_code == 200  # a probe must not restart meshui for this
    [overdue] = health.json()["detail"]["timed_restores_overdue"]
    assert health.json()["status"] == "degraded"
    assert overdue["restore"] == restore.pk
    assert overdue["attempts"] == 0
    assert "shop" not in health.content.decode()  # public: no namespace names

    TimedRestore.objects.filter(pk=restore.pk).update(status="cancelled")
    assert "Timed restore overdue" not in auditor.get("/").content.decode()
    assert auditor.get("/healthz").json() == {"status": "ok"}


def test_an_overdue_restore_says_why_it_has_not_run(auditor, mesh_snapshot, settings):
    settings.REDIS_URL = ""
    restore = timed_change("shop", restore_at=timezone.now() - timedelta(minutes=3))
    page = auditor.get("/").content.decode()
    assert "Nothing has tried it yet" in page
    assert "manage.py serve" in page
    # Where the pending restore is listed, it is late, never "in 0 minutes".
    for url in ("/namespaces/shop/", "/namespaces/shop/changes/", f"/changes/{restore.change_id}/"):
        page = auditor.get(url).content.decode()
        assert "Overdue</strong>: it was due at" in page, url
        assert "in 0\xa0minutes" not in page and "in 0 minutes" not in page, url
    settings.REDIS_URL = "redis://redis:6379/0"
    assert "check that the Celery worker and beat are running" in auditor.get("/").content.decode()

    TimedRestore.objects.filter(pk=restore.pk).update(
        attempts=3,
        error="The cluster did not answer while meshui tried to get PeerAuthentication.",
        next_try_at=timezone.now() + timedelta(seconds=90),
    )
    page = auditor.get("/namespaces/shop/").content.decode()
    assert "Attempt 3" in page
    assert "The cluster did not answer" in page
    assert "meshui is retrying: next try at" in page


def test_pages_without_a_login_or_a_role_show_no_restores(client, mesh_snapshot):
    timed_change("shop", restore_at=timezone.now() - timedelta(minutes=3))
    assert "Timed restore overdue" not in client.get("/login/").content.decode()
