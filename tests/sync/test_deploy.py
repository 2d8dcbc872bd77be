"""The deployment files: docker-compose and the Kubernetes manifests in deploy/."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from policies import cluster

ROOT = Path(__file__).resolve().parents[2]


def deploy_documents() -> list[dict]:
    return [
        doc
        for path in sorted((ROOT / "deploy").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def cluster_role_rules() -> dict[tuple[str, str], set[str]]:
    (role,) = [doc for doc in deploy_documents() if doc["kind"] == "ClusterRole"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def gateway_needs() -> dict[tuple[str, str], set[str]]:
    """What policies/cluster/ calls, derived from its own tables."""
    needs: dict[tuple[str, str], set[str]] = {}
    for kind, api_version, _api, _method in cluster.CORE_LISTS:
        group = api_version.split("/")[0] if "/" in api_version else ""
        plural = kind.lower() + "s"
        needs[(group, plural)] = {"get", "list", "watch"}
    for _kind, (group, _versions, plural) in cluster.ISTIO_VERSIONS.items():
        needs[(group, plural)] = {"get", "list", "watch", "create", "patch", "delete"}
    needs[("", "configmaps")] = {"get"}
    return needs


def test_cluster_role_grants_exactly_what_the_gateway_calls():
    assert cluster_role_rules() == gateway_needs()


def test_cluster_role_may_change_only_peer_authentications_and_destination_rules():
    writers = {
        resource
        for (_group, resource), verbs in cluster_role_rules().items()
        if verbs & {"create", "update", "patch", "delete", "deletecollection", "*"}
    }
    assert writers == {"peerauthentications", "destinationrules"}


def test_cluster_role_reads_only_the_istio_config_map():
    (role,) = [doc for doc in deploy_documents() if doc["kind"] == "ClusterRole"]
    (config_map_rule,) = [rule for rule in role["rules"] if "configmaps" in rule["resources"]]
    assert config_map_rule["resourceNames"] == ["istio"]
    assert all("*" not in rule["verbs"] + rule["resources"] for rule in role["rules"])


def test_deployments_run_as_the_service_account_bound_to_the_cluster_role():
    docs = deploy_documents()
    (binding,) = [doc for doc in docs if doc["kind"] == "ClusterRoleBinding"]
    (account,) = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    assert binding["roleRef"]["name"] == "meshui"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "meshui"}
    ]
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    assert {"meshui-web", "meshui-worker", "meshui-beat"} <= set(deployments)
    for name in ("meshui-web", "meshui-worker", "meshui-beat"):
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "meshui"
        for container in pod["containers"]:
            assert container["securityContext"]["runAsNonRoot"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert deployments["meshui-beat"]["spec"]["replicas"] == 1


def test_service_selects_the_web_pods():
    docs = deploy_documents()
    (web,) = [doc for doc in docs if doc["metadata"]["name"] == "meshui-web"]
    (service,) = [
        doc for doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == "meshui"
    ]
    labels = web["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {
        port["name"]
        for container in web["spec"]["template"]["spec"]["containers"]
        for port in container.get("ports", [])
    }
    assert service["spec"]["ports"][0]["targetPort"] in port_names


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_web_worker_beat_redis_and_postgres():
    services = compose()["services"]
    assert set(services) == {"web", "worker", "beat", "redis", "postgres"}
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert services["worker"]["command"][:4] == ["celery", "-A", "meshui", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "meshui", "beat"]


def test_compose_mounts_the_kubeconfig_read_only_into_every_meshui_service():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        (mount,) = services[name]["volumes"]
        assert mount["target"] == services[name]["environment"]["MESHUI_KUBECONFIG"]
        assert mount["read_only"] is True
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")


def compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) where present, else Debian's `docker-compose`.

    Neither needs a Docker engine for `config`; `make test` installs Debian's package.
    """
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_validates_with_docker_compose(tmp_path):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={
            "MESHUI_SECRET_KEY": "x" * 50,
            "KUBECONFIG_FILE": str(kubeconfig),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr


def test_compose_file_refuses_to_start_without_a_secret_key(tmp_path):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "MESHUI_SECRET_KEY" in result.stderr


def test_dockerfile_copies_everything_the_app_reads_at_runtime():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for directory in ("meshui", "policies", "templates", "static", "crds"):
        assert f"COPY {directory} {directory}" in dockerfile


def test_workload_manifests_apply_to_an_api_server_with_kubectl(devcluster):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    # rbac.yaml is checked above: the API server double serves no RBAC kinds.
    files = [ROOT / "deploy" / name for name in ("namespace.yaml", "redis.yaml", "meshui.yaml")]
    command = [kubectl, "--kubeconfig", str(devcluster.kubeconfig), "apply", "--server-side"]
    for path in files:
        command += ["-f", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/meshui-beat serverside-applied" in result.stdout
    web = devcluster.get("Deployment", "meshui", "meshui-web")
    assert web["spec"]["template"]["spec"]["serviceAccountName"] == "meshui"
    assert devcluster.get("Service", "meshui", "meshui") is not None
