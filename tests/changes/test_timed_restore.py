"""Timed namespace changes: meshui restores the previous mode by itself, audited, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies import cluster
from policies.models import AuditEntry, TimedRestore
from policies.services import changes
from policies.tasks import restore_namespace_mode
from tests.changes.conftest import resync

LATER = timedelta(hours=3)


def timed(users, mode, *, role="oncall", hours=2):
    return changes.namespace_mode_set(
        user=users[role],
        namespace="shop",
        mode=mode,
        reason="INC-9 debugging",
        duration=timedelta(hours=hours),
    )


def mode_in(kube):
    stored = kube.get("PeerAuthentication", "shop", "default")
    return stored["spec"]["mtls"]["mode"] if stored else None


def test_timed_change_records_a_pending_restore_of_no_policy(mesh, users):
    result = timed(users, "STRICT")
    restore = result.restore
    assert (restore.status, restore.restore_mode, restore.namespace) == (
        "pending",
        "ABSENT",
        "shop",
    )
    assert restore.change == result.entry
    assert (
        timedelta(hours=1, minutes=59) < restore.restore_at - timezone.now() <= timedelta(hours=2)
    )


def test_restore_is_not_run_before_it_is_due(mesh, users):
    timed(users, "STRICT")
    restore_namespace_mode.apply()  # beat's sweep, now
    assert mode_in(mesh) == "STRICT"
    assert TimedRestore.objects.get().status == "pending"


def test_due_restore_deletes_the_policy_meshui_created(mesh, users):
    result = timed(users, "STRICT")
    mesh.clear_requests()
    changes.timed_restore_run(restore_id=result.restore.pk, now=timezone.now() + LATER)
    assert mode_in(mesh) is None
    # Like every change: a dry run first, then the delete, both bound to the version read.
    dry_run, delete = [r for r in mesh.requests if r.method == "DELETE"]
    assert dry_run.param("dryRun") == "All"
    assert delete.param("dryRun") is None
    assert delete.json()["preconditions"]["resourceVersion"]
    assert dry_run.json()["preconditions"] == delete.json()["preconditions"]
    restore = TimedRestore.objects.get()
    assert restore.status == "done"
    entry = restore.restore_entry
    assert (entry.action, entry.outcome, entry.username) == ("restore", "applied", "meshui")
    assert entry.restore_of == result.entry


def test_due_restore_sets_the_previous_mode_back(mesh, users):
    changes.namespace_mode_set(user=users["oncall"], namespace="shop", mode="STRICT", reason="x")
    resync()
    result = timed(users, "PERMISSIVE")
    assert result.restore.restore_mode == "STRICT"
    changes.timed_restore_run(restore_id=result.restore.pk, now=timezone.now() + LATER)
    assert mode_in(mesh) == "STRICT"


def test_restore_runs_once_even_if_delivered_twice(mesh, users):
    result = timed(users, "STRICT")
    later = timezone.now() + LATER
    changes.timed_restore_run(restore_id=result.restore.pk, now=later)
    changes.namespace_mode_set(
        user=users["oncall"], namespace="shop", mode="PERMISSIVE", reason="after the restore"
    )
    changes.timed_restore_run(restore_id=result.restore.pk, now=later)
    assert mode_in(mesh) == "PERMISSIVE"
    assert AuditEntry.objects.filter(action="restore").count() == 1


def test_without_a_broker_nothing_is_queued_the_sweep_runs_it(mesh, users, monkeypatch):
    queued = []
    monkeypatch.setattr(
        restore_namespace_mode, "apply_async", lambda **kwargs: queued.append(kwargs)
    )
    timed(users, "STRICT")
    assert queued == []


def test_the_beat_sweep_runs_due_restores(mesh, users, monkeypatch):
    timed(users, "STRICT")
    TimedRestore.objects.update(restore_at=timezone.now() - timedelta(seconds=1))
    outcome = restore_namespace_mode.apply().get()
    assert list(outcome["restores"].values()) == ["done"]
    assert mode_in(mesh) is None


def test_restore_does_not_undo_someone_elses_later_change(mesh, users):
    result = timed(users, "STRICT")
    changes.peer_authentication_apply(
        user=users["admin"],
        plan=changes.peer_authentication_plan(
            scope="namespace",
            namespace="shop",
            name="default",
            spec={"mtls": {"mode": "DISABLE"}},
            reason="INC-7 test",
        ),
    )
    restore = changes.timed_restore_run(restore_id=result.restore.pk, now=timezone.now() + LATER)
    assert mode_in(mesh) == "DISABLE"
    assert restore.status == "cancelled"
    assert "someone changed it since" in restore.error
    assert restore.restore_entry.outcome == "conflict"


def test_a_second_timed_change_keeps_the_original_mode_to_return_to(mesh, users):
    changes.namespace_mode_set(user=users["oncall"], namespace="shop", mode="STRICT", reason="x")
    resync()
    first = timed(users, "PERMISSIVE")
    second = timed(users, "PERMISSIVE", hours=4)
    first.restore.refresh_from_db()
    assert first.restore.status == "cancelled"
    assert second.restore.restore_mode == "STRICT"


def test_a_permanent_change_cancels_the_pending_restore(mesh, users):
    first = timed(users, "STRICT")
    changes.namespace_mode_set(
        user=users["oncall"], namespace="shop", mode="STRICT", reason="keep it"
    )
    first.restore.refresh_from_db()
    assert first.restore.status == "cancelled"


def test_a_refused_restore_stays_pending_audited_and_is_tried_again(mesh, users, settings):
    settings.MESHUI_RESTORE_SWEEP_INTERVAL = 30
    result = timed(users, "STRICT")
    mesh.inject_fault(403, verb="delete", resource="peerauthentications")
    later = timezone.now() + LATER
    restore = changes.timed_restore_run(restore_id=result.restore.pk, now=later)
    assert restore.status == "pending"
    assert restore.attempts == 1
    assert "not allowed to delete" in restore.error
    assert restore.next_try_at == later + timedelta(seconds=30)
    assert restore.restore_entry.outcome == "failed"
    assert restore.restore_entry.error.startswith("Attempt 1: ")
    assert mode_in(mesh) == "STRICT"
    # Not before its next try; then it runs, in an entry of its own.
    assert changes.timed_restore_run(restore_id=restore.pk, now=later).attempts == 1
    restore = changes.timed_restore_run(restore_id=restore.pk, now=later + timedelta(seconds=30))
    assert (restore.status, restore.attempts, restore.error) == ("done", 2, "")
    assert mode_in(mesh) is None
    assert list(
        AuditEntry.objects.filter(action="restore").order_by("id").values_list("outcome", flat=True)
    ) == ["failed", "applied"]


def test_retries_back_off_from_the_sweep_interval_up_to_five_minutes(mesh, users, settings):
    settings.MESHUI_RESTORE_SWEEP_INTERVAL = 30
    result = timed(users, "STRICT")
    mesh.inject_fault(503, resource="peerauthentications", times=100)
    now = timezone.now() + LATER
    waits = []
    for _attempt in range(6):
        restore = changes.timed_restore_run(restore_id=result.restore.pk, now=now)
        waits.append((restore.next_try_at - now).total_seconds())
        now = restore.next_try_at
    assert waits == [30, 60, 120, 240, 300, 300]
    assert "did not answer" in restore.error


def test_a_claimed_attempt_that_died_is_tried_again_after_its_claim(mesh, users):
    result = timed(users, "STRICT")
    later = timezone.now() + LATER
    # An attempt claimed the restore and its process died before it finished.
    claimed = changes.restores.restore_claim(restore_id=result.restore.pk, now=later, due_only=True)
    assert changes.restores.restore_claim(restore_id=claimed.pk, now=later, due_only=True) is None
    assert changes.timed_restore_run(restore_id=claimed.pk, now=later).status == "pending"
    after_claim = later + timedelta(seconds=changes.restores.RESTORE_CLAIM_SECONDS)
    restore = changes.timed_restore_run(restore_id=claimed.pk, now=after_claim)
    assert (restore.status, restore.attempts) == ("done", 2)


def test_a_restore_whose_target_already_holds_is_done_without_sending_anything(mesh, users):
    result = timed(users, "STRICT")
    # Someone (or an earlier attempt whose answer was lost) removed it already.
    stored = mesh.get("PeerAuthentication", "shop", "default")
    cluster.object_delete(
        "PeerAuthentication",
        "shop",
        "default",
        resource_version=stored["metadata"]["resourceVersion"],
    )
    mesh.clear_requests()
    restore = changes.timed_restore_run(restore_id=result.restore.pk, now=timezone.now() + LATER)
    assert restore.status == "done"
    assert restore.restore_entry.object_sent is None
    assert restore.restore_entry.dry_run_result.startswith(
        "Nothing sent: shop is already without a namespace-wide policy"
    )
    assert not [r for r in mesh.requests if r.method in ("PATCH", "DELETE")]


@pytest.mark.django_db(transaction=True)
def test_a_timed_change_queues_its_restore_with_an_eta_when_a_broker_runs(
    kube, users, settings, monkeypatch
):
    from tests.changes.conftest import shop_mesh

    kube.seed(shop_mesh())
    resync()
    # A broker runs exactly when REDIS_URL is set; nothing here is sent to it.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr("policies.services.sync.sync_request", lambda **kwargs: None)
    queued = []
    monkeypatch.setattr(
        restore_namespace_mode, "apply_async", lambda **kwargs: queued.append(kwargs)
    )
    result = timed(users, "STRICT")
    assert queued == [
        {"kwargs": {"restore_id": result.restore.pk}, "eta": result.restore.restore_at}
    ]


def test_the_preview_says_what_comes_back_and_when(mesh, users):
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", duration=timedelta(hours=2))
    assert plan.summary == (
        "Set namespace shop to STRICT for 2 hours, "
        "then the namespace policy removed again by meshui"
    )
    changes.namespace_mode_set(user=users["oncall"], namespace="shop", mode="STRICT", reason="x")
    resync()
    plan = changes.namespace_mode_plan(
        namespace="shop", mode="PERMISSIVE", duration=timedelta(minutes=15)
    )
    assert (
        plan.summary
        == "Set namespace shop to PERMISSIVE for 15 minutes, then back to STRICT by meshui"
    )
