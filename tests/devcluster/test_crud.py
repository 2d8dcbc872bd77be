"""Create, read, update: what kube-apiserver answers, through the official client."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from .builders import PA_GROUP, PA_PLURAL, deployment, namespace, peer_auth, pod


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def test_a_fresh_cluster_has_the_four_initial_namespaces(core):
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_namespaces_carry_their_name_label_and_are_active(core):
    created = core.create_namespace(namespace("shop"))
    assert created.metadata.labels == {"kubernetes.io/metadata.name": "shop"}
    assert created.status.phase == "Active"


def test_create_into_a_missing_namespace_is_404_with_the_apiservers_words(custom):
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(
            PA_GROUP, "v1", "missing", PA_PLURAL, peer_auth("missing")
        )
    assert raised.value.status == 404
    status = status_of(raised.value)
    assert status["message"] == 'namespaces "missing" not found'
    assert status["reason"] == "NotFound"
    assert status["details"] == {"name": "missing", "kind": "namespaces"}


def test_create_answers_201_with_server_filled_metadata(core, custom):
    core.create_namespace(namespace("shop"))
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop")
    )
    metadata = created["metadata"]
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert metadata["generation"] == 1
    assert int(metadata["resourceVersion"]) > 0
    assert metadata["managedFields"][0]["operation"] == "Update"
    # An Update owns the maps it added as well (FieldsV1 ".").
    assert metadata["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:mtls": {".": {}, "f:mode": {}}}
    }


def test_resource_versions_come_from_one_global_counter(core, apps):
    core.create_namespace(namespace("shop"))
    first = core.create_namespaced_pod("shop", pod("shop", "a"))
    second = apps.create_namespaced_deployment("shop", deployment("shop", "web"))
    third = core.create_namespaced_pod("shop", pod("shop", "b"))
    versions = [int(o.metadata.resource_version) for o in (first, second, third)]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_generate_name_gets_a_random_suffix(core):
    body = pod("default", "")
    body["metadata"] = {"generateName": "web-"}
    created = core.create_namespaced_pod("default", body)
    assert created.metadata.name.startswith("web-") and len(created.metadata.name) == 9


def test_a_second_create_of_the_same_name_is_409_already_exists(core, custom):
    core.create_namespace(namespace("shop"))
    custom.create_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop"))
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop"))
    assert raised.value.status == 409
    status = status_of(raised.value)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'peerauthentications.security.istio.io "default" already exists'


def test_a_namespace_in_the_body_that_disagrees_with_the_url_is_400(core, custom):
    core.create_namespace(namespace("shop"))
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(
            PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("shop")
        )
    assert raised.value.status == 400
    assert status_of(raised.value)["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


def test_an_api_version_that_disagrees_with_the_url_is_400(core, custom):
    core.create_namespace(namespace("shop"))
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(
            PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop", version="v1beta1")
        )
    assert raised.value.status == 400
    assert (
        "does not match the expected API version (security.istio.io/v1)"
        in status_of(raised.value)["message"]
    )


def test_a_kind_that_disagrees_with_the_url_is_400(core):
    body = pod("default", "web")
    body["kind"] = "Service"
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod("default", body)
    assert raised.value.status == 400
    assert (
        "the kind in the data (Service) does not match the expected kind (Pod)"
        in status_of(raised.value)["message"]
    )


def test_one_stored_object_is_seen_through_every_served_version(core, custom):
    core.create_namespace(namespace("shop"))
    custom.create_namespaced_custom_object(
        PA_GROUP, "v1beta1", "shop", PA_PLURAL, peer_auth("shop", version="v1beta1")
    )
    as_v1 = custom.get_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, "default")
    as_beta = custom.get_namespaced_custom_object(PA_GROUP, "v1beta1", "shop", PA_PLURAL, "default")
    assert as_v1["apiVersion"] == "security.istio.io/v1"
    assert as_beta["apiVersion"] == "security.istio.io/v1beta1"
    assert as_v1["metadata"]["uid"] == as_beta["metadata"]["uid"]
    listed = custom.list_cluster_custom_object(
        "networking.istio.io", "v1alpha3", "destinationrules"
    )
    assert listed["apiVersion"] == "networking.istio.io/v1alpha3"


def test_get_of_a_missing_object_is_404(custom):
    with pytest.raises(ApiException) as raised:
        custom.get_namespaced_custom_object(PA_GROUP, "v1", "default", PA_PLURAL, "nope")
    assert raised.value.status == 404
    assert status_of(raised.value)["message"] == (
        'peerauthentications.security.istio.io "nope" not found'
    )


def test_update_of_a_custom_resource_requires_a_resource_version(core, custom):
    core.create_namespace(namespace("shop"))
    custom.create_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop"))
    with pytest.raises(ApiException) as raised:
        custom.replace_namespaced_custom_object(
            PA_GROUP, "v1", "shop", PA_PLURAL, "default", peer_auth("shop", mode="PERMISSIVE")
        )
    assert raised.value.status == 422
    status = status_of(raised.value)
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 0x0: must be specified for an update",
            "field": "metadata.resourceVersion",
        }
    ]


def test_a_stale_update_is_409_conflict_with_the_apiservers_message(core, custom):
    core.create_namespace(namespace("shop"))
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop")
    )
    fresh = dict(created, spec={"mtls": {"mode": "PERMISSIVE"}})
    custom.replace_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, "default", fresh)
    stale = dict(created, spec={"mtls": {"mode": "DISABLE"}})
    with pytest.raises(ApiException) as raised:
        custom.replace_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, "default", stale)
    assert raised.value.status == 409
    assert status_of(raised.value)["message"] == (
        'Operation cannot be fulfilled on peerauthentications.security.istio.io "default": the '
        "object has been modified; please apply your changes to the latest version and try again"
    )


def test_update_of_a_missing_object_is_404(custom):
    body = peer_auth("default", "ghost")
    body["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ApiException) as raised:
        custom.replace_namespaced_custom_object(PA_GROUP, "v1", "default", PA_PLURAL, "ghost", body)
    assert raised.value.status == 404


def test_writes_bump_generation_only_when_the_spec_changes(core, custom):
    core.create_namespace(namespace("shop"))
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop")
    )
    labelled = dict(created, metadata={**created["metadata"], "labels": {"team": "a"}})
    after_label = custom.replace_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, "default", labelled
    )
    assert after_label["metadata"]["generation"] == 1
    assert int(after_label["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    changed = dict(after_label, spec={"mtls": {"mode": "PERMISSIVE"}})
    after_spec = custom.replace_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, "default", changed
    )
    assert after_spec["metadata"]["generation"] == 2


def test_uid_and_creation_timestamp_survive_updates(core, custom):
    core.create_namespace(namespace("shop"))
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop")
    )
    tampered = dict(
        created,
        metadata={**created["metadata"], "creationTimestamp": "2000-01-01T00:00:00Z"},
        spec={"mtls": {"mode": "DISABLE"}},
    )
    updated = custom.replace_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, "default", tampered
    )
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    other_uid = dict(updated, metadata={**updated["metadata"], "uid": "not-the-same"})
    with pytest.raises(ApiException) as raised:
        custom.replace_namespaced_custom_object(
            PA_GROUP, "v1", "shop", PA_PLURAL, "default", other_uid
        )
    assert raised.value.status == 422
    assert "metadata.uid" in status_of(raised.value)["message"]


def test_an_update_that_changes_nothing_keeps_the_resource_version(core, custom):
    core.create_namespace(namespace("shop"))
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, peer_auth("shop")
    )
    same = custom.replace_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, "default", created
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_built_in_kinds_accept_unconditional_updates(core):
    created = core.create_namespaced_pod("default", pod("default", "web", app="web"))
    body = core.api_client.sanitize_for_serialization(created)
    del body["metadata"]["resourceVersion"]
    body["metadata"]["labels"] = {"app": "web", "tier": "front"}
    updated = core.replace_namespaced_pod("web", "default", body)
    assert updated.metadata.labels == {"app": "web", "tier": "front"}


def test_the_status_subresource_writes_only_status(core, custom):
    core.create_namespace(namespace("shop"))
    created = custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "shop", PA_PLURAL, dict(peer_auth("shop"), status={"observedGeneration": 9})
    )
    assert "status" not in created  # the main resource ignores status
    created["status"] = {"observedGeneration": 1}
    created["spec"] = {"mtls": {"mode": "DISABLE"}}
    updated = custom.replace_namespaced_custom_object_status(
        PA_GROUP, "v1", "shop", PA_PLURAL, "default", created
    )
    assert updated["status"] == {"observedGeneration": 1}
    assert updated["spec"] == {"mtls": {"mode": "STRICT"}}
    assert updated["metadata"]["generation"] == 1


def test_concurrent_writers_each_get_their_own_resource_version(devcluster, api_client):
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client

    api = client.CoreV1Api(api_client)

    def create(n: int) -> str:
        return api.create_namespaced_pod(
            "default", pod("default", f"p{n}")
        ).metadata.resource_version

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(create, range(40)))
    assert len(set(versions)) == 40
    assert len(devcluster.objects("Pod", "default")) == 40
