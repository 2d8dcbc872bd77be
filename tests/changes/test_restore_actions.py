"""Acting on a pending timed restore: restore now, extend, cancel. Each needs a reason, is for
on-call staff and admins (checked in the service), and is audited whatever happens; pages
offer them where the pending restore shows, as plain forms that work without JavaScript."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from policies.models import AuditEntry, TimedRestore
from policies.reasons import REASON_REQUIRED
from policies.services import changes
from tests.changes.conftest import resync

TWO_HOURS = timedelta(hours=2)


@pytest.fixture
def pending(mesh, users):
    """shop switched to STRICT for two hours by on-call (it had no namespace policy)."""
    result = changes.namespace_mode_set(
        user=users["oncall"],
        namespace="shop",
        mode="STRICT",
        reason="INC-21 mTLS test",
        duration=TWO_HOURS,
    )
    resync()
    return result.restore


def mode_in(kube):
    stored = kube.get("PeerAuthentication", "shop", "default")
    return stored["spec"]["mtls"]["mode"] if stored else None


def entries(action):
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


# --- The services -----------------------------------------------------------------------------


def test_restore_now_goes_plan_dry_run_apply_and_is_audited_as_the_person(mesh, users, pending):
    mesh.clear_requests()
    result = changes.timed_restore_run_now(
        user=users["oncall"], restore_id=pending.pk, reason="INC-21 resolved"
    )
    assert mode_in(mesh) is None
    dry_run, delete = [r for r in mesh.requests if r.method == "DELETE"]
    assert (dry_run.param("dryRun"), delete.param("dryRun")) == ("All", None)
    restore = TimedRestore.objects.get()
    assert (restore.status, restore.restore_entry) == ("done", result.entry)
    entry = result.entry
    assert (entry.action, entry.outcome, entry.username, entry.role) == (
        "restore_now",
        "applied",
        "olga",
        "oncall",
    )
    assert (entry.reason, entry.restore_of_id) == ("INC-21 resolved", pending.change_id)
    # The timed restore has nothing left to do when its time comes.
    later = timezone.now() + 2 * TWO_HOURS
    assert changes.timed_restores_sweep(now=later) == {}


def test_restore_now_the_cluster_refuses_stays_pending_and_says_why(mesh, users, pending):
    mesh.inject_fault(503, resource="peerauthentications", times=100)
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.timed_restore_run_now(user=users["admin"], restore_id=pending.pk, reason="now")
    assert "did not answer" in refused.value.message
    assert (refused.value.entry.action, refused.value.entry.outcome) == ("restore_now", "failed")
    restore = TimedRestore.objects.get()
    assert (restore.status, restore.attempts) == ("pending", 1)
    assert mode_in(mesh) == "STRICT"


def test_extend_moves_the_restore_later_and_is_audited(mesh, users, pending):
    mesh.clear_requests()
    result = changes.timed_restore_extend(
        user=users["oncall"], restore_id=pending.pk, duration=timedelta(hours=1), reason="longer"
    )
    restore = TimedRestore.objects.get()
    assert restore.restore_at == pending.restore_at + timedelta(hours=1)
    assert restore.status == "pending"
    assert (result.entry.action, result.entry.outcome) == ("restore_extend", "applied")
    assert "moved by 1 hour" in result.entry.dry_run_result
    assert not [r for r in mesh.requests if r.method in ("PATCH", "DELETE")]
    # Not at the old time, at the new one.
    assert changes.timed_restores_sweep(now=pending.restore_at + timedelta(minutes=1)) == {}
    assert list(changes.timed_restores_sweep(now=restore.restore_at).values()) == ["done"]


def test_extending_an_overdue_restore_counts_from_now_and_clears_its_failures(mesh, users, pending):
    TimedRestore.objects.update(
        restore_at=timezone.now() - timedelta(hours=1), attempts=4, error="did not answer"
    )
    before = timezone.now()
    changes.timed_restore_extend(
        user=users["oncall"], restore_id=pending.pk, duration=timedelta(minutes=15), reason="x"
    )
    restore = TimedRestore.objects.get()
    assert before + timedelta(minutes=15) <= restore.restore_at
    assert restore.restore_at <= timezone.now() + timedelta(minutes=15)
    assert (restore.attempts, restore.error, restore.next_try_at) == (0, "", None)


def test_cancel_keeps_the_current_mode_and_is_audited(mesh, users, pending):
    result = changes.timed_restore_cancel(
        user=users["oncall"], restore_id=pending.pk, reason="STRICT works, keep it"
    )
    restore = TimedRestore.objects.get()
    assert restore.status == "cancelled"
    assert restore.finished_at is not None
    assert restore.error == "Cancelled by olga: STRICT works, keep it"
    assert (result.entry.action, result.entry.outcome) == ("restore_cancel", "applied")
    assert changes.timed_restores_sweep(now=timezone.now() + 2 * TWO_HOURS) == {}
    assert mode_in(mesh) == "STRICT"


@pytest.mark.parametrize(
    "act",
    [
        lambda user, pk: changes.timed_restore_run_now(user=user, restore_id=pk, reason=" "),
        lambda user, pk: changes.timed_restore_extend(
            user=user, restore_id=pk, duration=timedelta(hours=1), reason=""
        ),
        lambda user, pk: changes.timed_restore_cancel(user=user, restore_id=pk, reason=""),
    ],
    ids=["run", "extend", "cancel"],
)
def test_every_action_needs_a_reason_and_a_refusal_is_audited(mesh, users, pending, act):
    with pytest.raises(changes.ChangeFailure) as refused:
        act(users["oncall"], pending.pk)
    assert refused.value.field_errors == {"reason": [REASON_REQUIRED]}
    assert refused.value.entry.outcome == "failed"
    assert TimedRestore.objects.get().status == "pending"
    assert mode_in(mesh) == "STRICT"


@pytest.mark.parametrize("role", ["auditor", "norole"])
@pytest.mark.parametrize(
    ("action", "act"),
    [
        (
            "restore_now",
            lambda user, pk: changes.timed_restore_run_now(user=user, restore_id=pk, reason="x"),
        ),
        (
            "restore_extend",
            lambda user, pk: changes.timed_restore_extend(
                user=user, restore_id=pk, duration=timedelta(hours=1), reason="x"
            ),
        ),
        (
            "restore_cancel",
            lambda user, pk: changes.timed_restore_cancel(user=user, restore_id=pk, reason="x"),
        ),
    ],
)
def test_only_on_call_and_admins_act_on_a_restore_and_refusals_are_audited(
    mesh, users, pending, role, action, act
):
    with pytest.raises(PermissionDenied):
        act(users[role], pending.pk)
    [denied] = entries(action)
    assert denied.outcome == "denied"
    assert "on-call or admin" in denied.error
    restore = TimedRestore.objects.get()
    assert (restore.status, restore.restore_at) == ("pending", pending.restore_at)


def test_an_action_on_a_restore_no_longer_pending_is_a_conflict_on_record(mesh, users, pending):
    changes.timed_restore_cancel(user=users["oncall"], restore_id=pending.pk, reason="keep")
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.timed_restore_run_now(user=users["admin"], restore_id=pending.pk, reason="now")
    assert refused.value.status == 409
    assert "is cancelled" in refused.value.message
    assert refused.value.entry.outcome == "conflict"
    assert mode_in(mesh) == "STRICT"


# --- The pages --------------------------------------------------------------------------------


def test_the_namespace_page_shows_the_timed_mode_and_its_actions_to_on_call(client, users, pending):
    client.force_login(users["oncall"])
    page = client.get("/namespaces/shop/").content.decode()
    assert "STRICT until" in page and "then no namespace-wide policy" in page
    assert f'action="/restores/{pending.pk}/run/"' in page
    assert f'formaction="/restores/{pending.pk}/extend/"' in page
    assert f'formaction="/restores/{pending.pk}/cancel/"' in page


def test_auditors_see_the_timed_mode_but_no_actions(client, users, pending):
    client.force_login(users["auditor"])
    page = client.get("/namespaces/shop/").content.decode()
    assert "STRICT until" in page
    assert "/restores/" not in page
    assert client.get(f"/restores/{pending.pk}/cancel/").status_code == 403


def test_cancel_without_javascript_posts_then_shows_its_audit_entry(client, users, pending, mesh):
    client.force_login(users["oncall"])
    response = client.post(
        f"/restores/{pending.pk}/cancel/", {"reason": "keep STRICT", "duration_minutes": "60"}
    )
    [entry] = entries("restore_cancel")
    assert response.status_code == 302
    assert response["Location"] == f"/changes/{entry.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "cancelled: namespace shop keeps its current mode" in page
    assert "STRICT until" not in client.get("/namespaces/shop/").content.decode()
    assert mode_in(mesh) == "STRICT"


def test_extend_from_the_change_page(client, users, pending):
    client.force_login(users["admin"])
    page = client.get(f"/changes/{pending.change_id}/").content.decode()
    assert f'formaction="/restores/{pending.pk}/extend/"' in page
    response = client.post(
        f"/restores/{pending.pk}/extend/", {"reason": "one more hour", "duration_minutes": "60"}
    )
    assert response.status_code == 302
    assert TimedRestore.objects.get().restore_at == pending.restore_at + timedelta(hours=1)


def test_restore_now_from_the_page_restores_and_shows_the_change(client, users, pending, mesh):
    client.force_login(users["oncall"])
    response = client.post(f"/restores/{pending.pk}/run/", {"reason": "INC-21 over"})
    [entry] = entries("restore_now")
    assert response["Location"] == f"/changes/{entry.pk}/"
    assert mode_in(mesh) is None


def test_a_form_without_a_reason_comes_back_with_the_error_and_changes_nothing(
    client, users, pending
):
    client.force_login(users["oncall"])
    response = client.post(f"/restores/{pending.pk}/extend/", {"reason": " "})
    page = response.content.decode()
    assert response.status_code == 400
    assert f"Reason: {REASON_REQUIRED}" in page
    assert "Extend by: How long?" in page
    assert TimedRestore.objects.get().restore_at == pending.restore_at
    assert not entries("restore_extend")


def test_an_auditor_posting_anyway_is_refused_and_audited(client, users, pending):
    client.force_login(users["auditor"])
    response = client.post(f"/restores/{pending.pk}/run/", {"reason": "let me"})
    assert response.status_code == 403
    [denied] = entries("restore_now")
    assert (denied.outcome, denied.username) == ("denied", "aud")
    assert TimedRestore.objects.get().status == "pending"


def test_an_unknown_restore_is_not_found(client, users, db):
    client.force_login(users["oncall"])
    assert client.post("/restores/999/run/", {"reason": "x"}).status_code == 404


def test_each_action_has_a_page_of_its_own_for_on_call(client, users, pending):
    client.force_login(users["oncall"])
    page = client.get(f"/restores/{pending.pk}/extend/").content.decode()
    assert f"Timed restore #{pending.pk} of shop" in page
    assert "STRICT until" in page
    assert f'formaction="/restores/{pending.pk}/cancel/"' in page
