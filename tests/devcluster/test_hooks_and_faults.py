"""Test hooks (seed, state, requests, faults) in Python and over HTTP; the bearer token."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client import ApiException

from devcluster import DevCluster

from .builders import PA_GROUP, PA_PLURAL, namespace, peer_auth, pod


def post(url: str, payload, method: str = "POST") -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback test server
        return json.loads(response.read())


def test_seed_keeps_creation_timestamps_and_creates_namespaces_first(devcluster, custom):
    devcluster.seed(
        [
            peer_auth("shop", created="2024-01-01T00:00:00Z"),
            namespace("shop", team="a"),
        ]
    )
    stored = custom.get_namespaced_custom_object(PA_GROUP, "v1", "shop", PA_PLURAL, "default")
    assert stored["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
    assert devcluster.get("Namespace", None, "shop")["metadata"]["labels"]["team"] == "a"


def test_seed_records_its_own_field_manager(devcluster):
    (stored,) = devcluster.seed([peer_auth("default")])
    assert stored["metadata"]["managedFields"][0]["manager"] == "devcluster-seed"


def test_seed_validates_unless_told_not_to(devcluster):
    from devcluster.errors import ApiError

    with pytest.raises(ApiError) as raised:
        devcluster.seed([peer_auth("default", mode="NOPE")])
    assert raised.value.code == 422
    devcluster.seed([peer_auth("default", mode="NOPE")], validate=False)
    assert (
        devcluster.get("PeerAuthentication", "default", "default")["spec"]["mtls"]["mode"] == "NOPE"
    )


def test_seed_can_refuse_missing_namespaces(devcluster):
    from devcluster.errors import ApiError

    with pytest.raises(ApiError) as raised:
        devcluster.seed([pod("absent", "web")], create_namespaces=False)
    assert raised.value.message == 'namespaces "absent" not found'


def test_reset_forgets_objects_faults_and_requests(devcluster, core):
    devcluster.seed([pod("default", "web")])
    devcluster.inject_fault(500)
    devcluster.reset()
    assert core.list_namespaced_pod("default").items == []
    assert [r.path for r in devcluster.requests] == ["/api/v1/namespaces/default/pods"]


def test_requests_are_recorded_as_sent(devcluster, custom):
    custom.patch_namespaced_custom_object(
        PA_GROUP,
        "v1",
        "default",
        PA_PLURAL,
        "default",
        peer_auth("default"),
        field_manager="meshui",
        force=True,
        dry_run="All",
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )
    (request,) = devcluster.requests
    assert request.method == "PATCH"
    assert (
        request.path == "/apis/security.istio.io/v1/namespaces/default/peerauthentications/default"
    )
    assert request.param("fieldManager") == "meshui"
    assert request.param("force") == "true" and request.param("dryRun") == "All"
    assert request.content_type == "application/apply-patch+yaml"
    assert request.json()["spec"] == {"mtls": {"mode": "STRICT"}}


def test_http_hooks_seed_read_state_and_reset(devcluster):
    base = devcluster.url + "/_devcluster"
    assert post(base + "/seed", {"objects": [peer_auth("shop")]}) == {"seeded": 1}
    with urllib.request.urlopen(base + "/state?resource=peerauthentications") as response:  # noqa: S310
        state = json.loads(response.read())
    assert [o["metadata"]["name"] for o in state["objects"]] == ["default"]
    post(base + "/faults", {"action": 503, "verb": "list", "resource": "pods"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(devcluster.url + "/api/v1/pods")  # noqa: S310
    assert raised.value.code == 503
    post(base + "/reset", {})
    assert devcluster.objects("PeerAuthentication") == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (409, "Conflict"),
        (410, "Expired"),
        (500, "InternalError"),
    ],
)
def test_injected_status_faults_answer_a_status_body(devcluster, core, code, reason):
    devcluster.inject_fault(code, verb="list", resource="pods")
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod("default")
    assert raised.value.status == code
    assert json.loads(raised.value.body)["reason"] == reason
    assert core.list_namespaced_pod("default").items == []  # only the next request fails


def test_forbidden_says_who_cannot_do_what(devcluster, core):
    devcluster.inject_fault(403, verb="list", resource="pods")
    with pytest.raises(ApiException) as raised:
        core.list_pod_for_all_namespaces()
    assert json.loads(raised.value.body)["message"] == (
        'pods is forbidden: User "system:serviceaccount:meshui:meshui" cannot list resource '
        '"pods" in API group "" at the cluster scope'
    )


def test_429_carries_retry_after(devcluster, core):
    # On a POST: for GETs urllib3 itself honours Retry-After and retries (as with a real cluster).
    devcluster.inject_fault(429, verb="create", resource="pods", retry_after=7)
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod("default", pod("default", "web"))
    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "7"
    assert json.loads(raised.value.body)["details"]["retryAfterSeconds"] == 7


def test_faults_match_only_their_verb_and_resource_and_count_down(devcluster, core, custom):
    devcluster.inject_fault(500, verb="create", resource="peerauthentications", times=2)
    core.list_namespaced_pod("default")
    for _ in range(2):
        with pytest.raises(ApiException):
            custom.create_namespaced_custom_object(
                PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default")
            )
    custom.create_namespaced_custom_object(
        PA_GROUP, "v1", "default", PA_PLURAL, peer_auth("default")
    )


def test_a_slow_fault_delays_the_answer_past_a_client_timeout(devcluster, core):
    # urllib3 retries a timed-out GET three times, so all four attempts are slowed.
    devcluster.inject_fault("slow", verb="list", resource="pods", delay=1.0, times=4)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        core.list_namespaced_pod("default", _request_timeout=0.2)
    assert isinstance(raised.value.reason, urllib3.exceptions.ReadTimeoutError)


def test_a_dropped_connection_reaches_the_client_as_a_protocol_error(devcluster, core):
    devcluster.inject_fault("drop", verb="list", resource="pods", times=10)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_namespaced_pod("default")


def test_a_token_protected_server_refuses_requests_without_it(tmp_path):
    with DevCluster(token="s3cret") as cluster:
        good = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        assert client.CoreV1Api(good).list_namespace().items
        cluster.write_kubeconfig(tmp_path / "kubeconfig")
        text = (tmp_path / "kubeconfig").read_text().replace("s3cret", "wrong")
        (tmp_path / "kubeconfig").write_text(text)
        bad = config.new_client_from_config(config_file=str(tmp_path / "kubeconfig"))
        with pytest.raises(ApiException) as raised:
            client.CoreV1Api(bad).list_namespace()
        assert raised.value.status == 401
        assert json.loads(raised.value.body)["message"] == "Unauthorized"


def test_watchers_are_released_when_the_server_stops():
    cluster = DevCluster()
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    import threading

    finished = threading.Event()

    def watch_forever():
        # Any ending is fine (end of stream, connection error); hanging is not.
        with contextlib.suppress(Exception):
            api.list_namespaced_pod("default", watch=True, _preload_content=False).read()
        finished.set()

    threading.Thread(target=watch_forever, daemon=True).start()
    # Stop only once the watch waits in the server: stopping earlier would test nothing.
    deadline = time.monotonic() + 30
    while not cluster.server.state._waiting_watchers:
        assert time.monotonic() < deadline, "the watch never reached the server"
        time.sleep(0.01)
    cluster.stop()
    assert finished.wait(30)


def test_an_unexpected_server_error_is_a_500_status_not_a_traceback(devcluster, core):
    broken = pod("default", "odd")
    broken["status"] = "Running"  # not an object: the field selector below trips over it
    devcluster.seed([broken], validate=False)
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod("default", field_selector="status.phase=Running")
    assert raised.value.status == 500
    body = json.loads(raised.value.body)
    assert (body["kind"], body["reason"]) == ("Status", "InternalError")
    assert "Traceback" not in raised.value.body


def test_the_request_log_is_readable_over_http(devcluster, core):
    core.list_namespaced_pod("default", label_selector="app=web")
    with urllib.request.urlopen(devcluster.url + "/_devcluster/requests") as response:  # noqa: S310
        (request,) = json.loads(response.read())["requests"]
    assert request["method"] == "GET"
    assert request["query"] == {"labelSelector": ["app=web"]}


@pytest.mark.parametrize(
    ("path", "payload"),
    [("/faults", {"action": "explode"}), ("/faults", {"nonsense": 1}), ("/seed", {"objects": 5})],
)
def test_malformed_hook_calls_are_400(devcluster, path, payload):
    with pytest.raises(urllib.error.HTTPError) as raised:
        post(devcluster.url + "/_devcluster" + path, payload)
    assert raised.value.code == 400
    assert json.loads(raised.value.read())["message"].startswith("bad devcluster hook request")


def test_seed_records_the_manager_operation_and_time_it_is_told(devcluster):
    (updated,) = devcluster.seed(
        [peer_auth("shop")], manager="kubectl-client-side-apply", time="2025-06-01T09:00:00Z"
    )
    (entry,) = updated["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["time"]) == (
        "kubectl-client-side-apply",
        "Update",
        "2025-06-01T09:00:00Z",
    )
    assert entry["fieldsV1"] == {"f:spec": {".": {}, "f:mtls": {".": {}, "f:mode": {}}}}
    (applied,) = devcluster.seed(
        [peer_auth("payments")], manager="argocd-controller", operation="Apply"
    )
    (entry,) = applied["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("argocd-controller", "Apply")
    assert entry["fieldsV1"] == {"f:spec": {"f:mtls": {"f:mode": {}}}}


def test_seed_keeps_managed_fields_the_objects_carry(devcluster):
    recorded = [
        {
            "manager": "helm",
            "operation": "Update",
            "apiVersion": "security.istio.io/v1",
            "time": "2024-11-05T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {".": {}, "f:mtls": {".": {}, "f:mode": {}}}},
        }
    ]
    body = peer_auth("shop")
    body["metadata"]["managedFields"] = recorded
    (stored,) = devcluster.seed([body])
    assert stored["metadata"]["managedFields"] == recorded


def test_seed_over_http_takes_the_manager_too(devcluster):
    post(
        f"{devcluster.url}/_devcluster/seed",
        {"objects": [peer_auth("shop")], "manager": "kustomize-controller", "operation": "Apply"},
    )
    stored = devcluster.get("PeerAuthentication", "shop", "default")
    assert stored["metadata"]["managedFields"][0]["manager"] == "kustomize-controller"


def test_kubectl_last_applied_is_the_annotation_kubectl_apply_writes(devcluster, tmp_path):
    import shutil
    import subprocess

    from devcluster import kubectl_last_applied

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine")
    body = peer_auth("default", labels={"team": "a"})
    subprocess.run(
        ["kubectl", "--kubeconfig", str(devcluster.kubeconfig), "apply", "-f", "-"],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    written = devcluster.get("PeerAuthentication", "default", "default")["metadata"]
    expected = kubectl_last_applied(body)["metadata"]["annotations"]
    assert written["annotations"] == expected
