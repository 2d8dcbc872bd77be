"""Small keyword builders for the objects the conformance tests send."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client import ApiException

PA_GROUP, PA_PLURAL = "security.istio.io", "peerauthentications"
DR_GROUP, DR_PLURAL = "networking.istio.io", "destinationrules"


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def peer_auth(
    namespace: str,
    name: str = "default",
    *,
    mode: str | None = "STRICT",
    version: str = "v1",
    selector: dict[str, str] | None = None,
    port_modes: dict[int, str] | None = None,
    labels: dict[str, str] | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if port_modes:
        spec["portLevelMtls"] = {str(port): {"mode": m} for port, m in port_modes.items()}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    if created:
        metadata["creationTimestamp"] = created
    return {
        "apiVersion": f"security.istio.io/{version}",
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }


def destination_rule(
    namespace: str, name: str, *, host: str, tls_mode: str = "ISTIO_MUTUAL", version: str = "v1"
) -> dict[str, Any]:
    return {
        "apiVersion": f"networking.istio.io/{version}",
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"host": host, "trafficPolicy": {"tls": {"mode": tls_mode}}},
    }


def pod(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }


def deployment(namespace: str, name: str, *, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }


def failure(call, *args, **kwargs) -> tuple[int, dict]:
    """Call a client method that must fail: its HTTP status and decoded Status body."""
    with pytest.raises(ApiException) as raised:
        call(*args, **kwargs)
    return raised.value.status, json.loads(raised.value.body)
