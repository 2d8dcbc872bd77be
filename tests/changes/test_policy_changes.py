"""Admin changes against the API server double: preview with a server dry run, deletes with a
resourceVersion precondition, mode edits, the workload policy + DestinationRule pair."""

import pytest

from policies.models import AuditEntry
from policies.services import changes
from tests.changes.conftest import resync, seed_policy


def writes(kube):
    return [r for r in kube.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")]


def workload_plan(**kwargs):
    return changes.peer_authentication_plan(
        scope="workload",
        namespace="shop",
        name="cart",
        spec={"selector": {"matchLabels": {"app": "cart"}}, "mtls": {"mode": "STRICT"}},
        with_destination_rule=True,
        **kwargs,
        reason="INC-7 test",
    )


def test_preview_runs_a_server_dry_run_and_persists_nothing(mesh, users):
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="try")
    mesh.clear_requests()
    preview = changes.change_preview(user=users["oncall"], plan=plan)
    [request] = writes(mesh)
    assert request.param("dryRun") == "All"
    assert request.param("fieldManager") == "meshui"
    assert request.content_type.startswith("application/apply-patch+yaml")
    assert preview.dry_run_ok, preview.dry_run_message
    assert mesh.get("PeerAuthentication", "shop", "default") is None
    assert preview.entry.outcome == AuditEntry.Outcome.DRY_RUN
    assert [c.label for c in preview.impact.namespace_changes] == ["shop"]
    assert [str(ref) for ref in preview.impact.plaintext_callers] == ["legacy/mainframe"]


def test_preview_shows_the_exact_yaml_and_the_kubectl_command(mesh, users):
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="x")
    assert plan.objects_text == (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
        "  name: default\n  namespace: shop\nspec:\n  mtls:\n    mode: STRICT\n"
    )
    assert plan.kubectl == f"kubectl apply -f - <<'EOF'\n{plan.objects_text}EOF"
    delete = changes.policy_delete_plan(
        kind="PeerAuthentication", namespace="shop", name="default", resource_version="7"
    )
    assert delete.kubectl == "kubectl delete peerauthentication -n shop default"


def test_dry_run_reports_the_clusters_own_validation_mapped_to_fields(mesh, users):
    plan = changes.peer_authentication_plan(
        scope="namespace",
        namespace="shop",
        name="default",
        spec={"mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}},
        reason="INC-7 test",
    )
    preview = changes.change_preview(user=users["admin"], plan=plan)
    assert not preview.dry_run_ok
    assert "The cluster rejected PeerAuthentication shop/default" in preview.dry_run_message
    messages = " ".join(m for ms in preview.failure.field_errors.values() for m in ms)
    assert "portLevelMtls requires selector" in messages
    from policies.forms.changes import PeerAuthenticationForm, form_field_for_path

    form = PeerAuthenticationForm(initial={"scope": "workload"})  # the scope with port modes
    assert {form_field_for_path(path, form) for path in preview.failure.field_errors} == {
        "port_modes"
    }


def test_workload_policy_and_destination_rule_are_one_action(mesh, users):
    mesh.clear_requests()
    result = changes.peer_authentication_apply(user=users["admin"], plan=workload_plan())
    paths = [r.path.rsplit("/", 2)[-2:] for r in writes(mesh)]
    assert paths == [["peerauthentications", "cart"], ["destinationrules", "cart-mtls"]]
    rule = mesh.get("DestinationRule", "shop", "cart-mtls")
    assert rule["spec"] == {
        "host": "cart.shop.svc.cluster.local",
        "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
    }
    assert result.entry.outcome == AuditEntry.Outcome.APPLIED
    assert len(result.entry.object_sent) == 2


def test_second_write_failing_says_what_exists_and_offers_retry_and_rollback(mesh, users):
    mesh.inject_fault(403, verb="patch", resource="destinationrules")
    with pytest.raises(changes.PartialChange) as half:
        changes.peer_authentication_apply(user=users["admin"], plan=workload_plan())
    partial = half.value
    assert "PeerAuthentication shop/cart was applied and is in force now" in partial.message
    assert "DestinationRule cart-mtls was not" in partial.message
    assert "not allowed to patch destinationrules.networking.istio.io" in partial.message
    assert mesh.get("PeerAuthentication", "shop", "cart") is not None
    assert partial.entry.outcome == AuditEntry.Outcome.PARTIAL

    changes.change_retry(user=users["admin"], entry_id=partial.entry.pk, reason="INC-7 finish it")
    assert mesh.get("DestinationRule", "shop", "cart-mtls") is not None


def test_rollback_removes_what_a_half_done_change_created(mesh, users):
    mesh.inject_fault(503, verb="patch", resource="destinationrules")
    with pytest.raises(changes.PartialChange) as half:
        changes.peer_authentication_apply(user=users["admin"], plan=workload_plan())
    result = changes.change_rollback(
        user=users["admin"], entry_id=half.value.entry.pk, reason="INC-7 finish it"
    )
    assert mesh.get("PeerAuthentication", "shop", "cart") is None
    assert result.entry.outcome == AuditEntry.Outcome.ROLLED_BACK
    assert result.entry.restore_of_id == half.value.entry.pk


def test_delete_carries_the_resource_version_the_user_saw(mesh, users):
    stored = seed_policy(mesh, namespace="shop", mode="STRICT")
    mesh.clear_requests()
    changes.policy_delete(
        user=users["admin"],
        kind="PeerAuthentication",
        namespace="shop",
        name="default",
        resource_version=stored["metadata"]["resourceVersion"],
        reason="cleanup",
    )
    [request] = writes(mesh)
    assert request.method == "DELETE"
    assert (
        request.json()["preconditions"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    )
    assert mesh.get("PeerAuthentication", "shop", "default") is None


def test_delete_of_a_policy_changed_since_is_refused_and_shows_the_new_state(mesh, users):
    stored = seed_policy(mesh, namespace="shop", mode="STRICT")
    seen = stored["metadata"]["resourceVersion"]
    changes.namespace_mode_set(
        user=users["admin"],
        namespace="shop",
        mode="PERMISSIVE",
        reason="changed meanwhile",
        force=True,
    )
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.policy_delete(
            user=users["admin"],
            kind="PeerAuthentication",
            namespace="shop",
            name="default",
            resource_version=seen,
            reason="INC-7 test",
        )
    failure = refused.value
    assert "changed since you looked at it" in failure.message
    assert failure.current_object["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert failure.current_resource_version != seen
    assert "mode: PERMISSIVE" in failure.current_yaml
    assert failure.entry.outcome == AuditEntry.Outcome.CONFLICT
    assert mesh.get("PeerAuthentication", "shop", "default") is not None


def test_mode_edit_keeps_the_selector_and_ports_and_checks_the_version(mesh, users):
    changes.peer_authentication_apply(
        user=users["admin"],
        plan=changes.peer_authentication_plan(
            scope="workload",
            namespace="shop",
            name="cart",
            spec={
                "selector": {"matchLabels": {"app": "cart"}},
                "mtls": {"mode": "STRICT"},
                "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}},
            },
            reason="INC-7 test",
        ),
    )
    resync()
    seen = mesh.get("PeerAuthentication", "shop", "cart")["metadata"]["resourceVersion"]
    changes.peer_authentication_mode_update(
        user=users["admin"],
        namespace="shop",
        name="cart",
        mode="PERMISSIVE",
        resource_version=seen,
        reason="INC-7 test",
    )
    spec = mesh.get("PeerAuthentication", "shop", "cart")["spec"]
    assert spec["mtls"] == {"mode": "PERMISSIVE"}
    assert spec["selector"] == {"matchLabels": {"app": "cart"}}
    assert spec["portLevelMtls"] == {"8080": {"mode": "PERMISSIVE"}}
    with pytest.raises(changes.ChangeFailure) as stale:
        changes.peer_authentication_mode_update(
            user=users["admin"],
            namespace="shop",
            name="cart",
            mode="STRICT",
            resource_version=seen,
            reason="INC-7 test",
        )
    assert stale.value.status == 409


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (
            {"action": 403, "verb": "patch"},
            "meshui's service account is not allowed to patch peerauthentications.security.istio.io"
            " in namespace shop",
        ),
        ({"action": 503}, "The cluster did not answer"),
        ({"action": "drop"}, "The cluster did not answer"),
        ({"action": 401}, "did not accept meshui's credentials"),
    ],
)
def test_cluster_errors_reach_the_user_in_words(mesh, users, fault, words):
    action = fault.pop("action")
    mesh.inject_fault(action, resource="peerauthentications", times=5, **fault)
    with pytest.raises(changes.ChangeFailure) as failed:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x"
        )
    assert words in failed.value.message
    assert failed.value.entry.outcome == AuditEntry.Outcome.FAILED
    assert failed.value.entry.error == failed.value.message


def test_timeout_is_told_in_words(mesh, users, settings):
    settings.MESHUI_KUBE_TIMEOUT_SECONDS = 1
    from policies import cluster

    cluster.forget_clients()
    mesh.inject_fault("slow", resource="peerauthentications", delay=3, times=5)
    with pytest.raises(changes.ChangeFailure) as failed:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x"
        )
    assert "did not answer" in failed.value.message


def test_a_namespace_that_never_existed_is_not_said_to_be_gone(mesh, users):
    """`nowhere` is in no snapshot: it never existed as far as meshui knows (issue 13 §4)."""
    with pytest.raises(changes.ChangeFailure) as failed:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="nowhere", mode="STRICT", reason="x"
        )
    message = failed.value.message
    assert "no longer" not in message
    assert message.startswith("Namespace nowhere does not exist in the cluster")
    assert "meshui has never seen it" in message


def test_a_namespace_deleted_since_the_last_sync_is_said_to_no_longer_exist(mesh, users):
    import urllib.request

    request = urllib.request.Request(
        f"{mesh.url}/api/v1/namespaces/legacy",
        method="DELETE",
        headers={"Authorization": f"Bearer {mesh.token}"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    with pytest.raises(changes.ChangeFailure) as failed:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="legacy", mode="STRICT", reason="x"
        )
    assert failed.value.message.startswith("Namespace legacy no longer exists in the cluster")
    assert "meshui last saw it in the snapshot of" in failed.value.message


def test_istio_not_installed_is_told_in_words(kube, db, users):
    kube.reset(crd_files=[])
    with pytest.raises(changes.ChangeFailure) as failed:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="default", mode="STRICT", reason="x"
        )
    assert "Istio is not installed" in failed.value.message


def test_preview_of_one_namespace_matches_evaluating_the_whole_mesh(mesh, users):
    from policies.engine import evaluate
    from policies.engine.impact import objects_with_applied, posture_impact
    from policies.models import Snapshot
    from policies.snapshot_objects import snapshot_objects
    from tests.engine.builders import destination_rule

    # A rule in another namespace that turns mTLS off towards shop's cart.
    mesh.seed([destination_rule("legacy", "to-cart", "cart.shop.svc.cluster.local", "DISABLE")])
    resync()
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="x")
    scoped, _note = changes.impact_of(plan)

    objects = snapshot_objects(Snapshot.objects.latest())
    manifest = {
        **plan.manifests[0],
        "metadata": {**plan.manifests[0]["metadata"], "creationTimestamp": "2030-01-01T00:00:00Z"},
    }
    full = posture_impact(
        evaluate(objects, root_namespace="istio-system"),
        evaluate(objects_with_applied(objects, manifest), root_namespace="istio-system"),
    )
    for field in (
        "namespace_changes",
        "workload_changes",
        "port_changes",
        "strict_without_sidecar",
        "plaintext_callers",
        "plaintext_callers_total",
    ):
        assert getattr(scoped, field) == getattr(full, field), field
    assert {f.code for f in scoped.findings_appearing} == {f.code for f in full.findings_appearing}
    assert "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT" in {
        f.code for f in scoped.destination_rule_conflicts
    }


def test_a_destination_rule_is_deleted_as_of_the_version_seen(mesh, users):
    changes.peer_authentication_apply(user=users["admin"], plan=workload_plan())
    seen = mesh.get("DestinationRule", "shop", "cart-mtls")["metadata"]["resourceVersion"]
    mesh.clear_requests()
    result = changes.policy_delete(
        user=users["admin"],
        kind="DestinationRule",
        namespace="shop",
        name="cart-mtls",
        resource_version=seen,
        reason="not needed",
    )
    [request] = writes(mesh)
    assert request.path == "/apis/networking.istio.io/v1/namespaces/shop/destinationrules/cart-mtls"
    assert request.json()["preconditions"] == {"resourceVersion": seen}
    assert mesh.get("DestinationRule", "shop", "cart-mtls") is None
    assert result.entry.object_before["spec"]["host"] == "cart.shop.svc.cluster.local"
    assert result.plan.kubectl == "kubectl delete destinationrule -n shop cart-mtls"
