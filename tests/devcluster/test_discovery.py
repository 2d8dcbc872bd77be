"""Routing and discovery as kubectl and the client's discovery see them."""

from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client import ApiException


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback test server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_version_answers_like_a_1_32_apiserver(api_client):
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "32")


def test_core_api_versions(api_client):
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]


def test_api_groups_list_every_served_version_preferred_first(api_client):
    groups = {g.name: g for g in client.ApisApi(api_client).get_api_versions().groups}
    assert set(groups) >= {"apps", "batch", "security.istio.io", "networking.istio.io"}
    assert [v.version for v in groups["networking.istio.io"].versions] == [
        "v1",
        "v1beta1",
        "v1alpha3",
    ]
    assert groups["security.istio.io"].preferred_version.version == "v1"


def test_resource_lists_name_plural_kind_scope_and_verbs(api_client):
    core = client.CoreV1Api(api_client).get_api_resources()
    by_name = {r.name: r for r in core.resources}
    assert set(by_name) >= {"namespaces", "pods", "services", "configmaps"}
    assert by_name["namespaces"].namespaced is False
    assert by_name["pods"].kind == "Pod" and "watch" in by_name["pods"].verbs
    security = client.CustomObjectsApi(api_client).get_api_resources("security.istio.io", "v1beta1")
    pa = next(r for r in security.resources if r.name == "peerauthentications")
    assert (pa.kind, pa.namespaced, pa.short_names) == ("PeerAuthentication", True, ["pa"])
    apps = {r.name for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert {"deployments", "statefulsets", "daemonsets", "replicasets"} <= apps
    batch = {r.name for r in client.BatchV1Api(api_client).get_api_resources().resources}
    assert {"jobs", "cronjobs"} <= batch


def test_group_discovery(devcluster):
    status, group = get_json(devcluster.url + "/apis/networking.istio.io")
    assert status == 200 and group["kind"] == "APIGroup"
    assert group["preferredVersion"]["groupVersion"] == "networking.istio.io/v1"


@pytest.mark.parametrize(
    "path",
    [
        "/apis/nope.example.com/v1",
        "/api/v1/widgets",
        "/apis/security.istio.io/v9/peerauthentications",
        "/nothing/here",
    ],
)
def test_unknown_paths_are_404_with_a_status_body(devcluster, path):
    status, body = get_json(devcluster.url + path)
    assert status == 404
    assert (body["kind"], body["status"], body["reason"]) == ("Status", "Failure", "NotFound")


def test_without_crds_the_istio_groups_disappear(devcluster, api_client):
    devcluster.reset(crd_files=[])
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert "security.istio.io" not in groups
    with pytest.raises(ApiException) as raised:
        client.CustomObjectsApi(api_client).list_cluster_custom_object(
            "security.istio.io", "v1", "peerauthentications"
        )
    assert raised.value.status == 404
    devcluster.reset()
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert "security.istio.io" in groups
