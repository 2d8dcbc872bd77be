"""Timed namespace changes: meshui restores the previous mode by itself, audited, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

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
    [delete] = [r for r in mesh.requests if r.method == "DELETE"]
    assert delete.json()["preconditions"]["resourceVersion"]
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
            scope="namespace", namespace="shop", name="default", spec={"mtls": {"mode": "DISABLE"}}
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


def test_failed_restore_is_recorded_and_audited(mesh, users):
    result = timed(users, "STRICT")
    mesh.inject_fault(403, verb="delete", resource="peerauthentications")
    restore = changes.timed_restore_run(restore_id=result.restore.pk, now=timezone.now() + LATER)
    assert restore.status == "failed"
    assert "not allowed to delete" in restore.error
    assert restore.restore_entry.outcome == "failed"
    assert mode_in(mesh) == "STRICT"


@pytest.mark.django_db(transaction=True)
def test_a_timed_change_queues_its_restore_with_an_eta_when_a_broker_runs(
    kube, users, settings, monkeypatch
):
    from tests.changes.conftest import shop_mesh

    kube.seed(shop_mesh())
    resync()
    from meshui.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)
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
