"""Sync scales out: one task per cluster on the shared queue, each with its own lock,
schedule, retry and failure state; one cluster failing (401, a timeout, 410, gone for good)
never delays or fails the others."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from meshui.celery import app
from policies import tasks
from policies.models import Snapshot, SyncRun
from policies.selectors.fleet import fleet_member_named, fleet_scope, fleet_syncs_due
from policies.selectors.sync import sync_status
from policies.sync_lock import sync_lock
from tests.celery_support import celery_queue_on_redis
from tests.fleet.conftest import payments_mesh, register, sync_member

pytestmark = pytest.mark.django_db

REDIS_TEST_URL = "redis://127.0.0.1:6379/5"


def test_each_cluster_has_its_own_sync_lock(kube, west, settings):
    settings.REDIS_URL = ""
    west.seed(payments_mesh())
    registered = register("west", west)
    configured_lock = sync_lock(timeout=30)
    assert configured_lock.acquire()
    try:
        # The configured cluster's sync is "running": west's still runs, not coalesced.
        outcome = tasks.sync_cluster.apply(kwargs={"cluster_id": registered.pk}).get()
        assert outcome["status"] == SyncRun.Status.SUCCEEDED
        assert tasks.sync_cluster.apply().get()["status"] == "coalesced"
    finally:
        configured_lock.release()


@pytest.mark.django_db(transaction=True)  # the syncs run in threads of their own
@pytest.mark.parametrize(
    "breakage",
    ["unauthorized", "timeout", "expired", "gone"],
)
def test_one_failing_cluster_fails_alone_and_says_why(kube, west, north, settings, breakage):
    settings.REDIS_URL = ""
    settings.MESHUI_KUBE_TIMEOUT_SECONDS = 1
    for double in (kube, west, north):
        double.seed(payments_mesh())
    register("west", west)
    north_cluster = register("north", north)
    if breakage == "unauthorized":
        north.inject_fault(401, times=50)
    elif breakage == "timeout":
        north.inject_fault("slow", delay=3, verb="list", times=50)
    elif breakage == "expired":
        north.inject_fault(410, verb="list", times=50)
    else:
        north_cluster.kubeconfig = str(north.kubeconfig) + ".gone"
        north_cluster.save()

    outcomes = {}

    def sync(name: str, cluster_id: int | None) -> None:
        outcomes[name] = tasks.sync_cluster.apply(kwargs={"cluster_id": cluster_id}).get()

    threads = [
        threading.Thread(target=sync, args=(name, cluster_id))
        for name, cluster_id in (
            ("test-cluster", None),
            ("west", fleet_member_named("west").cluster_id),
            ("north", north_cluster.pk),
        )
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes["test-cluster"]["status"] == SyncRun.Status.SUCCEEDED
    assert outcomes["west"]["status"] == SyncRun.Status.SUCCEEDED
    assert outcomes["north"]["status"] == "failed"
    words = {
        "unauthorized": "Unauthorized",
        "timeout": "did not answer within 1 s",
        "expired": "Expired",
        "gone": "does not exist",
    }[breakage]
    assert words.lower() in outcomes["north"]["error"].lower()
    with fleet_scope(fleet_member_named("north")):
        north_status = sync_status()
    assert north_status.is_stale and north_status.last_failed
    with fleet_scope(fleet_member_named("west")):
        assert not sync_status().is_stale
    assert not sync_status().is_stale  # the configured cluster


def test_a_removed_cluster_is_not_synced_by_a_task_queued_before(kube, west, settings):
    settings.REDIS_URL = ""
    registered = register("west", west)
    registered.removed_at = timezone.now()
    registered.save()
    assert tasks.sync_cluster.apply(kwargs={"cluster_id": registered.pk}).get() == {
        "status": "removed",
        "cluster": registered.pk,
    }


def test_fleet_schedule_queues_each_cluster_when_its_own_interval_is_due(kube, west, north):
    west_cluster = register("west", west)
    north_cluster = register("north", north)
    north_cluster.sync_interval = 600
    north_cluster.save()
    assert set(fleet_syncs_due()) == {west_cluster.pk, north_cluster.pk}  # never synced
    sync_member("west")
    sync_member("north")
    later = timezone.now() + timedelta(seconds=120)
    assert fleet_syncs_due(now=later) == [west_cluster.pk]  # west: every 60 s; north: 600 s


def test_no_change_watch_works_per_cluster(kube, west, settings):
    settings.MESHUI_SYNC_WATCH_SECONDS = 1
    kube.seed(payments_mesh())
    west.seed(payments_mesh(payments_mode="PERMISSIVE"))
    register("west", west)
    first = sync_member("west")
    west.seed([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new"}}])
    changed = sync_member("west")
    unchanged = sync_member("west")
    assert first.status == changed.status == SyncRun.Status.SUCCEEDED
    assert unchanged.status == SyncRun.Status.NO_CHANGE
    assert unchanged.snapshot == changed.snapshot


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_real_workers_on_redis_sync_three_clusters_at_once_and_a_slow_one_delays_no_other(
    kube, west, north, settings
):
    """Three clusters on the shared queue, a worker with three slots; west answers slowly
    and is queued first, yet north and the configured cluster finish before it."""
    for double in (kube, west, north):
        double.seed(payments_mesh())
    west_cluster = register("west", west)
    north_cluster = register("north", north)
    west.inject_fault("slow", delay=2, verb="list", resource="namespaces")
    with (
        celery_queue_on_redis(settings, REDIS_TEST_URL, purpose="fleet"),
        start_worker(app, pool="threads", concurrency=3, perform_ping_check=False),
    ):
        started = time.monotonic()
        results = [
            tasks.sync_cluster.delay(trigger="schedule", cluster_id=west_cluster.pk),
            tasks.sync_cluster.delay(trigger="schedule", cluster_id=north_cluster.pk),
            tasks.sync_cluster.delay(trigger="schedule"),
        ]
        outcomes = [result.get(timeout=60) for result in results]
        elapsed = time.monotonic() - started
    assert [o["status"] for o in outcomes] == [SyncRun.Status.SUCCEEDED] * 3
    runs = {run.cluster_id: run for run in SyncRun.objects.all()}
    assert runs[north_cluster.pk].finished_at < runs[west_cluster.pk].finished_at
    assert runs[None].finished_at < runs[west_cluster.pk].finished_at
    assert Snapshot.objects.filter(cluster=west_cluster).count() == 1
    assert elapsed < 2 * 3  # not one after the other behind the slow one


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_beat_fan_out_queues_one_task_per_registered_cluster(kube, west, north, settings):
    west.seed(payments_mesh())
    north.seed(payments_mesh(payments_mode="DISABLE"))
    west_cluster = register("west", west)
    north_cluster = register("north", north)
    with (
        celery_queue_on_redis(settings, REDIS_TEST_URL, purpose="fanout"),
        start_worker(app, pool="threads", concurrency=2, perform_ping_check=False),
    ):
        queued = tasks.sync_fleet.delay().get(timeout=30)["queued"]
        assert sorted(queued) == sorted([west_cluster.pk, north_cluster.pk])
        deadline = time.monotonic() + 60
        while Snapshot.objects.exclude(cluster=None).count() < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    north_snapshot = Snapshot.objects.get(cluster=north_cluster)
    assert north_snapshot.namespaces.get(name="payments").mode == "DISABLE"


@pytest.mark.django_db(transaction=True)
def test_serve_with_the_demo_fleet_starts_two_clusters_that_differ_in_payments(
    settings, monkeypatch
):
    from io import StringIO

    from django.core.management import call_command

    from policies.selectors.fleet import fleet_members
    from policies.selectors.fleet_overview import fleet_overview

    monkeypatch.setenv("MESHUI_KUBECONFIG", "")
    monkeypatch.setenv("MESHUI_DEMO_CLUSTER", "")
    settings.MESHUI_KUBECONFIG = ""
    settings.MESHUI_CLUSTER_NAME = ""
    settings.MESHUI_DEMO_FLEET = True
    settings.REDIS_URL = ""
    output = StringIO()
    call_command("serve", "--no-runserver", stdout=output, stderr=output)
    assert "DEMO FLEET: a second demo cluster, demo-west" in output.getvalue()
    # The second cluster's registration is an audit entry: the first start still gets the
    # month of history (asked for before the registration).
    assert "meshui: demo history:" in output.getvalue()
    settings.MESHUI_DEMO_CLUSTER = True  # as serve sets it while it runs
    overview = fleet_overview(members=fleet_members())
    assert [row.name for row in overview.rows] == ["demo", "demo-west"]
    (finding,) = [
        f
        for f in overview.findings
        if f.namespace == "payments" and f.code == "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS"
    ]
    assert "STRICT in demo, PERMISSIVE in demo-west" in finding.message
