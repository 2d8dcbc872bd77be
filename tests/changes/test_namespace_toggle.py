"""The on-call toggle over HTTP against the API server double: requests as sent, the
precondition that prevents lost updates, and audit entries for every attempt."""

import threading

import pytest
from django.core.exceptions import PermissionDenied

from policies.models import AuditEntry, Snapshot
from policies.reasons import REASON_REQUIRED
from policies.services import changes
from tests.changes.conftest import resync, seed_policy


def applies(kube):
    return [r for r in kube.requests if r.method == "PATCH"]


def test_toggle_sends_server_side_apply_as_meshui(mesh, users):
    mesh.clear_requests()
    changes.namespace_mode_set(
        user=users["oncall"],
        namespace="shop",
        mode="STRICT",
        reason="INC-1",
        seen_resource_version="absent",
    )
    [request] = applies(mesh)
    assert request.content_type.startswith("application/apply-patch+yaml")
    assert request.param("fieldManager") == "meshui"
    assert request.param("dryRun") is None
    assert request.path.endswith("/namespaces/shop/peerauthentications/default")
    body = request.json()
    assert body["spec"] == {"mtls": {"mode": "STRICT"}}
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"


def test_toggle_never_touches_mesh_or_workload_policies(mesh, users):
    seed_policy(mesh, namespace="istio-system", mode="PERMISSIVE")
    seed_policy(mesh, namespace="shop", name="cart", mode="PERMISSIVE", selector={"app": "cart"})
    resync()
    mesh.clear_requests()
    changes.namespace_mode_set(user=users["oncall"], namespace="shop", mode="STRICT", reason="x")
    written = {r.path for r in mesh.requests if r.method in ("PATCH", "PUT", "POST", "DELETE")}
    assert written == {"/apis/security.istio.io/v1/namespaces/shop/peerauthentications/default"}


def test_toggle_updates_the_existing_namespace_policy_with_its_resource_version(mesh, users):
    changes.namespace_mode_set(
        user=users["oncall"], namespace="shop", mode="PERMISSIVE", reason="first"
    )
    resync()
    seen = mesh.get("PeerAuthentication", "shop", "default")["metadata"]["resourceVersion"]
    mesh.clear_requests()
    result = changes.namespace_mode_set(
        user=users["oncall"],
        namespace="shop",
        mode="STRICT",
        reason="x",
        seen_resource_version=seen,
    )
    [request] = applies(mesh)
    assert request.json()["metadata"]["resourceVersion"] == seen
    assert result.entry.object_before["spec"]["mtls"]["mode"] == "PERMISSIVE"


def test_a_persons_field_is_taken_over_only_with_the_go_ahead_which_oncall_may_give(mesh, users):
    # devcluster-seed is an Update manager meshui does not list as a reconciler: a person's.
    seed_policy(mesh, namespace="shop", name="ns-wide", mode="PERMISSIVE")
    resync()
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x"
        )
    failure = refused.value
    assert failure.field_manager_conflicts == [
        {"field": ".spec.mtls.mode", "manager": "devcluster-seed"}
    ]
    assert "needs your explicit go-ahead" in failure.message
    assert failure.takeover.may_force is True
    assert failure.entry.outcome == AuditEntry.Outcome.CONFLICT
    mesh.clear_requests()
    changes.namespace_mode_set(
        user=users["oncall"], namespace="shop", mode="STRICT", reason="x", force=True
    )
    [request] = applies(mesh)
    assert request.param("force") == "true"
    assert request.path.endswith("/peerauthentications/ns-wide")
    assert mesh.get("PeerAuthentication", "shop", "ns-wide")["spec"]["mtls"]["mode"] == "STRICT"


def test_applying_twice_changes_nothing_the_second_time(mesh, users):
    changes.namespace_mode_set(user=users["oncall"], namespace="shop", mode="STRICT", reason="x")
    first = mesh.get("PeerAuthentication", "shop", "default")["metadata"]["resourceVersion"]
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="x")
    plan.manifests[0]["metadata"].pop("resourceVersion", None)
    changes.peer_authentication_apply(user=users["admin"], plan=plan)
    assert mesh.get("PeerAuthentication", "shop", "default")["metadata"]["resourceVersion"] == first


def test_stale_view_is_refused_and_the_new_state_shown(mesh, users):
    changes.namespace_mode_set(user=users["admin"], namespace="shop", mode="STRICT", reason="a")
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.namespace_mode_set(
            user=users["oncall"],
            namespace="shop",
            mode="PERMISSIVE",
            reason="b",
            seen_resource_version="absent",
        )
    failure = refused.value
    assert "changed since you looked" in failure.message
    assert failure.current_object["spec"]["mtls"]["mode"] == "STRICT"
    assert failure.entry.outcome == AuditEntry.Outcome.CONFLICT
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"


@pytest.mark.django_db(transaction=True)
def test_two_users_toggling_at_once_lose_no_update_and_both_are_audited(kube, users):
    from tests.changes.conftest import shop_mesh

    kube.seed(shop_mesh())
    resync()
    barrier = threading.Barrier(2)
    outcomes = {}

    def toggle(role, mode):
        barrier.wait()
        try:
            changes.namespace_mode_set(
                user=users[role],
                namespace="shop",
                mode=mode,
                reason=f"{role} wants {mode}",
                seen_resource_version="absent",
            )
            outcomes[role] = "applied"
        except changes.ChangeFailure as failure:
            outcomes[role] = failure.message
        finally:
            from django.db import connection

            connection.close()

    threads = [
        threading.Thread(target=toggle, args=args)
        for args in (("oncall", "STRICT"), ("admin", "PERMISSIVE"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(o == "applied" for o in outcomes.values()) == [False, True]
    winner = next(role for role, o in outcomes.items() if o == "applied")
    loser = next(role for role, o in outcomes.items() if o != "applied")
    assert "changed since you looked" in outcomes[loser]
    stored = kube.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"]
    assert stored == {"oncall": "STRICT", "admin": "PERMISSIVE"}[winner]
    entries = AuditEntry.objects.filter(action="namespace_mode_set")
    assert sorted(entries.values_list("outcome", flat=True)) == ["applied", "conflict"]


def test_reason_is_required(mesh, users):
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="  "
        )
    assert refused.value.field_errors == {"reason": [REASON_REQUIRED]}
    assert refused.value.entry.outcome == AuditEntry.Outcome.FAILED
    assert mesh.get("PeerAuthentication", "shop", "default") is None


@pytest.mark.parametrize("role", ["auditor", "norole"])
def test_roles_that_may_not_toggle_are_denied_and_audited(mesh, users, role):
    mesh.clear_requests()
    with pytest.raises(PermissionDenied):
        changes.namespace_mode_set(user=users[role], namespace="shop", mode="STRICT", reason="x")
    assert applies(mesh) == []
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.username) == ("denied", users[role].username)


def test_oncall_may_not_force_a_field_manager_conflict(mesh, users):
    with pytest.raises(PermissionDenied):
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x", force=True
        )
    assert (
        AuditEntry.objects.get().error == "Only an admin may take over fields another manager owns."
    )


def test_after_the_sync_the_snapshot_shows_the_namespace_strict(
    mesh, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x"
        )
    snapshot = Snapshot.objects.latest()
    assert snapshot.namespaces.get(name="shop").mode == "STRICT"
    from policies.selectors.audit import change_sync_state

    assert change_sync_state(entry=result.entry)["reflected"] is True


def test_the_toggle_only_switches_between_strict_and_permissive(mesh, users):
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.namespace_mode_set(
            user=users["admin"], namespace="shop", mode="DISABLE", reason="x"
        )
    assert "between STRICT and PERMISSIVE" in refused.value.message
    assert refused.value.entry.outcome == AuditEntry.Outcome.FAILED
    assert mesh.get("PeerAuthentication", "shop", "default") is None
