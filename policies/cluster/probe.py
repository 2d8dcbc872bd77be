"""Asking a cluster who it is: the connection check a registration makes, and the Istio
remote secrets in the configured cluster that a registration may point at."""

from __future__ import annotations

from kubernetes import client as k8s

from policies.cluster.client import _call, api_client
from policies.cluster.connections import ISTIO_REMOTE_SECRET_LABEL


def server_version() -> str:
    """The API server's version (`/version`'s gitVersion) of the cluster calls go to now."""
    body = _call("asking the API server its version", k8s.VersionApi(api_client()).get_code)
    return str(body.get("gitVersion") or body.get("major", "") + "." + body.get("minor", ""))


def istio_remote_secrets(namespace: str) -> list[dict]:
    """The Istio remote secrets in `namespace` of the cluster calls go to now, as
    [{"name", "clusters": [data keys]}]: names only, never the kubeconfigs they hold."""
    page = _call(
        f"listing Istio remote secrets in {namespace}",
        k8s.CoreV1Api(api_client()).list_namespaced_secret,
        namespace,
        label_selector=f"{ISTIO_REMOTE_SECRET_LABEL}=true",
    )
    return [
        {
            "name": (item.get("metadata") or {}).get("name", ""),
            "clusters": sorted(item.get("data") or {}),
        }
        for item in page.get("items") or []
    ]
