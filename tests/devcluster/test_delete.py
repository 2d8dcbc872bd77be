"""Delete: preconditions, finalizers, dry runs, and what each kind answers."""

from __future__ import annotations

from kubernetes.client import V1DeleteOptions, V1Preconditions

from .builders import PA_GROUP, PA_PLURAL, deployment, failure, peer_auth, pod


def test_custom_resource_delete_answers_a_success_status_with_details(custom, devcluster):
    (stored,) = devcluster.seed([peer_auth("default")])
    answered = custom.delete_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default"
    )
    assert answered["kind"] == "Status" and answered["status"] == "Success"
    assert answered["details"] == {
        "name": "default",
        "group": PA_GROUP,
        "kind": PA_PLURAL,
        "uid": stored["metadata"]["uid"],
    }
    assert devcluster.get("PeerAuthentication", "default", "default") is None


def test_pod_delete_answers_the_object(core, devcluster):
    devcluster.seed([pod("default", "web")])
    answered = core.delete_namespaced_pod("web", "default")
    assert answered.kind == "Pod" and answered.metadata.name == "web"


def test_delete_with_a_matching_precondition_succeeds(custom, devcluster):
    (stored,) = devcluster.seed([peer_auth("default")])
    custom.delete_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        body=V1DeleteOptions(
            preconditions=V1Preconditions(
                resource_version=stored["metadata"]["resourceVersion"],
                uid=stored["metadata"]["uid"],
            )
        ),
    )
    assert devcluster.objects("PeerAuthentication") == []


def test_delete_with_a_stale_resource_version_is_409_and_deletes_nothing(custom, devcluster):
    (stored,) = devcluster.seed([peer_auth("default")])
    custom.patch_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default", {"spec": {"mtls": {"mode": "DISABLE"}}}
    )
    status, body = failure(
        custom.delete_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        body=V1DeleteOptions(
            preconditions=V1Preconditions(resource_version=stored["metadata"]["resourceVersion"])
        ),
    )
    assert status == 409
    assert body["reason"] == "Conflict"
    current = devcluster.get("PeerAuthentication", "default", "default")
    assert body["message"] == (
        'Operation cannot be fulfilled on peerauthentications.security.istio.io "default": '
        "Precondition failed: ResourceVersion in precondition: "
        f"{stored['metadata']['resourceVersion']}, ResourceVersion in object meta: "
        f"{current['metadata']['resourceVersion']}"
    )


def test_delete_with_another_uid_is_409(custom, devcluster):
    devcluster.seed([peer_auth("default")])
    status, body = failure(
        custom.delete_namespaced_custom_object,
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        body=V1DeleteOptions(preconditions=V1Preconditions(uid="someone-else")),
    )
    assert status == 409
    assert "Precondition failed: UID in precondition: someone-else" in body["message"]
    assert devcluster.get("PeerAuthentication", "default", "default") is not None


def test_finalizers_turn_delete_into_a_deletion_timestamp(custom, devcluster):
    body = peer_auth("default")
    body["metadata"]["finalizers"] = ["example.com/keep"]
    devcluster.seed([body])
    answered = custom.delete_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default"
    )
    assert answered["metadata"]["deletionTimestamp"]
    stored = devcluster.get("PeerAuthentication", "default", "default")
    assert stored["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default", {"metadata": {"finalizers": None}}
    )
    assert devcluster.get("PeerAuthentication", "default", "default") is None


def test_dry_run_delete_keeps_the_object(custom, devcluster):
    devcluster.seed([peer_auth("default")])
    before = devcluster.resource_version
    custom.delete_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, "default", dry_run="All"
    )
    assert devcluster.get("PeerAuthentication", "default", "default") is not None
    assert devcluster.resource_version == before


def test_delete_of_a_missing_object_is_404(apps):
    status, body = failure(apps.delete_namespaced_deployment, "ghost", "default")
    assert status == 404
    assert body["message"] == 'deployments.apps "ghost" not found'


def test_propagation_policy_is_accepted(apps, devcluster):
    devcluster.seed([deployment("default", "web")])
    answered = apps.delete_namespaced_deployment("web", "default", propagation_policy="Foreground")
    assert answered["status"] == "Success"
    assert devcluster.get("Deployment", "default", "web") is None


def test_delete_collection_removes_what_the_selector_matches(core, devcluster):
    devcluster.seed([pod("default", "a", app="web"), pod("default", "b", app="api")])
    core.delete_collection_namespaced_pod("default", label_selector="app=web")
    assert [p["metadata"]["name"] for p in devcluster.objects("Pod")] == ["b"]
