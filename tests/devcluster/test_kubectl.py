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
    (entry,) = devcluster.get("PeerAuthentication", "shop", "default")["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("kubectl-create", "Update")
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


# --- managedFields as kube-apiserver records them for each kubectl verb --------------------
# The expected FieldsV1 are structured-merge-diff's: an Update owns what it changed plus, as
# ".", every map it added; an Apply owns the leaves it sets; entries are sorted Apply first,
# then by time and manager.

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CSA_CREATED = {
    "f:metadata": {"f:annotations": {".": {}, f"f:{LAST_APPLIED}": {}}},
    "f:spec": {".": {}, "f:mtls": {".": {}, "f:mode": {}}},
}


def managers(devcluster, name: str = "default") -> dict[str, dict]:
    stored = devcluster.get("PeerAuthentication", "default", name)
    return {entry["manager"]: entry for entry in stored["metadata"]["managedFields"]}


def writes(devcluster) -> list:
    return [r for r in devcluster.requests if r.method in ("POST", "PUT", "PATCH")]


def client_side_apply(kubeconfig: str, mode: str) -> subprocess.CompletedProcess:
    body = json.dumps(peer_auth("default", mode=mode))
    return kubectl(kubeconfig, "apply", "-f", "-", stdin=body)


def kubectl_patch_mode(kubeconfig: str, mode: str) -> subprocess.CompletedProcess:
    patch = json.dumps({"spec": {"mtls": {"mode": mode}}})
    return kubectl(kubeconfig, "patch", "pa", "default", "--type", "merge", "-p", patch)


def test_client_side_apply_creates_as_kubectl_client_side_apply_with_update(
    devcluster, devcluster_kubeconfig
):
    created = client_side_apply(devcluster_kubeconfig, "STRICT")
    assert created.returncode == 0, created.stderr
    (post,) = writes(devcluster)
    assert post.method == "POST" and post.param("fieldManager") == "kubectl-client-side-apply"
    (entry,) = devcluster.get("PeerAuthentication", "default", "default")["metadata"][
        "managedFields"
    ]
    assert entry["manager"] == "kubectl-client-side-apply"
    assert entry["operation"] == "Update"
    assert entry["apiVersion"] == "security.istio.io/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == CSA_CREATED


def test_a_later_client_side_apply_is_a_merge_patch_by_the_same_manager(
    devcluster, devcluster_kubeconfig
):
    client_side_apply(devcluster_kubeconfig, "STRICT")
    devcluster.clear_requests()
    changed = client_side_apply(devcluster_kubeconfig, "PERMISSIVE")
    assert changed.returncode == 0, changed.stderr
    (patch,) = writes(devcluster)
    assert patch.content_type.startswith("application/merge-patch+json")
    assert patch.param("fieldManager") == "kubectl-client-side-apply"
    assert list(managers(devcluster)) == ["kubectl-client-side-apply"]
    assert managers(devcluster)["kubectl-client-side-apply"]["fieldsV1"] == CSA_CREATED


def test_kubectl_edit_takes_what_it_changed_and_leaves_the_maps_to_their_creator(
    devcluster, devcluster_kubeconfig
):
    import os

    client_side_apply(devcluster_kubeconfig, "STRICT")
    devcluster.clear_requests()
    editor = {**os.environ, "KUBE_EDITOR": "sed -i s/STRICT/PERMISSIVE/"}
    edited = subprocess.run(
        [KUBECTL, "--kubeconfig", devcluster_kubeconfig, "edit", "pa", "default"],
        capture_output=True,
        text=True,
        timeout=60,
        env=editor,
        check=False,
    )
    assert edited.returncode == 0, edited.stderr
    (patch,) = writes(devcluster)
    assert patch.param("fieldManager") == "kubectl-edit"
    by_manager = managers(devcluster)
    assert list(by_manager) == ["kubectl-client-side-apply", "kubectl-edit"]
    # kubectl edit rewrites the last-applied annotation too, so it owns that key now.
    assert by_manager["kubectl-edit"]["fieldsV1"] == {
        "f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}},
        "f:spec": {"f:mtls": {"f:mode": {}}},
    }
    assert by_manager["kubectl-client-side-apply"]["fieldsV1"] == {
        "f:metadata": {"f:annotations": {}},
        "f:spec": {".": {}, "f:mtls": {}},
    }


def test_kubectl_patch_records_kubectl_patch_as_the_modes_manager(
    devcluster, devcluster_kubeconfig
):
    client_side_apply(devcluster_kubeconfig, "STRICT")
    patched = kubectl_patch_mode(devcluster_kubeconfig, "PERMISSIVE")
    assert patched.returncode == 0, patched.stderr
    by_manager = managers(devcluster)
    assert by_manager["kubectl-patch"]["operation"] == "Update"
    assert by_manager["kubectl-patch"]["fieldsV1"] == {"f:spec": {"f:mtls": {"f:mode": {}}}}
    # It keeps the maps it made; a map whose fields are all someone else's is written `{}`.
    assert by_manager["kubectl-client-side-apply"]["fieldsV1"] == {
        "f:metadata": {"f:annotations": {".": {}, f"f:{LAST_APPLIED}": {}}},
        "f:spec": {".": {}, "f:mtls": {}},
    }


def test_server_side_apply_by_kubectl_upgrades_a_client_side_applied_object(
    devcluster, devcluster_kubeconfig
):
    # kube-apiserver lets manager "kubectl" take fields whose live value is still the
    # last-applied one, so moving from `kubectl apply` to `--server-side` does not conflict;
    # kubectl then saves the annotation as "kubectl-last-applied" and moves the client-side
    # manager's fields to its own (a JSON patch of managedFields), and applies once more.
    client_side_apply(devcluster_kubeconfig, "STRICT")
    devcluster.clear_requests()
    body = json.dumps(peer_auth("default", mode="PERMISSIVE"))
    applied = kubectl(devcluster_kubeconfig, "apply", "--server-side", "-f", "-", stdin=body)
    assert applied.returncode == 0, applied.stderr
    sent = [(r.param("fieldManager"), r.content_type.split(";")[0]) for r in writes(devcluster)]
    assert sent == [
        ("kubectl", "application/apply-patch+yaml"),
        ("kubectl-last-applied", "application/apply-patch+yaml"),
        ("kubectl", "application/json-patch+json"),
        ("kubectl", "application/apply-patch+yaml"),
    ]
    by_manager = managers(devcluster)
    assert set(by_manager) == {"kubectl", "kubectl-last-applied"}
    assert by_manager["kubectl"]["operation"] == "Apply"
    assert by_manager["kubectl"]["fieldsV1"] == {"f:spec": {"f:mtls": {"f:mode": {}}}}
    assert by_manager["kubectl-last-applied"]["fieldsV1"] == {
        "f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}}
    }
    stored = devcluster.get("PeerAuthentication", "default", "default")
    assert stored["spec"]["mtls"]["mode"] == "PERMISSIVE"
    last_applied = json.loads(stored["metadata"]["annotations"][LAST_APPLIED])
    assert last_applied["spec"] == {"mtls": {"mode": "PERMISSIVE"}}


def test_server_side_apply_conflicts_with_a_field_changed_since_the_last_apply(
    devcluster, devcluster_kubeconfig
):
    client_side_apply(devcluster_kubeconfig, "STRICT")
    kubectl_patch_mode(devcluster_kubeconfig, "PERMISSIVE")
    body = json.dumps(peer_auth("default", mode="STRICT"))
    applied = kubectl(devcluster_kubeconfig, "apply", "--server-side", "-f", "-", stdin=body)
    assert applied.returncode == 1
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl-patch" using '
        "security.istio.io/v1: .spec.mtls.mode" in applied.stderr
    )


def test_the_first_apply_over_an_object_without_managed_fields_meets_before_first_apply(
    devcluster, devcluster_kubeconfig
):
    client_side_apply(devcluster_kubeconfig, "STRICT")
    # The documented way to clear managedFields: replace them with one empty entry.
    cleared = kubectl(
        devcluster_kubeconfig,
        "patch",
        "pa",
        "default",
        "--type",
        "json",
        "-p",
        '[{"op": "replace", "path": "/metadata/managedFields", "value": [{}]}]',
    )
    assert cleared.returncode == 0, cleared.stderr
    stored = devcluster.get("PeerAuthentication", "default", "default")
    assert "managedFields" not in stored["metadata"]
    # Updates of an untracked object stay untracked...
    kubectl(devcluster_kubeconfig, "label", "pa", "default", "team=payments")
    stored = devcluster.get("PeerAuthentication", "default", "default")
    assert "managedFields" not in stored["metadata"]
    # ...until an apply: everything already there becomes "before-first-apply"'s first.
    body = json.dumps(peer_auth("default", mode="PERMISSIVE"))
    refused = kubectl(
        devcluster_kubeconfig,
        "apply",
        "--server-side",
        "--field-manager=meshui",
        "-f",
        "-",
        stdin=body,
    )
    assert refused.returncode == 1
    assert 'conflict with "before-first-apply" using security.istio.io/v1' in refused.stderr
    devcluster.clear_requests()
    forced = kubectl(
        devcluster_kubeconfig,
        "apply",
        "--server-side",
        "--field-manager=meshui",
        "--force-conflicts",
        "-f",
        "-",
        stdin=body,
    )
    assert forced.returncode == 0, forced.stderr
    # kubectl then moves before-first-apply's fields to its manager (csaupgrade, a JSON patch
    # of managedFields) and applies again, which prunes the annotation nobody else holds.
    [first, migrate, again] = writes(devcluster)
    assert first.param("force") == "true" and again.param("force") == "true"
    migrated = {entry["manager"] for entry in migrate.json()[0]["value"]}
    assert migrated == {"meshui"}
    (entry,) = devcluster.get("PeerAuthentication", "default", "default")["metadata"][
        "managedFields"
    ]
    assert (entry["manager"], entry["operation"]) == ("meshui", "Apply")
    assert entry["fieldsV1"] == {"f:spec": {"f:mtls": {"f:mode": {}}}}
