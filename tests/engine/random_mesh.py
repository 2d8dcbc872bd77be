"""Randomized meshes and changes for tests that hold a fast path to the full evaluation.

Deterministic per seed. The meshes mix what makes Istio's rules interesting: policies at
every level with equal creation times, UNSET and port modes; selectors that match some,
none or several workloads; sidecars seen, missing or predicted; ambient and hostNetwork
pods; Services with numeric and named target ports; DestinationRules with exact and wildcard
hosts, exportTo and portLevelSettings.
"""

from __future__ import annotations

import random
from typing import Any

from tests.engine.builders import ROOT, destination_rule, peer_auth, service, workload

MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET", None)
TIMES = ("2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z", None)
TLS = ("ISTIO_MUTUAL", "DISABLE", "SIMPLE", None)
PROXY = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}


def random_policy(rng: random.Random, namespaces: list[str], apps: list[str]) -> dict:
    namespace = rng.choice([ROOT, *namespaces])
    selector = {"app": rng.choice(apps)} if rng.random() < 0.5 else None
    ports = {rng.choice((8080, 9090, 15999)): rng.choice(MODES)} if rng.random() < 0.3 else None
    return peer_auth(
        namespace,
        f"pa-{rng.randrange(6)}",
        mode=rng.choice(MODES),
        selector=selector,
        ports=ports,
        created=rng.choice(TIMES),
    )


def random_mesh(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    namespaces = [f"ns-{n}" for n in range(rng.randint(2, 5))]
    apps = ["api", "web", "db"]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ROOT}}
    ]
    for name in namespaces:
        labels = rng.choice(
            [{}, {"istio-injection": "enabled"}, {"istio.io/dataplane-mode": "ambient"}]
        )
        objects.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        )
        for app in rng.sample(apps, rng.randint(1, 3)):
            kind = rng.choice(("Deployment", "StatefulSet", "Pod", "CronJob"))
            sidecar = rng.random() < 0.5
            obj = workload(
                name,
                app,
                kind=kind,
                labels={"app": app, "tier": rng.choice(("a", "b"))},
                ports=rng.sample((8080, 9090), rng.randint(0, 2)),
                annotations=PROXY if sidecar else None,
                uid=f"{name}-{app}" if rng.random() < 0.5 else None,
            )
            if rng.random() < 0.15:
                obj["spec"].setdefault("template", {}).setdefault("spec", {})
                pod_spec = obj["spec"]["template"]["spec"] if kind != "Pod" else obj["spec"]
                if kind == "CronJob":
                    pod_spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                pod_spec["hostNetwork"] = True
            objects.append(obj)
            if rng.random() < 0.7:
                objects.append(service(name, app, ports=[(80, rng.choice((8080, 9090)))]))
    seen: set[tuple[str, str]] = set()
    for _ in range(rng.randint(1, 8)):
        policy = random_policy(rng, namespaces, apps)
        key = (policy["metadata"]["namespace"], policy["metadata"]["name"])
        if key not in seen:  # a cluster holds one object per namespace and name
            seen.add(key)
            objects.append(policy)
    for index in range(rng.randint(0, 4)):
        owner = rng.choice([ROOT, *namespaces])
        host = rng.choice(
            [f"{rng.choice(apps)}.{rng.choice(namespaces)}.svc.cluster.local", "*.local", "api"]
        )
        tls = rng.choice(TLS)
        objects.append(
            destination_rule(
                owner,
                f"dr-{index}",
                host,
                tls,
                created=rng.choice(TIMES[:2]),
                export_to=rng.choice([None, ["."], ["*"]]),
                ports={80: rng.choice(TLS)} if rng.random() < 0.3 else None,
            )
        )
    return objects


def random_change(seed: int, objects: list[dict]) -> tuple[str, dict | tuple[str, str, str]]:
    """("apply", manifest) of a new or changed policy, or ("delete", (kind, namespace, name))."""
    rng = random.Random(seed * 7919)
    policies = [obj for obj in objects if obj["kind"] in ("PeerAuthentication", "DestinationRule")]
    if policies and rng.random() < 0.3:
        victim = rng.choice(policies)
        return "delete", (
            victim["kind"],
            victim["metadata"]["namespace"],
            victim["metadata"]["name"],
        )
    namespaces = [obj["metadata"]["name"] for obj in objects if obj["kind"] == "Namespace"]
    choice = rng.random()
    if choice < 0.2:
        mode = rng.choice(MODES[:3])
        return "apply", peer_auth(ROOT, "default", mode=mode, created=TIMES[1])  # mesh-wide
    if choice < 0.8:
        manifest = random_policy(rng, [n for n in namespaces if n != ROOT], ["api", "web", "db"])
        manifest["metadata"].pop("creationTimestamp", None)
        manifest["metadata"]["creationTimestamp"] = rng.choice(TIMES[:2])
        return "apply", manifest
    return "apply", destination_rule(
        rng.choice(namespaces), "dr-0", "*.local", rng.choice(TLS), created=TIMES[1]
    )
