"""Benchmarks of the Kubernetes API server double (devcluster/). Prints figures; asserts nothing.

    .venv/bin/python bench/devcluster.py [--pods 150000] [--deployments 10000] [--policies 20000]

1. start-up: `python -m devcluster serve --port 0` until its URL line, and `DevCluster()`;
2. bulk seeding in-process (`seed(..., validate=False)`) of pods, deployments and policies;
3. listing every pod 500 at a time through the official client against a separate server
   process, with that process's resident memory before, after and at its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pod(namespace: str, name: str, owner: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": owner, "pod-template-hash": "6d5f8b7c9"},
            "annotations": {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{owner}-6d5f8b7c9",
                    "uid": "00000000-0000-0000-0000-000000000000",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "ports": [{"containerPort": 8080}],
                },
                {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.30.3"},
            ]
        },
        "status": {"phase": "Running"},
    }


def deployment(namespace: str, name: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 15,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1.0"}]},
            },
        },
    }


def policy(namespace: str, name: str) -> dict:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}}, "mtls": {"mode": "STRICT"}},
    }


def mesh(pods: int, deployments: int, policies: int, namespaces: int = 500) -> list[dict]:
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n:04}"}}
        for n in range(namespaces)
    ]
    objects += [deployment(f"ns-{d % namespaces:04}", f"app-{d:05}") for d in range(deployments)]
    objects += [
        pod(
            f"ns-{(p % deployments) % namespaces:04}",
            f"app-{p % deployments:05}-{p:06}",
            f"app-{p % deployments:05}",
        )
        for p in range(pods)
    ]
    objects += [policy(f"ns-{q % namespaces:04}", f"policy-{q:05}") for q in range(policies)]
    return objects


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (a figure that survives a busy machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def start_server() -> tuple[subprocess.Popen, str, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "devcluster", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = process.stdout.readline().strip()
    return process, url, time.perf_counter() - started


def bench_startup(runs: int = 5) -> None:
    timings = []
    for _ in range(runs):
        process, url, elapsed = start_server()
        assert url.startswith("http://")
        timings.append(elapsed)
        process.terminate()
        process.wait()
    print(
        f"start-up, python -m devcluster serve until its URL line: "
        f"median {statistics.median(timings):.3f} s, best {min(timings):.3f} s ({runs} runs)"
    )
    from devcluster import DevCluster

    started = time.perf_counter()
    cluster = DevCluster()
    urllib.request.urlopen(cluster.url + "/version").read()  # noqa: S310 - loopback
    print(
        f"start-up, DevCluster() in-process (modules already imported) until /version answers: "
        f"{time.perf_counter() - started:.3f} s"
    )
    cluster.stop()


def bench_seed(pods: int, deployments: int, policies: int) -> None:
    from devcluster import DevCluster

    objects = mesh(pods, deployments, policies)
    with DevCluster() as cluster:
        started, cpu_started = time.perf_counter(), time.process_time()
        cluster.seed(objects, validate=False)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"bulk seed, validate=False: {len(objects):,} objects ({pods:,} pods, {deployments:,} "
        f"deployments, {policies:,} policies) in {elapsed:.2f} s, {cpu:.2f} CPU s "
        f"({len(objects) / cpu:,.0f} objects per CPU second)"
    )
    sample = mesh(2000, 200, 400, namespaces=20)
    with DevCluster() as cluster:
        started, cpu_started = time.perf_counter(), time.process_time()
        cluster.seed(sample, validate=True)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"seed, validate=True (schema, CEL, managedFields): {len(sample):,} objects in "
        f"{elapsed:.2f} s, {cpu:.2f} CPU s ({len(sample) / cpu:,.0f} objects per CPU second)"
    )


def bench_paging(pods: int, page_size: int = 500) -> None:
    from kubernetes import client

    process, url, _ = start_server()
    try:
        objects = mesh(pods, max(1, pods // 15), 0)
        chunk = 10000
        started = time.perf_counter()
        for offset in range(0, len(objects), chunk):
            request = urllib.request.Request(
                url + "/_devcluster/seed",
                data=json.dumps(
                    {"objects": objects[offset : offset + chunk], "validate": False}
                ).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request).read()  # noqa: S310 - loopback
        del objects
        print(
            f"seed over HTTP (/_devcluster/seed, validate=false): {pods:,} pods in "
            f"{time.perf_counter() - started:.2f} s"
        )
        before_rss, before_peak = rss_kib(process.pid)
        server_cpu = cpu_seconds(process.pid)
        configuration = client.Configuration()
        configuration.host = url
        api = client.CoreV1Api(client.ApiClient(configuration))
        started = time.perf_counter()
        token, pages, items = None, 0, 0
        while True:
            response = api.list_pod_for_all_namespaces(
                limit=page_size, _continue=token, _preload_content=False
            )
            page = json.loads(response.data)
            pages += 1
            items += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(process.pid) - server_cpu
        after_rss, after_peak = rss_kib(process.pid)
        print(
            f"list {items:,} pods, {page_size} a page, official client: {pages} pages in "
            f"{elapsed:.2f} s ({items / elapsed:,.0f} pods/s, "
            f"{elapsed / pages * 1000:.1f} ms/page); "
            f"server CPU {server_cpu:.2f} s ({server_cpu / pages * 1000:.1f} ms/page)"
        )
        print(
            f"server memory: RSS {before_rss / 1024:.0f} MiB before the listing, "
            f"{after_rss / 1024:.0f} MiB after; peak {before_peak / 1024:.0f} -> "
            f"{after_peak / 1024:.0f} MiB (growth during the listing: "
            f"{(after_peak - before_peak) / 1024:.1f} MiB)"
        )
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=150000)
    parser.add_argument("--deployments", type=int, default=10000)
    parser.add_argument("--policies", type=int, default=20000)
    arguments = parser.parse_args()
    bench_startup()
    bench_seed(arguments.pods, arguments.deployments, arguments.policies)
    bench_paging(arguments.pods)


if __name__ == "__main__":
    main()
