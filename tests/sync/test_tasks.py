"""The sync task: coalescing under concurrent triggers, retries, and a real worker on Redis."""

from __future__ import annotations

import threading
import time

import pytest

from policies import cluster, tasks
from policies.cluster.errors import Forbidden, Unavailable
from policies.models import Snapshot, SnapshotDifference, SyncRun
from policies.services.snapshot_differences import snapshot_difference_ensure
from policies.tasks import sync_cluster
from tests.celery_support import celery_worker_on_redis, redis_or_skip, unique_key_prefix

from .builders import peer_auth, small_mesh

REDIS_TEST_URL = "redis://127.0.0.1:6379/5"


def wait_for(condition, *, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def lock_backend(request, settings):
    """The process lock (no REDIS_URL) or the Redis lock on the test Redis db."""
    prefix = unique_key_prefix("tasks")
    settings.MESHUI_REDIS_KEY_PREFIX = prefix
    if request.param == "redis":
        client = redis_or_skip(REDIS_TEST_URL)
        settings.REDIS_URL = REDIS_TEST_URL
        yield request.param
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    else:
        settings.REDIS_URL = ""
        yield request.param


@pytest.fixture
def held_read(monkeypatch):
    """Holds the next sync's cluster read until the test opens the gate (`.set()`).

    The first sync is then certainly still running while the test triggers again, however
    slow a loaded machine is: no timing window to miss.
    """
    gate = threading.Event()
    read_cluster = cluster.cluster_read_all

    def read_once_the_gate_opens(**kwargs):
        if not gate.wait(timeout=60):
            raise AssertionError("the test never opened the gate")
        return read_cluster(**kwargs)

    monkeypatch.setattr(cluster, "cluster_read_all", read_once_the_gate_opens)
    yield gate
    gate.set()  # never leave a worker thread waiting


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lock_backend", ["process", "redis"], indirect=True)
def test_a_second_trigger_while_a_sync_runs_is_coalesced_not_queued(kube, lock_backend, held_read):
    kube.seed(small_mesh())
    outcomes = {}

    def first_trigger():
        outcomes["first"] = sync_cluster.apply(kwargs={"trigger": "manual"}).get()

    worker = threading.Thread(target=first_trigger)
    worker.start()
    wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists())
    outcomes["second"] = sync_cluster.apply(kwargs={"trigger": "change"}).get()
    held_read.set()
    worker.join(timeout=60)
    assert not worker.is_alive()

    assert outcomes["second"] == {"status": "coalesced"}
    runs = list(SyncRun.objects.order_by("started_at", "id"))
    # The first sync, then exactly one rerun for the coalesced request: never overlapping.
    assert [run.trigger for run in runs] == ["manual", "coalesced"]
    assert runs[0].finished_at <= runs[1].started_at
    assert [run.status for run in runs] == [SyncRun.Status.SUCCEEDED, SyncRun.Status.NO_CHANGE]


@pytest.mark.django_db(transaction=True)
def test_ten_triggers_during_one_sync_cost_one_extra_sync(kube, settings, held_read):
    settings.REDIS_URL = ""
    kube.seed(small_mesh())
    worker = threading.Thread(target=lambda: sync_cluster.apply(kwargs={"trigger": "manual"}).get())
    worker.start()
    wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists())
    for _ in range(10):
        assert sync_cluster.apply(kwargs={"trigger": "change"}).get() == {"status": "coalesced"}
    held_read.set()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert SyncRun.objects.count() == 2


@pytest.mark.django_db
def test_in_process_a_failed_sync_returns_its_reason_without_retrying(kube, settings):
    settings.REDIS_URL = ""
    kube.inject_fault(500, verb="list", resource="namespaces")
    outcome = sync_cluster.apply(kwargs={"trigger": "manual"}).get()
    assert outcome["status"] == "failed"
    assert "HTTP 500" in outcome["error"]
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED


@pytest.mark.django_db
def test_redis_down_when_the_task_runs_records_a_failed_run_in_words(kube, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/5"
    outcome = sync_cluster.apply(kwargs={"trigger": "schedule"}).get()
    assert outcome["status"] == "failed"
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert "Redis is unreachable, so the sync lock cannot be taken" in run.error


@pytest.mark.django_db
def test_a_new_snapshot_is_compared_at_once_with_the_start_of_the_last_comparison(kube, settings):
    settings.REDIS_URL = ""
    kube.seed(small_mesh())
    sync_cluster.apply(kwargs={"trigger": "manual"}).get()
    kube.seed([peer_auth("batch", mode="DISABLE")])
    sync_cluster.apply(kwargs={"trigger": "change"}).get()
    first, second = Snapshot.objects.order_by("taken_at", "id")
    snapshot_difference_ensure(before=first, after=second)  # someone compared "first to now"

    kube.seed([peer_auth("payments", mode="PERMISSIVE")])
    outcome = sync_cluster.apply(kwargs={"trigger": "change"}).get()
    # "first to now" is now first to the new snapshot: stored before anyone asks.
    carried = SnapshotDifference.objects.get(before=first, after=outcome["snapshot"])
    assert carried.namespaces_changed == 2  # batch, then payments
    assert SnapshotDifference.objects.count() == 2

    sync_cluster.apply(kwargs={"trigger": "schedule"}).get()  # no change: nothing new
    assert SnapshotDifference.objects.count() == 2


@pytest.mark.django_db
def test_a_failure_comparing_the_new_snapshot_leaves_the_sync_succeeded(
    kube, settings, monkeypatch
):
    from policies.services import snapshot_differences

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(snapshot_differences, "snapshot_differences_carry_forward", broken)
    settings.REDIS_URL = ""
    kube.seed(small_mesh())
    outcome = sync_cluster.apply(kwargs={"trigger": "manual"}).get()
    assert outcome["status"] == SyncRun.Status.SUCCEEDED
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


def test_retry_waits_at_least_as_long_as_the_server_asks():
    assert tasks._sync_retry_countdown(Unavailable("slow down", retry_after=42), 0) >= 42


def test_retry_backoff_grows_and_is_capped():
    error = Unavailable("down")
    first = [tasks._sync_retry_countdown(error, 0) for _ in range(20)]
    late = [tasks._sync_retry_countdown(error, 10) for _ in range(20)]
    assert max(first) <= tasks.SYNC_BACKOFF_SECONDS
    assert min(late) >= tasks.SYNC_BACKOFF_CAP_SECONDS / 2
    assert max(late) <= tasks.SYNC_BACKOFF_CAP_SECONDS


def test_only_unavailable_and_expired_errors_are_retried():
    assert Unavailable("x").retryable is True
    assert Forbidden("x").retryable is False


def test_the_sync_task_has_a_name_limits_and_a_retry_cap():
    assert sync_cluster.name == "policies.sync_cluster"
    assert sync_cluster.soft_time_limit < sync_cluster.time_limit
    assert sync_cluster.max_retries >= 1


@pytest.fixture
def redis_worker(settings):
    """A real Celery worker (solo pool, in a thread) consuming the test Redis db."""
    with celery_worker_on_redis(settings, REDIS_TEST_URL, purpose="worker"):
        yield


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_syncs_the_cluster_end_to_end(kube, redis_worker):
    kube.seed(small_mesh())
    result = sync_cluster.delay(trigger="manual")
    outcome = result.get(timeout=60)
    assert outcome["status"] == SyncRun.Status.SUCCEEDED
    snapshot = Snapshot.objects.get(id=outcome["snapshot"])
    assert snapshot.namespaces.get(name="shop").mode == "PERMISSIVE"
    assert snapshot.cluster_server == kube.url


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_an_unavailable_cluster_and_then_succeeds(
    kube, redis_worker, monkeypatch
):
    monkeypatch.setattr(tasks, "SYNC_BACKOFF_SECONDS", 0.2)
    kube.seed(small_mesh())
    kube.inject_fault(429, verb="list", resource="services", retry_after=1)
    outcome = sync_cluster.delay(trigger="schedule").get(timeout=60)
    assert outcome["status"] == SyncRun.Status.SUCCEEDED
    failed, succeeded = SyncRun.objects.order_by("started_at", "id")
    assert failed.status == SyncRun.Status.FAILED
    assert "rate limiting meshui" in failed.error
    assert "wait 1 s" in failed.error
    assert succeeded.status == SyncRun.Status.SUCCEEDED
    assert (succeeded.started_at - failed.started_at).total_seconds() >= 1
