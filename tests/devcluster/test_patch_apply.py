"""Merge patch, JSON patch, strategic merge, and server-side apply with field ownership."""

from __future__ import annotations

import json

from .builders import PA_GROUP, PA_PLURAL, deployment, failure, peer_auth, pod

APPLY = "application/apply-patch+yaml"


def apply(custom, body, *, manager="meshui", force=None, dry_run=None):
    """An SSA call the way the gateway makes it; returns (HTTP status, object)."""
    kwargs = {"field_manager": manager, "_content_type": APPLY, "_preload_content": False}
    if force is not None:
        kwargs["force"] = force
    if dry_run:
        kwargs["dry_run"] = dry_run
    metadata = body["metadata"]
    response = custom.patch_namespaced_custom_object(
        PA_GROUP, "v1", metadata["namespace"], PA_PLURAL, metadata["name"], body, **kwargs
    )
    return response.status, json.loads(response.data)


def test_merge_patch_merges_maps_and_null_deletes(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default", labels={"a": "1", "b": "2"})
    )
    patched = custom.patch_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"mtls": {"mode": "PERMISSIVE"}}},
    )
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert patched["metadata"]["generation"] == 2


def test_json_patch_applies_operations_in_order(core):
    core.create_namespaced_pod("default", pod("default", "web", app="web"))
    patched = core.patch_namespaced_pod(
        "web",
        "default",
        [
            {"op": "test", "path": "/metadata/labels/app", "value": "web"},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "remove", "path": "/metadata/labels/app"},
        ],
        _content_type="application/json-patch+json",
    )
    assert patched.metadata.labels == {"tier": "front"}


def test_a_failing_json_patch_operation_is_422_and_changes_nothing(core, devcluster):
    core.create_namespaced_pod("default", pod("default", "web", app="web"))
    status, body = failure(
        core.patch_namespaced_pod,
        "web",
        "default",
        [
            {"op": "add", "path": "/metadata/labels/tier", "value": "x"},
            {"op": "test", "path": "/metadata/labels/app", "value": "api"},
        ],
        _content_type="application/json-patch+json",
    )
    assert status == 422
    assert body["reason"] == "Invalid"
    assert devcluster.get("Pod", "default", "web")["metadata"]["labels"] == {"app": "web"}


def test_strategic_merge_on_a_custom_resource_is_415(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default")
    )
    status, body = failure(
        custom.patch_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        {"spec": {"mtls": {"mode": "DISABLE"}}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"


def test_strategic_merge_on_a_built_in_kind_is_applied_as_a_merge_patch(apps):
    apps.create_namespaced_deployment("default", deployment("default", "web"))
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3


def test_patch_of_a_missing_object_is_404(custom):
    status, _ = failure(
        custom.patch_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "ghost",
        {"spec": {}},
    )
    assert status == 404


def test_apply_requires_a_field_manager(custom):
    body = peer_auth("default")
    status, status_body = failure(
        custom.patch_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        body,
        _content_type=APPLY,
    )
    assert status == 422
    assert status_body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: is required for apply patch",
            "field": "fieldManager",
        }
    ]


def test_apply_creates_with_201_and_records_the_manager(custom):
    status, created = apply(custom, peer_auth("default"))
    assert status == 201
    (entry,) = created["metadata"]["managedFields"]
    assert entry["manager"] == "meshui" and entry["operation"] == "Apply"
    assert entry["fieldsV1"] == {"f:spec": {"f:mtls": {"f:mode": {}}}}


def test_applying_the_same_object_twice_changes_nothing(custom):
    _, first = apply(custom, peer_auth("default"))
    status, second = apply(custom, peer_auth("default"))
    assert status == 200
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_apply_over_another_managers_field_is_409_with_field_manager_conflict(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", mode="PERMISSIVE"),
        field_manager="kubectl-edit",
    )
    status, body = failure(apply, custom, peer_auth("default", mode="STRICT"))
    assert status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using security.istio.io/v1: '
        ".spec.mtls.mode"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-edit" using security.istio.io/v1',
            "field": ".spec.mtls.mode",
        }
    ]


def test_forced_apply_takes_the_field_over(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", mode="PERMISSIVE"),
        field_manager="kubectl-edit",
    )
    status, applied = apply(custom, peer_auth("default", mode="STRICT"), force=True)
    assert status == 200
    assert applied["spec"]["mtls"]["mode"] == "STRICT"
    managers = {e["manager"]: e for e in applied["metadata"]["managedFields"]}
    assert managers["meshui"]["fieldsV1"] == {"f:spec": {"f:mtls": {"f:mode": {}}}}
    # The creator keeps only the maps it made (as kube-apiserver's field sets do).
    assert managers["kubectl-edit"]["fieldsV1"] == {"f:spec": {".": {}, "f:mtls": {}}}


def test_applying_the_same_value_as_another_manager_shares_ownership(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        peer_auth("default", mode="STRICT"),
        field_manager="kubectl-edit",
    )
    status, applied = apply(custom, peer_auth("default", mode="STRICT"))
    assert status == 200
    assert {e["manager"] for e in applied["metadata"]["managedFields"]} == {
        "kubectl-edit",
        "meshui",
    }


def test_reapply_drops_fields_the_manager_no_longer_sets(custom):
    apply(
        custom, peer_auth("default", "web", selector={"app": "web"}, port_modes={8080: "DISABLE"})
    )
    _, reapplied = apply(custom, peer_auth("default", "web", selector={"app": "web"}))
    assert "portLevelMtls" not in reapplied["spec"]
    assert reapplied["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_reapply_keeps_fields_another_manager_owns(custom):
    apply(custom, peer_auth("default", labels={"team": "a"}))
    custom.patch_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        {"metadata": {"labels": {"owner": "ops"}}},
        field_manager="ops-tool",
    )
    _, reapplied = apply(custom, peer_auth("default"))
    assert reapplied["metadata"]["labels"] == {"owner": "ops"}


def test_apply_with_a_stale_resource_version_is_409(custom):
    _, created = apply(custom, peer_auth("default"))
    custom.patch_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default", {"metadata": {"labels": {"x": "y"}}}
    )
    body = peer_auth("default", mode="PERMISSIVE")
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, status_body = failure(apply, custom, body)
    assert status == 409
    assert "the object has been modified" in status_body["message"]


def test_apply_without_preload_returns_none_from_the_typed_client_on_create(custom):
    # The client's real quirk: a 201 from PATCH is not decoded.
    answered = custom.patch_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        peer_auth("default"),
        field_manager="meshui",
        _content_type=APPLY,
    )
    assert answered is None


def test_apply_into_a_missing_namespace_is_404(custom):
    status, body = failure(apply, custom, peer_auth("nowhere"))
    assert status == 404
    assert body["message"] == 'namespaces "nowhere" not found'


def test_invalid_apply_is_refused_before_anything_is_stored(custom, devcluster):
    status, _ = failure(apply, custom, peer_auth("default", mode="NOPE"))
    assert status == 422
    assert devcluster.objects("PeerAuthentication") == []


def test_dry_run_apply_and_patch_store_nothing(custom, devcluster):
    status, answered = apply(custom, peer_auth("default"), dry_run="All")
    assert status == 201 and answered["spec"]["mtls"]["mode"] == "STRICT"
    assert devcluster.objects("PeerAuthentication") == []
    apply(custom, peer_auth("default"))
    before = devcluster.resource_version
    status, answered = apply(custom, peer_auth("default", mode="DISABLE"), dry_run="All")
    assert answered["spec"]["mtls"]["mode"] == "DISABLE"
    patched = custom.patch_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        {"spec": {"mtls": {"mode": "UNSET"}}},
        dry_run="All",
    )
    assert patched["spec"]["mtls"]["mode"] == "UNSET"
    assert (
        devcluster.get("PeerAuthentication", "default", "default")["spec"]["mtls"]["mode"]
        == "STRICT"
    )
    assert devcluster.resource_version == before


def test_force_on_a_non_apply_patch_is_422(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default")
    )
    status, body = failure(
        custom.patch_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        {"spec": {}},
        force=True,
    )
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "force"


def test_strict_apply_names_the_undeclared_field_like_kube(custom):
    body = peer_auth("default")
    body["spec"]["mtls"]["mdoe"] = "STRICT"
    status, status_body = failure(
        custom.patch_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        body,
        field_manager="meshui",
        field_validation="Strict",
        _content_type=APPLY,
    )
    assert status == 400
    assert status_body["message"] == (
        "failed to create typed patch object (security.istio.io/v1, Kind=PeerAuthentication): "
        ".spec.mtls.mdoe: field not declared in schema"
    )


def test_the_first_apply_over_an_untracked_object_leaves_the_rest_to_before_first_apply(
    custom, devcluster
):
    devcluster.seed([peer_auth("default", mode="PERMISSIVE", labels={"team": "a"})], validate=False)
    status, body = failure(apply, custom, peer_auth("default", mode="STRICT"))
    assert status == 409
    assert 'conflict with "before-first-apply" using security.istio.io/v1' in body["message"]
    _, applied = apply(custom, peer_auth("default", mode="STRICT"), force=True)
    managers = {e["manager"]: e for e in applied["metadata"]["managedFields"]}
    assert list(managers) == ["meshui", "before-first-apply"]
    assert managers["before-first-apply"]["operation"] == "Update"
    assert managers["before-first-apply"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:team": {}}},
        "f:spec": {".": {}, "f:mtls": {}},
    }


def test_an_update_of_an_untracked_object_is_not_recorded(custom, devcluster):
    devcluster.seed([peer_auth("default")], validate=False)
    patched = custom.patch_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default", {"spec": {"mtls": {"mode": "PERMISSIVE"}}}
    )
    assert patched["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert "managedFields" not in patched["metadata"]


def test_an_update_records_the_maps_it_adds_and_takes_only_what_it_changed(custom):
    custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default"), field_manager="creator"
    )
    patched = custom.patch_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        {"metadata": {"labels": {"team": "a"}}, "spec": {"mtls": {"mode": "PERMISSIVE"}}},
        field_manager="editor",
    )
    managers = {e["manager"]: e["fieldsV1"] for e in patched["metadata"]["managedFields"]}
    assert managers == {
        "creator": {"f:spec": {".": {}, "f:mtls": {}}},
        "editor": {
            "f:metadata": {"f:labels": {".": {}, "f:team": {}}},
            "f:spec": {"f:mtls": {"f:mode": {}}},
        },
    }
