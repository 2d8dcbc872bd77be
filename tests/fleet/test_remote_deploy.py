"""deploy/remote/: meshui reads each remote cluster with least privilege (a ServiceAccount
and a read-only ClusterRole per remote cluster, the token in a Secret); docker-compose runs
two workers; the Kubernetes deployment mounts remote credentials into web and worker."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.sync.test_deploy import compose, gateway_needs

ROOT = Path(__file__).resolve().parents[2]


def documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((ROOT / "deploy" / name).read_text()) if doc]


def rules_of(role: dict) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_remote_reader_role_grants_exactly_what_a_sync_reads_and_no_write():
    (role,) = [doc for doc in documents("remote/reader.yaml") if doc["kind"] == "ClusterRole"]
    reads = {key: verbs - {"create", "patch", "delete"} for key, verbs in gateway_needs().items()}
    assert rules_of(role) == reads
    config_maps = next(rule for rule in role["rules"] if "configmaps" in rule["resources"])
    assert config_maps["resourceNames"] == ["istio"]
    assert not any("secrets" in rule["resources"] for rule in role["rules"])


def test_remote_reader_token_lives_in_a_secret_of_its_service_account():
    docs = documents("remote/reader.yaml")
    (account,) = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    (secret,) = [doc for doc in docs if doc["kind"] == "Secret"]
    (binding,) = [doc for doc in docs if doc["kind"] == "ClusterRoleBinding"]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert (
        secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        == (account["metadata"]["name"])
    )
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


def test_remote_changes_role_may_change_only_peer_authentications_and_destination_rules():
    (role,) = [doc for doc in documents("remote/changes.yaml") if doc["kind"] == "ClusterRole"]
    assert rules_of(role) == {
        ("security.istio.io", "peerauthentications"): {"create", "patch", "delete"},
        ("networking.istio.io", "destinationrules"): {"create", "patch", "delete"},
    }


def test_istio_remote_secrets_are_read_by_name_only():
    (role,) = [
        doc for doc in documents("remote/istio-remote-secret-reader.yaml") if doc["kind"] == "Role"
    ]
    (rule,) = role["rules"]
    assert rule["verbs"] == ["get"] and rule["resourceNames"]
    assert role["metadata"]["namespace"] == "istio-system"


def test_compose_runs_two_workers_on_the_shared_queue():
    worker = compose()["services"]["worker"]
    assert worker["scale"] == 2
    assert worker["environment"]["REDIS_URL"].startswith("redis://redis:")


def test_web_and_worker_mount_remote_cluster_credentials_read_only():
    docs = {doc["metadata"]["name"]: doc for doc in documents("meshui.yaml")}
    for name in ("meshui-web", "meshui-worker"):
        spec = docs[name]["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "clusters"]
        assert volume["secret"] == {"secretName": "meshui-clusters", "optional": True}
        (container,) = [c for c in spec["containers"] if c["name"] in ("web", "worker")]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "clusters"]
        assert mount["readOnly"] is True
