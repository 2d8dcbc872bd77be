"""Small keyword builders for the raw objects sync tests put in the cluster."""

from __future__ import annotations

PROXY_STATUS = '{"containers":["istio-proxy"]}'


def namespace(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def deployment(
    ns: str,
    name: str,
    *,
    ports: tuple[int, ...] = (8080,),
    sidecar: bool = True,
    labels: dict | None = None,
) -> dict:
    labels = labels or {"app": name}
    containers = [{"name": name, "image": "app:1", "ports": [{"containerPort": p} for p in ports]}]
    annotations = {}
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "proxyv2:1.30"})
        annotations["sidecar.istio.io/status"] = PROXY_STATUS
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": ns, "name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": containers},
            },
        },
    }


def service(ns: str, name: str, *, port: int = 80, target_port: int = 8080) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": target_port}],
        },
    }


def peer_auth(
    ns: str,
    name: str = "default",
    *,
    mode: str | None = "STRICT",
    selector: dict | None = None,
    ports: dict[int, str] | None = None,
    api_version: str = "security.istio.io/v1",
    created: str | None = None,
) -> dict:
    spec: dict = {}
    if mode:
        spec["mtls"] = {"mode": mode}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(port): {"mode": m} for port, m in ports.items()}
    metadata = {"namespace": ns, "name": name}
    if created:
        metadata["creationTimestamp"] = created
    return {
        "apiVersion": api_version,
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }


def destination_rule(
    ns: str,
    name: str,
    *,
    host: str,
    mode: str = "ISTIO_MUTUAL",
    api_version: str = "networking.istio.io/v1",
) -> dict:
    return {
        "apiVersion": api_version,
        "kind": "DestinationRule",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"host": host, "trafficPolicy": {"tls": {"mode": mode}}},
    }


def mesh_config(root_namespace: str, *, in_namespace: str = "istio-system") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": in_namespace, "name": "istio"},
        "data": {"mesh": f"rootNamespace: {root_namespace}\ntrustDomain: cluster.local\n"},
    }


def small_mesh() -> list[dict]:
    """Three namespaces: STRICT, PERMISSIVE by policy, and inheriting the mesh's STRICT."""
    return [
        namespace("istio-system"),
        namespace("payments", **{"istio-injection": "enabled"}),
        namespace("shop", **{"istio-injection": "enabled"}),
        namespace("batch"),
        peer_auth("istio-system", mode="STRICT"),
        peer_auth("shop", mode="PERMISSIVE"),
        deployment("payments", "api"),
        service("payments", "api"),
        deployment("shop", "cart"),
        service("shop", "cart"),
        deployment("batch", "report", sidecar=False),
        destination_rule("payments", "api", host="api.payments.svc.cluster.local"),
    ]
