"""kubectl v1.32 against the double: discovery, create, server-side apply, get, delete."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .builders import peer_auth

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


def kubectl(
    kubeconfig: str, *arguments: str, stdin: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", kubeconfig, *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_api_resources_lists_the_istio_kinds(devcluster_kubeconfig):
    result = kubectl(devcluster_kubeconfig, "api-resources")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "security.istio.io/v1" in rows["peerauthentications"]
    assert "networking.istio.io/v1" in rows["destinationrules"]


def test_create_from_yaml_then_get_all_namespaces(devcluster, devcluster_kubeconfig):
    devcluster.seed([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}])
    manifest = (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: shop}\nspec: {mtls: {mode: STRICT}}\n"
    )
    created = kubectl(
        devcluster_kubeconfig, "create", "--validate=false", "-f", "-", stdin=manifest
    )
    assert created.returncode == 0, created.stderr
    assert "peerauthentication.security.istio.io/default created" in created.stdout
    listed = kubectl(devcluster_kubeconfig, "get", "peerauthentications", "-A")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "MODE", "AGE"]
    assert row.split()[:3] == ["shop", "default", "STRICT"]


def test_server_side_apply_of_json_and_get_as_json(devcluster, devcluster_kubeconfig):
    body = json.dumps(peer_auth("default", "web", selector={"app": "web"}))
    applied = kubectl(
        devcluster_kubeconfig, "apply", "--server-side", "--validate=false", "-f", "-", stdin=body
    )
    assert applied.returncode == 0, applied.stderr
    assert "serverside-applied" in applied.stdout
    shown = kubectl(devcluster_kubeconfig, "get", "pa", "-n", "default", "web", "-o", "json")
    assert json.loads(shown.stdout)["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    (entry,) = devcluster.get("PeerAuthentication", "default", "web")["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"


def test_delete_removes_the_object(devcluster, devcluster_kubeconfig):
    devcluster.seed([peer_auth("default")])
    deleted = kubectl(
        devcluster_kubeconfig, "delete", "peerauthentication", "-n", "default", "default"
    )
    assert deleted.returncode == 0, deleted.stderr
    assert 'peerauthentication.security.istio.io "default" deleted' in deleted.stdout
    assert devcluster.objects("PeerAuthentication") == []


def test_an_invalid_peer_authentication_is_refused_with_the_crds_message(devcluster_kubeconfig):
    body = json.dumps(peer_auth("default", mode="NOPE"))
    for verb in (["create"], ["apply", "--server-side"]):
        result = kubectl(devcluster_kubeconfig, *verb, "--validate=false", "-f", "-", stdin=body)
        assert result.returncode == 1
        assert 'spec.mtls.mode: Unsupported value: "NOPE"' in result.stderr


def test_get_namespaces_prints_status_and_age(devcluster_kubeconfig):
    result = kubectl(devcluster_kubeconfig, "get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert "kube-system" in result.stdout


def test_kubectl_validates_on_the_server_without_validate_false(devcluster, devcluster_kubeconfig):
    manifest = json.dumps(peer_auth("default"))
    created = kubectl(devcluster_kubeconfig, "create", "-f", "-", stdin=manifest)
    assert created.returncode == 0, created.stderr
    (post,) = [r for r in devcluster.requests if r.method == "POST"]
    assert post.param("fieldValidation") == "Strict"
    unknown = peer_auth("default", "typo")
    unknown["spec"]["mtls"]["mdoe"] = "STRICT"
    refused = kubectl(devcluster_kubeconfig, "create", "-f", "-", stdin=json.dumps(unknown))
    assert refused.returncode == 1
    assert 'strict decoding error: unknown field "spec.mtls.mdoe"' in refused.stderr


def test_client_side_apply_creates_then_configures(devcluster, devcluster_kubeconfig):
    first = kubectl(
        devcluster_kubeconfig, "apply", "-f", "-", stdin=json.dumps(peer_auth("default"))
    )
    assert first.returncode == 0, first.stderr
    assert "peerauthentication.security.istio.io/default created" in first.stdout
    changed = json.dumps(peer_auth("default", mode="PERMISSIVE"))
    second = kubectl(devcluster_kubeconfig, "apply", "-f", "-", stdin=changed)
    assert second.returncode == 0, second.stderr
    assert "configured" in second.stdout
    stored = devcluster.get("PeerAuthentication", "default", "default")
    assert stored["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]


def test_get_watch_prints_new_objects_with_the_crds_columns(devcluster, devcluster_kubeconfig):
    import threading

    process = subprocess.Popen(
        [KUBECTL, "--kubeconfig", devcluster_kubeconfig, "get", "pa", "-A", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(1.0, lambda: devcluster.seed([peer_auth("default")]))
    watchdog = threading.Timer(30.0, process.kill)  # a hung kubectl fails the test, not the run
    timer.start()
    watchdog.start()
    try:
        header = process.stdout.readline()
        row = process.stdout.readline()
    finally:
        timer.cancel()
        watchdog.cancel()
        process.kill()
        process.wait()
    assert header.split() == ["NAMESPACE", "NAME", "MODE", "AGE"]
    assert row.split()[:3] == ["default", "default", "STRICT"]
