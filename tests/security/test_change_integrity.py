"""Regression tests for the write path's integrity holes (issue 10, "changes that reach the
cluster when they must not"): replayed entries, rollbacks that delete, previews that differ
from what is applied, the mesh-wide back door, and outcomes that lie after a timeout.

Each test was written against 0.1's code first and failed there."""

import pytest
from django.core.exceptions import PermissionDenied

from policies.models import AuditEntry
from policies.services import changes
from tests.changes.conftest import half_done_pair, resync, seed_policy

TOGGLE_URL = "/namespaces/shop/mode/"


def cluster_writes(kube):
    return [r for r in kube.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")]


def live_mode(kube, name="default", namespace="shop"):
    policy = kube.get("PeerAuthentication", namespace, name)
    return None if policy is None else policy["spec"].get("mtls", {}).get("mode")


def kubectl_edit_mode(*, namespace, name, mode):
    """What `kubectl edit` sends: a merge patch as field manager kubectl-edit."""
    from kubernetes import client as k8s

    from policies import cluster

    k8s.CustomObjectsApi(cluster.api_client()).patch_namespaced_custom_object(
        "security.istio.io",
        "v1",
        namespace,
        "peerauthentications",
        name,
        {"spec": {"mtls": {"mode": mode}}},
        field_manager="kubectl-edit",
    )


# --- 1. Retry replays only the half-done pair it exists for ----------------------------------


def test_retry_of_a_refused_toggle_never_reaches_the_cluster(client, mesh, users):
    client.force_login(users["norole"])
    refused = client.post(
        TOGGLE_URL,
        {
            "mode": "DISABLE",
            "reason": "mine",
            "seen_resource_version": "absent",
            "seen_name": "default",
            "confirm": "1",
        },
    )
    assert refused.status_code == 403
    denied = AuditEntry.objects.get(outcome="denied")
    client.force_login(users["oncall"])
    mesh.clear_requests()
    response = client.post(f"/changes/{denied.pk}/retry/")
    assert response.status_code in (403, 404)
    assert cluster_writes(mesh) == []
    assert mesh.get("PeerAuthentication", "shop", "default") is None


@pytest.mark.parametrize("outcome_of", ["dry_run", "applied", "denied"])
def test_retry_accepts_only_a_half_done_pair(mesh, users, outcome_of):
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="x")
    if outcome_of == "dry_run":
        entry = changes.change_preview(user=users["admin"], plan=plan).entry
    elif outcome_of == "applied":
        entry = changes.namespace_mode_set(
            user=users["admin"], namespace="shop", mode="STRICT", reason="x"
        ).entry
    else:
        with pytest.raises(PermissionDenied):
            changes.change_denied(user=users["auditor"], plan=plan)
        entry = AuditEntry.objects.get(outcome="denied")
    mesh.clear_requests()
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.change_retry(user=users["admin"], entry_id=entry.pk, reason="INC-7 finish it")
    assert "only a half-done change" in refused.value.message
    assert cluster_writes(mesh) == []


def test_retry_is_replanned_from_the_current_state_and_dry_run_first(mesh, users):
    half_done = half_done_pair(mesh, users)
    resync()
    mesh.clear_requests()
    result = changes.change_retry(
        user=users["admin"], entry_id=half_done.pk, reason="INC-7 finish it"
    )
    patches = [r for r in cluster_writes(mesh) if r.method == "PATCH"]
    assert [r.param("dryRun") for r in patches][:2] == ["All", "All"]
    assert mesh.get("DestinationRule", "shop", "cart-mtls") is not None
    assert result.entry.outcome == "applied"
    assert result.entry.username == "alice"
    assert result.entry.restore_of_id == half_done.pk
    # Done once: the same pair is not retried (or rolled back) again.
    with pytest.raises(changes.ChangeFailure):
        changes.change_retry(user=users["admin"], entry_id=half_done.pk, reason="INC-7 finish it")


def test_retry_by_oncall_of_an_admins_half_done_pair_is_refused(mesh, users):
    half_done = half_done_pair(mesh, users)
    mesh.clear_requests()
    with pytest.raises(PermissionDenied):
        changes.change_retry(user=users["oncall"], entry_id=half_done.pk, reason="INC-7 finish it")
    assert cluster_writes(mesh) == []


# --- 2. Rollback undoes only what meshui applied, from a known state --------------------------


@pytest.mark.parametrize("outcome_of", ["dry_run", "denied", "failed"])
def test_rollback_of_a_non_applied_entry_never_deletes_the_live_policy(mesh, users, outcome_of):
    seed_policy(mesh, namespace="shop", name="default", mode="PERMISSIVE")
    resync()
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="x")
    if outcome_of == "dry_run":
        entry = changes.change_preview(user=users["admin"], plan=plan).entry
    elif outcome_of == "denied":
        with pytest.raises(PermissionDenied):
            changes.change_denied(user=users["auditor"], plan=plan)
        entry = AuditEntry.objects.get(outcome="denied")
    else:
        mesh.inject_fault(500, verb="patch", resource="peerauthentications")
        with pytest.raises(changes.ChangeFailure) as failed:
            changes.namespace_mode_set(
                user=users["admin"], namespace="shop", mode="STRICT", reason="x"
            )
        mesh.clear_faults()
        entry = failed.value.entry
    mesh.clear_requests()
    with pytest.raises(changes.ChangeFailure):
        changes.change_rollback(user=users["admin"], entry_id=entry.pk, reason="INC-7 finish it")
    assert cluster_writes(mesh) == []
    assert live_mode(mesh) == "PERMISSIVE"


def test_rollback_removes_what_the_half_done_pair_created_once(mesh, users):
    half_done = half_done_pair(mesh, users)
    changes.change_rollback(user=users["admin"], entry_id=half_done.pk, reason="INC-7 finish it")
    assert mesh.get("PeerAuthentication", "shop", "cart") is None
    with pytest.raises(changes.ChangeFailure):
        changes.change_rollback(
            user=users["admin"], entry_id=half_done.pk, reason="INC-7 finish it"
        )


def test_rollback_does_not_undo_someone_elses_later_change(mesh, users):
    half_done = half_done_pair(mesh, users)
    kubectl_edit_mode(namespace="shop", name="cart", mode="PERMISSIVE")
    mesh.clear_requests()
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.change_rollback(
            user=users["admin"], entry_id=half_done.pk, reason="INC-7 finish it"
        )
    assert "changed since" in refused.value.message
    assert cluster_writes(mesh) == []
    assert live_mode(mesh, "cart") == "PERMISSIVE"


# --- 3. The toggle applies exactly what it previewed and never a workload policy ---------------


def test_toggle_never_edits_a_workload_policy_that_has_the_toggles_name(client, mesh, users):
    seed_policy(mesh, namespace="shop", name="default", mode="PERMISSIVE", selector={"app": "cart"})
    resync()
    client.force_login(users["oncall"])
    form = client.get(TOGGLE_URL)
    seen_name = form.context["form"].initial["seen_name"]
    assert seen_name != "default"
    data = {"mode": "STRICT", "reason": "INC-5", "seen_resource_version": "absent"}
    data["seen_name"] = seen_name
    preview = client.post(TOGGLE_URL, data)
    assert f"name: {seen_name}" in preview.content.decode()
    response = client.post(TOGGLE_URL, {**data, "confirm": "1"})
    assert response.status_code == 302
    workload_policy = mesh.get("PeerAuthentication", "shop", "default")
    assert workload_policy["spec"] == {
        "selector": {"matchLabels": {"app": "cart"}},
        "mtls": {"mode": "PERMISSIVE"},
    }
    created = mesh.get("PeerAuthentication", "shop", seen_name)
    assert created["spec"] == {"mtls": {"mode": "STRICT"}}


def confirm_previewed_absent_default(user) -> changes.ChangeFailure:
    """Confirm a toggle whose preview showed "no policy: meshui would create default"."""
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.namespace_mode_set(
            user=user,
            namespace="shop",
            mode="STRICT",
            reason="INC",
            seen_name="default",
            seen_resource_version="absent",
        )
    return refused.value


def test_toggle_refuses_a_workload_policy_created_after_the_preview(mesh, users):
    # The snapshot knows no policy; by the confirm a workload policy named "default" exists.
    seed_policy(mesh, namespace="shop", name="default", mode="PERMISSIVE", selector={"app": "cart"})
    mesh.clear_requests()
    failure = confirm_previewed_absent_default(users["oncall"])
    assert failure.status == 409
    assert cluster_writes(mesh) == []
    assert live_mode(mesh) == "PERMISSIVE"


def test_toggle_confirm_without_what_was_previewed_is_not_applied(client, mesh, users):
    client.force_login(users["oncall"])
    response = client.post(TOGGLE_URL, {"mode": "STRICT", "reason": "INC-5", "confirm": "1"})
    assert response.status_code == 400
    assert mesh.get("PeerAuthentication", "shop", "default") is None


def test_toggle_refuses_a_namespace_wide_policy_it_did_not_preview(mesh, users):
    # Previewed "no policy"; a namespace-wide policy with another name appeared since: applying
    # "default" would add a second namespace-wide policy that Istio ignores.
    seed_policy(mesh, namespace="shop", name="platform", mode="PERMISSIVE")
    failure = confirm_previewed_absent_default(users["oncall"])
    assert failure.status == 409
    assert "platform" in failure.message
    assert mesh.get("PeerAuthentication", "shop", "default") is None


# --- 4. No mesh-wide change through the namespace toggle --------------------------------------


@pytest.mark.parametrize("role", ["oncall", "admin"])
def test_toggle_refuses_the_root_namespace(client, mesh, users, role):
    seed_policy(mesh, namespace="istio-system", name="default", mode="STRICT")
    resync()
    client.force_login(users[role])
    page = client.get("/namespaces/istio-system/mode/")
    assert page.status_code == 403
    assert "mesh-wide" in page.content.decode()
    mesh.clear_requests()
    response = client.post(
        "/namespaces/istio-system/mode/",
        {
            "mode": "PERMISSIVE",
            "reason": "INC",
            "seen_name": "default",
            "seen_resource_version": "1",
            "confirm": "1",
        },
    )
    assert response.status_code == 403
    assert cluster_writes(mesh) == []
    assert live_mode(mesh, namespace="istio-system") == "STRICT"
    with pytest.raises(PermissionDenied) as refused:
        changes.namespace_mode_set(
            user=users[role], namespace="istio-system", mode="PERMISSIVE", reason="INC"
        )
    assert "/changes/peer-authentication/new/?scope=mesh" in str(refused.value)
    assert AuditEntry.objects.filter(outcome="denied", target_namespace="istio-system").exists()


# --- 5. A timed-out apply records what is actually there --------------------------------------


def test_apply_that_times_out_but_took_effect_is_recorded_applied(mesh, users, settings):
    from policies import cluster

    settings.MESHUI_KUBE_TIMEOUT_SECONDS = 1
    cluster.forget_clients()
    mesh.inject_fault("slow", verb="apply", resource="peerauthentications", delay=1.5)
    result = changes.namespace_mode_set(
        user=users["oncall"], namespace="shop", mode="STRICT", reason="INC"
    )
    assert live_mode(mesh) == "STRICT"
    assert result.entry.outcome == "applied"
    assert "did not answer in time" in result.entry.dry_run_result
    assert "found it in force" in result.entry.dry_run_result


def test_apply_whose_answer_was_lost_is_recorded_unknown_not_failed(mesh, users):
    seed_policy(mesh, namespace="shop", name="default", mode="PERMISSIVE")
    resync()
    mesh.inject_fault("drop", verb="apply", resource="peerauthentications")
    with pytest.raises(changes.ChangeFailure) as unknown:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="INC"
        )
    entry = unknown.value.entry
    assert entry.outcome == "unknown"
    assert "PERMISSIVE" in unknown.value.message  # the state meshui found when it re-read
    assert "may still" in unknown.value.message
