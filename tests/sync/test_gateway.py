"""The gateway (policies/cluster/) against the API server double, over real HTTP."""

from __future__ import annotations

import pytest

from policies import cluster
from policies.cluster.errors import (
    ClusterError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    IstioNotInstalled,
    NotFound,
    Unavailable,
)

from .builders import deployment, destination_rule, mesh_config, namespace, peer_auth, small_mesh
from .conftest import crd_files_serving


def kinds(read) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for obj in read.objects:
        meta = obj["metadata"]
        found.setdefault(obj["kind"], []).append(f"{meta.get('namespace', '')}/{meta['name']}")
    return found


def test_read_returns_raw_camel_case_dicts_of_every_kind(kube):
    kube.seed(small_mesh())
    read = cluster.cluster_read_all()
    by_kind = kinds(read)
    assert "payments/api" in by_kind["Deployment"]
    assert "payments/api" in by_kind["Service"]
    assert "/shop" in by_kind["Namespace"]
    assert sorted(by_kind["PeerAuthentication"]) == ["istio-system/default", "shop/default"]
    assert by_kind["DestinationRule"] == ["payments/api"]
    (api,) = [
        o for o in read.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"
    ]
    assert api["apiVersion"] == "apps/v1"
    assert api["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080}]
    assert "managedFields" not in api["metadata"]  # trimmed: the engine never reads it
    assert read.object_counts["PeerAuthentication"] == 2
    assert read.istio_installed is True
    assert read.cluster_name == "test-cluster"
    assert read.cluster_server == kube.url


def test_lists_are_paged_with_limit_and_continue(kube, settings):
    settings.MESHUI_KUBE_PAGE_SIZE = 2
    kube.seed([namespace(f"team-{n}") for n in range(5)])
    read = cluster.cluster_read_all()
    assert {f"team-{n}" for n in range(5)} <= {
        o["metadata"]["name"] for o in read.objects if o["kind"] == "Namespace"
    }
    namespace_lists = [r for r in kube.requests if r.path == "/api/v1/namespaces"]
    assert all(r.param("limit") == "2" for r in namespace_lists)
    assert namespace_lists[0].param("continue") is None
    assert all(r.param("continue") for r in namespace_lists[1:])
    assert len(namespace_lists) >= 5  # 9+ namespaces at 2 per page


def test_a_list_restarts_cleanly_when_its_continue_token_expires(kube, settings):
    settings.MESHUI_KUBE_PAGE_SIZE = 1
    kube.seed([deployment("shop", f"svc-{n}") for n in range(3)])
    real_list = kube.server.state.list
    compacted = []

    def list_with_compaction(resource, *args, **kwargs):
        if kwargs.get("continue_token") and resource.plural == "deployments" and not compacted:
            compacted.append(True)
            # etcd compacted between our pages, and someone created a Deployment meanwhile.
            kube.seed([deployment("shop", "svc-late")])
            kube.compact()
        return real_list(resource, *args, **kwargs)

    kube.server.state.list = list_with_compaction
    try:
        read = cluster.cluster_read_all()
    finally:
        kube.server.state.list = real_list
    names = [o["metadata"]["name"] for o in read.objects if o["kind"] == "Deployment"]
    # Restarted from the beginning: every object once, the late one included, no duplicates.
    assert sorted(names) == ["svc-0", "svc-1", "svc-2", "svc-late"]
    deployment_lists = [r for r in kube.requests if r.path == "/apis/apps/v1/deployments"]
    assert [r.param("continue") is None for r in deployment_lists].count(True) == 2


def test_a_list_that_keeps_expiring_gives_up_with_expired(kube, settings):
    settings.MESHUI_KUBE_PAGE_SIZE = 1
    kube.seed([deployment("shop", f"svc-{n}") for n in range(2)])
    kube.inject_fault(410, verb="list", resource="deployments", times=cluster.LIST_RESTARTS + 1)
    with pytest.raises(Expired) as caught:
        cluster.cluster_read_all()
    assert "listing Deployments" in caught.value.summary


def test_discovery_prefers_v1_for_both_istio_kinds(kube):
    assert cluster.istio_api_versions() == {
        "PeerAuthentication": "security.istio.io/v1",
        "DestinationRule": "networking.istio.io/v1",
    }


def test_discovery_falls_back_to_older_istio_versions(kube, tmp_path):
    kube.reset(
        crd_files=crd_files_serving(
            tmp_path, PeerAuthentication=("v1beta1",), DestinationRule=("v1alpha3",)
        )
    )
    kube.seed(
        [
            peer_auth("shop", mode="STRICT", api_version="security.istio.io/v1beta1"),
            destination_rule(
                "shop", "cart", host="cart", api_version="networking.istio.io/v1alpha3"
            ),
        ]
    )
    read = cluster.cluster_read_all()
    assert read.istio_versions == {
        "PeerAuthentication": "security.istio.io/v1beta1",
        "DestinationRule": "networking.istio.io/v1alpha3",
    }
    (policy,) = [o for o in read.objects if o["kind"] == "PeerAuthentication"]
    assert policy["apiVersion"] == "security.istio.io/v1beta1"
    assert policy["spec"]["mtls"]["mode"] == "STRICT"


def test_istio_not_installed_is_a_state_not_a_crash(kube):
    kube.reset(crd_files=[])
    kube.seed(small_mesh()[:4] + [deployment("shop", "cart")])
    read = cluster.cluster_read_all()
    assert read.istio_installed is False
    assert read.istio_versions == {}
    assert read.object_counts["PeerAuthentication"] == 0
    assert "Deployment" in kinds(read)


def test_writing_a_policy_without_istio_says_istio_is_not_installed(kube):
    kube.reset(crd_files=[])
    with pytest.raises(IstioNotInstalled) as caught:
        cluster.object_get("PeerAuthentication", "shop", "default")
    assert "is Istio installed?" in caught.value.message


def test_root_namespace_comes_from_the_istio_config_map(kube):
    kube.seed([namespace("mesh-root"), mesh_config("mesh-root")])
    assert cluster.cluster_read_all().root_namespace == "mesh-root"


def test_root_namespace_falls_back_to_the_setting_then_istio_system(kube, settings):
    assert cluster.root_namespace() == "istio-system"
    settings.MESHUI_ROOT_NAMESPACE = "custom-root"
    assert cluster.root_namespace() == "custom-root"


def test_forbidden_list_keeps_the_api_servers_words(kube):
    kube.inject_fault(403, verb="list", resource="pods")
    with pytest.raises(Forbidden) as caught:
        cluster.cluster_read_all()
    error = caught.value
    assert error.status == 403
    assert 'cannot list resource "pods"' in error.message
    assert error.summary.startswith("Forbidden while listing Pods: pods is forbidden")


@pytest.mark.parametrize(
    ("status", "words"),
    [(500, "The API server failed (HTTP 500)"), (503, "HTTP 503")],
)
def test_server_errors_are_unavailable_and_retryable(kube, status, words):
    kube.inject_fault(status, verb="list", resource="services")
    with pytest.raises(Unavailable) as caught:
        cluster.cluster_read_all()
    assert words in caught.value.message
    assert caught.value.retryable is True


def test_rate_limiting_carries_retry_after(kube):
    kube.inject_fault(429, verb="list", resource="namespaces", retry_after=7)
    with pytest.raises(Unavailable) as caught:
        cluster.cluster_read_all()
    assert caught.value.retry_after == 7
    assert "rate limiting" in caught.value.message
    assert "wait 7 s" in caught.value.message


def test_a_call_that_outlives_its_timeout_is_unavailable(kube, settings):
    settings.MESHUI_KUBE_TIMEOUT_SECONDS = 0.3
    kube.inject_fault("slow", verb="list", resource="deployments", delay=1.5, times=2)
    with pytest.raises(Unavailable) as caught:
        cluster.cluster_read_all()
    assert "did not answer within 0.3 s" in caught.value.message
    assert "MESHUI_KUBE_TIMEOUT_SECONDS" in caught.value.message


def test_a_dropped_connection_is_unavailable(kube):
    kube.inject_fault("drop", verb="list", resource="replicasets", times=3)
    with pytest.raises(Unavailable) as caught:
        cluster.cluster_read_all()
    assert "listing ReplicaSets" in caught.value.summary


def test_one_dropped_connection_is_retried_quietly(kube):
    kube.inject_fault("drop", verb="list", resource="replicasets", times=1)
    read = cluster.cluster_read_all()
    assert "ReplicaSet" in read.object_counts


def test_no_api_server_at_all_is_unavailable(settings, tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: gone, user: {}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: gone}}]\n"
    )
    settings.MESHUI_KUBECONFIG = str(config)
    settings.MESHUI_KUBE_CONTEXT = ""
    cluster.forget_clients()
    try:
        with pytest.raises(Unavailable) as caught:
            cluster.cluster_read_all()
    finally:
        cluster.forget_clients()
    assert "Could not connect to the API server" in caught.value.message


def test_missing_kubeconfig_or_context_is_explained(settings, tmp_path, kube):
    settings.MESHUI_KUBECONFIG = str(tmp_path / "nope")
    cluster.forget_clients()
    with pytest.raises(ClusterError, match="does not exist"):
        cluster.cluster_read_all()
    settings.MESHUI_KUBECONFIG = str(kube.kubeconfig)
    settings.MESHUI_KUBE_CONTEXT = "prod"
    cluster.forget_clients()
    with pytest.raises(ClusterError, match='no context named "prod"'):
        cluster.cluster_read_all()


def test_fingerprint_changes_with_any_object_and_only_then(kube):
    kube.seed(small_mesh())
    first = cluster.cluster_read_all().fingerprint
    assert cluster.cluster_read_all().fingerprint == first
    kube.seed([deployment("shop", "new")])
    assert cluster.cluster_read_all().fingerprint != first


# --- Writes (docs/contracts.md §3) -------------------------------------------------------


def test_apply_creates_with_server_side_apply_as_meshui(kube):
    kube.seed([namespace("shop")])
    created = cluster.object_apply(peer_auth("shop", mode="STRICT"))
    assert created["metadata"]["name"] == "default"
    assert created["metadata"]["resourceVersion"]
    (request,) = [r for r in kube.requests if r.method == "PATCH"]
    assert request.content_type.startswith("application/apply-patch+yaml")
    assert request.param("fieldManager") == "meshui"
    stored = kube.get("PeerAuthentication", "shop", "default")
    assert stored["spec"]["mtls"]["mode"] == "STRICT"
    managers = {entry["manager"] for entry in stored["metadata"]["managedFields"]}
    assert "meshui" in managers


def test_applying_the_same_object_twice_changes_nothing(kube):
    kube.seed([namespace("shop")])
    first = cluster.object_apply(peer_auth("shop", mode="STRICT"))
    second = cluster.object_apply(peer_auth("shop", mode="STRICT"))
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_dry_run_apply_validates_without_persisting(kube):
    kube.seed([namespace("shop")])
    result = cluster.object_apply(peer_auth("shop", mode="STRICT"), dry_run=True)
    assert result["spec"]["mtls"]["mode"] == "STRICT"
    assert kube.get("PeerAuthentication", "shop", "default") is None


def test_invalid_object_is_rejected_with_field_causes(kube):
    kube.seed([namespace("shop")])
    bad = peer_auth("shop", mode="STRICT")
    bad["spec"]["mtls"]["mode"] = "MAYBE"
    with pytest.raises(Invalid) as caught:
        cluster.object_apply(bad, dry_run=True)
    assert caught.value.status == 422
    assert caught.value.causes
    assert any("mode" in (cause.get("field") or "") for cause in caught.value.causes)


def test_apply_over_another_managers_field_conflicts_until_forced(kube):
    kube.seed([peer_auth("shop", mode="PERMISSIVE")])  # owned by another field manager
    with pytest.raises(Conflict) as caught:
        cluster.object_apply(peer_auth("shop", mode="STRICT"))
    assert caught.value.is_field_manager_conflict
    assert caught.value.causes
    forced = cluster.object_apply(peer_auth("shop", mode="STRICT"), force=True)
    assert forced["spec"]["mtls"]["mode"] == "STRICT"


def test_delete_with_a_stale_resource_version_conflicts_and_deletes_nothing(kube):
    (stored,) = kube.seed([peer_auth("shop", mode="STRICT")])
    # Someone changes the object after the page showed it.
    cluster.object_apply(peer_auth("shop", mode="STRICT"), force=True)
    with pytest.raises(Conflict):
        cluster.object_delete(
            "PeerAuthentication",
            "shop",
            "default",
            resource_version=stored["metadata"]["resourceVersion"],
        )
    assert kube.get("PeerAuthentication", "shop", "default") is not None


def test_delete_at_the_current_version_deletes(kube):
    (stored,) = kube.seed([peer_auth("shop", mode="STRICT")])
    cluster.object_delete(
        "PeerAuthentication",
        "shop",
        "default",
        resource_version=stored["metadata"]["resourceVersion"],
    )
    assert kube.get("PeerAuthentication", "shop", "default") is None


def test_deleting_what_is_already_gone_is_success(kube):
    assert cluster.object_delete("DestinationRule", "shop", "gone", resource_version="12") is None


def test_dry_run_delete_keeps_the_object(kube):
    (stored,) = kube.seed([peer_auth("shop", mode="STRICT")])
    cluster.object_delete(
        "PeerAuthentication",
        "shop",
        "default",
        resource_version=stored["metadata"]["resourceVersion"],
        dry_run=True,
    )
    assert kube.get("PeerAuthentication", "shop", "default") is not None


def test_get_missing_object_is_not_found(kube):
    with pytest.raises(NotFound):
        cluster.object_get("PeerAuthentication", "shop", "nope")


def test_forbidden_write_keeps_the_api_servers_words(kube):
    kube.seed([namespace("shop")])
    kube.inject_fault(403, verb="apply", resource="peerauthentications")
    with pytest.raises(Forbidden) as caught:
        cluster.object_apply(peer_auth("shop", mode="STRICT"))
    assert "cannot" in caught.value.message
    assert "applying PeerAuthentication shop/default" in caught.value.summary


def test_only_istio_policy_kinds_are_writable(kube):
    with pytest.raises(Invalid, match="only changes PeerAuthentications and DestinationRules"):
        cluster.object_apply(deployment("shop", "cart"))


# --- Pods: by metadata where a controller owns them, in full where they stand alone ---------


def owned_pod(ns: str, name: str, *, owner_kind: str, owner: str, sidecar: bool = True) -> dict:
    annotations = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'} if sidecar else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": ns,
            "name": name,
            "labels": {"app": owner},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": owner_kind,
                    "name": owner,
                    "uid": f"uid-{owner}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "SECRET_LOOKING", "value": "x"}],
                }
            ]
        },
    }


def test_pods_owned_by_a_folding_controller_are_read_by_metadata_only(kube):
    kube.seed([owned_pod("shop", "cart-abc", owner_kind="ReplicaSet", owner="cart-7d9")])
    read = cluster.cluster_read_all()
    (pod,) = [o for o in read.objects if o["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["sidecar.istio.io/status"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert "spec" not in pod  # never fetched: only its metadata matters to the engine
    (pod_list,) = [r for r in kube.requests if r.path == "/api/v1/pods"]
    assert "as=Table" in pod_list.headers.get("accept", "")
    assert not [r for r in kube.requests if r.path.startswith("/api/v1/namespaces/shop/pods")]


def test_pods_that_stand_alone_are_read_in_full(kube):
    bare = owned_pod("tools", "debug", owner_kind="ReplicaSet", owner="x")
    bare["metadata"]["ownerReferences"] = []
    rollout = owned_pod("shop", "web-1", owner_kind="Rollout", owner="web")  # unknown owner
    folded = owned_pod("shop", "cart-1", owner_kind="ReplicaSet", owner="cart")
    kube.seed([bare, rollout, folded])
    read = cluster.cluster_read_all()
    pods = {o["metadata"]["name"]: o for o in read.objects if o["kind"] == "Pod"}
    assert set(pods) == {"debug", "web-1", "cart-1"}
    assert pods["debug"]["spec"]["containers"] == [
        {"name": "app", "ports": [{"containerPort": 8080}]}  # trimmed: no image, no env
    ]
    assert pods["web-1"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080}]
    namespaced = sorted(
        r.path for r in kube.requests if r.path.endswith("/pods") and "namespaces" in r.path
    )
    assert namespaced == ["/api/v1/namespaces/shop/pods", "/api/v1/namespaces/tools/pods"]


def test_peer_authentications_keep_their_managed_fields_other_kinds_do_not(kube):
    kube.seed(small_mesh())
    read = cluster.cluster_read_all()
    policies = [o for o in read.objects if o["kind"] == "PeerAuthentication"]
    assert policies and all(p["metadata"]["managedFields"] for p in policies)
    assert not any("managedFields" in o["metadata"] for o in read.objects if o not in policies)
