"""The freshness banner's inputs and the snapshot history's retention."""

from datetime import UTC, datetime, timedelta

import pytest

from policies.models import NamespaceRecord, Snapshot, SyncRun
from policies.selectors.sync import Staleness, snapshot_current, sync_status
from policies.services.sync import snapshots_prune

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def snapshot_at(moment: datetime) -> Snapshot:
    snapshot = Snapshot.objects.create(taken_at=moment, cluster_name="c", mesh_mode="STRICT")
    NamespaceRecord.objects.create(snapshot=snapshot, name="shop", mode="STRICT", source="mesh")
    return snapshot


def run_at(moment: datetime, status: str, *, snapshot=None, error: str = "") -> SyncRun:
    return SyncRun.objects.create(
        started_at=moment,
        finished_at=moment + timedelta(seconds=2),
        status=status,
        snapshot=snapshot,
        error=error,
    )


def test_recent_successful_sync_is_fresh(settings):
    settings.MESHUI_SYNC_INTERVAL = 60
    snapshot = snapshot_at(NOW - timedelta(minutes=1))
    run_at(NOW - timedelta(minutes=1), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    status = sync_status(now=NOW)
    assert status.is_stale is False
    assert status.stale_reason == ""
    assert status.snapshot == snapshot


def test_a_no_change_run_keeps_the_data_fresh(settings):
    settings.MESHUI_SYNC_INTERVAL = 60
    snapshot = snapshot_at(NOW - timedelta(hours=5))
    run_at(NOW - timedelta(hours=5), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    run_at(NOW - timedelta(seconds=30), SyncRun.Status.NO_CHANGE, snapshot=snapshot)
    assert sync_status(now=NOW).is_stale is False


def test_failed_last_sync_is_stale_and_says_why_and_which_snapshot_shows(settings):
    settings.MESHUI_SYNC_INTERVAL = 60
    snapshot = snapshot_at(NOW - timedelta(minutes=2))
    run_at(NOW - timedelta(minutes=2), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    run_at(
        NOW - timedelta(minutes=1),
        SyncRun.Status.FAILED,
        error="Forbidden while listing Pods: pods is forbidden",
    )
    status = sync_status(now=NOW)
    assert status.is_stale is True
    assert "pods is forbidden" in status.stale_reason
    assert "2026-03-01 11:58" in status.stale_reason
    assert status.snapshot == snapshot


def test_data_older_than_three_intervals_is_stale(settings):
    settings.MESHUI_SYNC_INTERVAL = 60
    snapshot = snapshot_at(NOW - timedelta(minutes=4))
    run_at(NOW - timedelta(minutes=4), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    status = sync_status(now=NOW)
    assert status.is_stale is True
    assert "3 minutes old" in status.stale_reason


def test_before_the_first_sync_the_status_says_there_is_no_data():
    status = sync_status(now=NOW)
    assert status.snapshot is None
    assert status.is_stale is True
    assert status.stale_reason.startswith("No data yet")


def running_since(moment: datetime) -> SyncRun:
    return SyncRun.objects.create(started_at=moment, status=SyncRun.Status.RUNNING)


def test_a_sync_running_now_does_not_make_old_data_fresh(settings):
    settings.MESHUI_SYNC_INTERVAL = 60
    settings.MESHUI_SYNC_TIME_LIMIT = 300
    snapshot = snapshot_at(NOW - timedelta(minutes=4))
    run_at(NOW - timedelta(minutes=4), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    started = running_since(NOW - timedelta(seconds=30))
    status = sync_status(now=NOW)
    assert status.running == started
    assert status.staleness == Staleness.OLD
    assert "3 minutes old" in status.stale_reason


def test_a_sync_running_past_the_hard_time_limit_is_dead_and_the_data_stale(settings):
    settings.MESHUI_SYNC_INTERVAL = 600  # the data alone is young enough to be fresh
    settings.MESHUI_SYNC_TIME_LIMIT = 300
    snapshot = snapshot_at(NOW - timedelta(minutes=7))
    run_at(NOW - timedelta(minutes=7), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    run_at(NOW - timedelta(minutes=6), SyncRun.Status.NO_CHANGE, snapshot=snapshot)
    running_since(NOW - timedelta(minutes=5, seconds=30))
    status = sync_status(now=NOW)
    assert status.running is None
    assert status.staleness == Staleness.ABANDONED
    assert "never finished" in status.stale_reason
    assert "MESHUI_SYNC_TIME_LIMIT" in status.stale_reason


def test_a_dead_run_older_than_a_later_finished_sync_no_longer_matters(settings):
    settings.MESHUI_SYNC_INTERVAL = 60
    settings.MESHUI_SYNC_TIME_LIMIT = 300
    running_since(NOW - timedelta(hours=1))
    snapshot = snapshot_at(NOW - timedelta(minutes=1))
    run_at(NOW - timedelta(minutes=1), SyncRun.Status.SUCCEEDED, snapshot=snapshot)
    status = sync_status(now=NOW)
    assert status.is_stale is False
    assert status.running is None


def test_retention_prunes_old_snapshots_and_their_rows(settings):
    settings.MESHUI_SNAPSHOT_RETENTION_DAYS = 30
    old = snapshot_at(NOW - timedelta(days=40))
    kept = snapshot_at(NOW - timedelta(days=20))
    newest = snapshot_at(NOW - timedelta(hours=1))
    assert snapshots_prune(now=NOW) == 1
    assert set(Snapshot.objects.values_list("id", flat=True)) == {kept.id, newest.id}
    assert not NamespaceRecord.objects.filter(snapshot_id=old.id).exists()


def test_retention_always_keeps_the_newest_snapshot_even_when_it_is_old(settings):
    settings.MESHUI_SNAPSHOT_RETENTION_DAYS = 30
    snapshot_at(NOW - timedelta(days=100))
    only_good = snapshot_at(NOW - timedelta(days=90))
    snapshots_prune(now=NOW)
    assert list(Snapshot.objects.all()) == [only_good]
    assert snapshot_current() == only_good
