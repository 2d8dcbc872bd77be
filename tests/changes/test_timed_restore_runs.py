"""Timed restores run on time, with a real clock, in both setups meshui offers.

Embedded (the README's `make run`: no REDIS_URL, tasks in-process): `manage.py serve` itself
runs due restores; its web server is replaced by the test, which waits while serve runs.
Redis: a real Celery worker fires the restore queued with an eta, and beat's sweep is the
backstop for a queued task that was lost. In both, a restore survives a restart (it lives
in the database) and a cluster that is down at the due time (retried, each attempt audited,
shown as overdue until it runs).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone

from policies.management.commands import serve as serve_command
from policies.models import AuditEntry, TimedRestore
from policies.services import changes
from tests.celery_support import celery_beat, celery_queue_on_redis, celery_worker
from tests.changes.conftest import resync, shop_mesh

REDIS_TEST_URL = "redis://127.0.0.1:6379/6"
SWEEP_SECONDS = 1
SHORT = timedelta(seconds=2)
# "On time": within one sweep interval of the due time, plus slack for a busy test machine.
ON_TIME = timedelta(seconds=SWEEP_SECONDS + 2)
DEADLINE_SECONDS = 30
# What beat sends (settings.CELERY_BEAT_SCHEDULE), at the test's sweep interval.
BEAT_SWEEP = {
    "restore-namespace-modes": {
        "task": "policies.restore_namespace_mode",
        "schedule": float(SWEEP_SECONDS),
    }
}


def wait_for(predicate, *, what: str, timeout: float = DEADLINE_SECONDS):
    """Poll until `predicate()` is true (no fixed sleep); fail saying what never happened."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def the_restore() -> TimedRestore:
    return TimedRestore.objects.select_related("restore_entry").get()


def restored(kube) -> bool:
    return kube.get("PeerAuthentication", "shop", "default") is None


def switch_shop_to_strict_for(users, duration: timedelta):
    """The on-call toggle, timed: shop had no namespace policy, so the restore removes it."""
    return changes.namespace_mode_set(
        user=users["oncall"],
        namespace="shop",
        mode="STRICT",
        reason="INC-12 for a moment",
        duration=duration,
    )


def assert_restored_once_on_time(kube, restore: TimedRestore, due) -> None:
    assert restored(kube)
    assert restore.status == TimedRestore.Status.DONE
    applied = AuditEntry.objects.filter(action="restore", outcome="applied")
    assert applied.count() == 1
    entry = applied.get()
    assert (entry.username, entry.restore_of_id) == ("meshui", restore.change_id)
    assert due <= entry.created_at < due + ON_TIME


def assert_each_attempt_audited(restore: TimedRestore) -> None:
    """One entry per attempt, never one entry updated: failures first, then the restore."""
    outcomes = list(
        AuditEntry.objects.filter(action="restore").order_by("id").values_list("outcome", flat=True)
    )
    assert len(outcomes) == restore.attempts >= 3
    assert outcomes == ["failed"] * (len(outcomes) - 1) + ["applied"]


def overdue_as_people_and_probes_see_it(client, users) -> tuple[str, dict]:
    client.force_login(users["auditor"])
    page = client.get("/namespaces/shop/").content.decode()
    return page, client.get("/healthz").json()


# --- Embedded: `manage.py serve`, no REDIS_URL ------------------------------------------------


@pytest.fixture
def embedded(kube, db, settings):
    """The shop mesh, meshui without Redis, a sweep interval of one second."""
    settings.MESHUI_RESTORE_SWEEP_INTERVAL = SWEEP_SECONDS
    settings.MESHUI_SYNC_INTERVAL = 3600  # serve's sync thread stays idle; tests sync themselves
    kube.seed(shop_mesh())
    resync()
    return kube


def serve_while(monkeypatch, serving) -> None:
    """Run `manage.py serve` as `make run` does, calling `serving()` where it would start the
    web server; serve stops (its threads with it) when `serving` returns."""
    real_call_command = call_command

    def call_command_but_runserver(name, *args, **options):
        if name == "runserver":
            return serving()
        if name == "migrate":
            return None  # the test database is migrated; keep serve's start short
        return real_call_command(name, *args, **options)

    monkeypatch.setattr(serve_command, "call_command", call_command_but_runserver)
    real_call_command("serve", stdout=_Discard(), stderr=_Discard())


class _Discard:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


@pytest.mark.django_db(transaction=True)
def test_serve_restores_a_namespace_on_time_without_redis(embedded, users, monkeypatch):
    result = switch_shop_to_strict_for(users, SHORT)
    serve_while(
        monkeypatch,
        lambda: wait_for(lambda: the_restore().status == "done", what="the timed restore"),
    )
    assert_restored_once_on_time(embedded, the_restore(), result.restore.restore_at)


@pytest.mark.django_db(transaction=True)
def test_a_restore_due_while_serve_was_stopped_shows_overdue_then_runs_at_the_next_start(
    embedded, users, monkeypatch, client
):
    result = switch_shop_to_strict_for(users, timedelta(seconds=4))
    serve_while(monkeypatch, lambda: None)  # serve stops before the restore is due
    due = result.restore.restore_at
    assert timezone.now() < due, "serve took too long to start and stop for this test"
    wait_for(
        lambda: timezone.now() > due + timedelta(seconds=SWEEP_SECONDS),
        what="the restore falling overdue",
    )
    assert not restored(embedded)
    page, health = overdue_as_people_and_probes_see_it(client, users)
    assert "Timed restore overdue" in page
    assert "Nothing has tried it yet" in page
    assert health["status"] == "degraded"
    assert [r["restore"] for r in health["detail"]["timed_restores_overdue"]] == [result.restore.pk]

    serve_while(
        monkeypatch,
        lambda: wait_for(lambda: the_restore().status == "done", what="the restore at start"),
    )
    assert restored(embedded)
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_serve_retries_a_restore_while_the_cluster_is_down_and_shows_it_overdue(
    embedded, users, monkeypatch, client
):
    result = switch_shop_to_strict_for(users, SHORT)
    embedded.inject_fault(503, resource="peerauthentications", times=10_000)
    seen = {}

    def cluster_down_then_back():
        wait_for(lambda: the_restore().attempts >= 2, what="two failed attempts")
        seen["page"], seen["health"] = overdue_as_people_and_probes_see_it(client, users)
        seen["pending"] = the_restore()
        embedded.clear_faults()
        wait_for(
            lambda: the_restore().status == "done", what="the restore once the cluster is back"
        )

    serve_while(monkeypatch, cluster_down_then_back)
    assert "Timed restore overdue" in seen["page"]
    assert "retrying" in seen["page"]
    pending = seen["pending"]
    assert pending.status == "pending"
    assert pending.next_try_at > pending.restore_at
    assert "The cluster did not answer" in pending.error
    assert seen["health"]["status"] == "degraded"
    [listed] = seen["health"]["detail"]["timed_restores_overdue"]
    assert listed["restore"] == result.restore.pk
    assert listed["attempts"] >= 2
    assert restored(embedded)
    assert_each_attempt_audited(the_restore())


# --- Redis: a Celery worker and beat ---------------------------------------------------------


@pytest.fixture
def redis_queue(kube, db, settings):
    """The shop mesh, meshui on a real Redis with a queue of this test's own."""
    settings.MESHUI_RESTORE_SWEEP_INTERVAL = SWEEP_SECONDS
    kube.seed(shop_mesh())
    resync()
    with celery_queue_on_redis(settings, REDIS_TEST_URL, purpose="restores") as queue:
        yield queue


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_restores_a_namespace_on_time_with_redis(kube, users, redis_queue):
    with celery_worker():
        result = switch_shop_to_strict_for(users, SHORT)
        wait_for(lambda: the_restore().status == "done", what="the timed restore")
    assert_restored_once_on_time(kube, the_restore(), result.restore.restore_at)


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_restore_survives_restarts_of_worker_and_beat_and_a_lost_queued_task(
    kube, users, redis_queue, tmp_path
):
    with celery_worker(), celery_beat(BEAT_SWEEP, tmp_path):
        result = switch_shop_to_strict_for(users, SHORT)
    # Worker and beat are down when the restore falls due, and the broker lost its task.
    redis.Redis.from_url(REDIS_TEST_URL).delete(redis_queue)
    wait_for(
        lambda: timezone.now() > result.restore.restore_at + timedelta(seconds=SWEEP_SECONDS),
        what="the restore falling overdue",
    )
    assert the_restore().status == "pending"
    with celery_worker(), celery_beat(BEAT_SWEEP, tmp_path):
        wait_for(lambda: the_restore().status == "done", what="the restore after the restart")
    assert restored(kube)
    assert AuditEntry.objects.filter(action="restore", outcome="applied").count() == 1


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_a_restore_while_the_cluster_is_down(kube, users, redis_queue, client):
    with celery_worker():
        result = switch_shop_to_strict_for(users, SHORT)
        kube.inject_fault(503, resource="peerauthentications", times=10_000)
        wait_for(lambda: the_restore().attempts >= 2, what="two failed attempts")
        page, health = overdue_as_people_and_probes_see_it(client, users)
        kube.clear_faults()
        wait_for(
            lambda: the_restore().status == "done", what="the restore once the cluster is back"
        )
    assert "Timed restore overdue" in page
    assert health["status"] == "degraded"
    assert health["detail"]["timed_restores_overdue"][0]["restore"] == result.restore.pk
    assert restored(kube)
    assert_each_attempt_audited(the_restore())
