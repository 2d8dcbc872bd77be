"""The sync-now button: queues one manual sync, shows its progress, then reloads the data."""

import pytest
from kombu.exceptions import OperationalError

from policies import tasks
from policies.models import SyncRun
from tests.factories import snapshot_with, sync_run

HTMX = {"HX-Request": "true", "HX-Target": "sync-status"}


@pytest.fixture
def queued(monkeypatch):
    """Records the syncs the views queue instead of running them."""
    calls = []
    monkeypatch.setattr(
        tasks.sync_cluster,
        "apply_async_on_commit",
        lambda kwargs=None, **options: calls.append(kwargs),
    )
    return calls


@pytest.fixture
def earlier_run(db):
    return sync_run(snapshot=snapshot_with(namespaces=["shop"]))


def test_sync_now_queues_one_manual_sync_and_starts_polling(client_for, earlier_run, queued):
    response = client_for("oncall").post("/sync/", headers=HTMX)
    assert queued == [{"trigger": "manual"}]
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="sync-status"')
    assert "Sync queued, waiting for a worker" in page
    assert f'hx-get="/sync/status/?after={earlier_run.id}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert "HX-Trigger" not in response


def test_progress_shows_a_running_sync_then_fires_the_reload_event_when_done(
    client_for, earlier_run, queued
):
    client = client_for("admin")
    run = sync_run(status=SyncRun.Status.RUNNING, trigger="manual")
    running = client.get(f"/sync/status/?after={earlier_run.id}", headers=HTMX)
    assert "Reading the cluster" in running.content.decode()
    assert "HX-Trigger" not in running

    run.status, run.duration_ms = SyncRun.Status.SUCCEEDED, 900
    run.save()
    done = client.get(f"/sync/status/?after={earlier_run.id}", headers=HTMX)
    assert "Sync finished: fresh data loaded." in done.content.decode()
    assert 'hx-trigger="every' not in done.content.decode()  # polling stops
    assert done["HX-Trigger"] == "meshui:snapshot-updated"


def test_a_failed_sync_is_reported_in_words(client_for, earlier_run):
    sync_run(status=SyncRun.Status.FAILED, error="Forbidden: pods is forbidden")
    page = client_for("auditor").get(f"/sync/status/?after={earlier_run.id}", headers=HTMX)
    assert "The sync failed: Forbidden: pods is forbidden" in page.content.decode()


def test_a_sync_already_running_is_followed_instead_of_waiting_for_a_new_one(
    client_for, earlier_run, queued
):
    running = sync_run(status=SyncRun.Status.RUNNING)
    page = client_for("admin").post("/sync/", headers=HTMX).content.decode()
    assert f"?after={running.id - 1}" in page
    assert "Reading the cluster" in page


def test_without_javascript_the_button_leads_to_a_self_refreshing_progress_page(
    client_for, earlier_run, queued
):
    client = client_for("admin")
    response = client.post("/sync/")
    assert response.status_code == 302
    assert response["Location"] == f"/sync/status/?after={earlier_run.id}"
    page = client.get(response["Location"]).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "Sync queued" in page


def test_an_unreachable_queue_is_reported_not_a_500(client_for, earlier_run, monkeypatch):
    def broker_down(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.sync_cluster, "apply_async_on_commit", broker_down)
    response = client_for("admin").post("/sync/", headers=HTMX)
    assert response.status_code == 200
    assert "Could not queue the sync: the task queue is unreachable" in response.content.decode()
    assert 'hx-trigger="every' not in response.content.decode()


def test_overview_follows_a_sync_that_is_already_running(client_for, earlier_run):
    running = sync_run(status=SyncRun.Status.RUNNING)
    page = client_for("auditor").get("/").content.decode()
    assert "Reading the cluster" in page
    assert f'hx-get="/sync/status/?after={running.id - 1}"' in page
