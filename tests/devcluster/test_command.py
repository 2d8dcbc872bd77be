"""`python -m devcluster serve`: URL first, seeds, kubeconfig, clean stop, clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]


def serve(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "devcluster", "serve", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_prints_its_url_first_seeds_and_stops_cleanly_on_sigterm(tmp_path):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "mesh.yaml").write_text(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: istio-system,\n"
        "           creationTimestamp: '2024-01-01T00:00:00Z'}\n"
        "spec: {mtls: {mode: STRICT}}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n"
    )
    (seed / "pods.json").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": "web", "namespace": "istio-system"},
                        "spec": {"containers": [{"name": "a", "image": "b"}]},
                    }
                ],
            }
        )
    )
    kubeconfig = tmp_path / "kubeconfig"
    process = serve("--port", "0", "--seed", str(seed), "--kubeconfig-out", str(kubeconfig))
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        assert api.configuration.host == url
        policy = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "security.istio.io", "v1", "istio-system", "peerauthentications", "default"
        )
        assert policy["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
        assert [
            p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod("istio-system").items
        ] == ["web"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert "Traceback" not in process.stderr.read()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seed", "/nonexistent/dir"], "--seed /nonexistent/dir is not a directory"),
        (["--port", "70000"], "--port must be 0-65535"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(arguments, message):
    process = serve(*arguments)
    assert process.wait(timeout=60) == 2
    stderr = process.stderr.read()
    assert message in stderr and "Traceback" not in stderr


def test_an_invalid_seed_manifest_is_reported_in_words(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: shop}\nspec: {mtls: {mode: NOPE}}\n"
    )
    process = serve("--seed", str(tmp_path))
    assert process.wait(timeout=60) == 1
    stderr = process.stderr.read()
    assert 'Unsupported value: "NOPE"' in stderr and "Traceback" not in stderr


def test_the_demo_seed_loads(tmp_path):
    demo = ROOT / "devcluster" / "seeds" / "demo"
    process = serve("--seed", str(demo), "--kubeconfig-out", str(tmp_path / "k"))
    try:
        assert process.stdout.readline().startswith("http://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(tmp_path / "k"))
        policies = client.CustomObjectsApi(api).list_cluster_custom_object(
            "security.istio.io", "v1", "peerauthentications"
        )["items"]
        assert policies
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_busy_port_exits_1_with_a_message(devcluster):
    process = serve("--port", str(devcluster.port))
    assert process.wait(timeout=60) == 1
    stderr = process.stderr.read()
    assert f"cannot listen on 127.0.0.1:{devcluster.port}" in stderr
    assert "Traceback" not in stderr
