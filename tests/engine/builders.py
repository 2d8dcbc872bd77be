"""Small keyword builders for raw API dicts, shaped as `kubectl get -o json` prints them."""

from __future__ import annotations

from typing import Any

from policies.engine import NamespacePosture, Posture, WorkloadPosture

ROOT = "istio-system"


def peer_auth(
    namespace: str,
    name: str = "default",
    *,
    mode: str | None = None,
    selector: dict[str, str] | None = None,
    ports: dict[Any, str | None] | None = None,
    created: str | None = None,
    api_version: str = "security.istio.io/v1",
) -> dict[str, Any]:
    """A PeerAuthentication; `ports` maps port → mode (None: an entry without a mode)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if created is not None:
        metadata["creationTimestamp"] = created
    spec: dict[str, Any] = {}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if ports is not None:
        spec["portLevelMtls"] = {
            port: ({} if port_mode is None else {"mode": port_mode})
            for port, port_mode in ports.items()
        }
    return {
        "apiVersion": api_version,
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }


def mesh_policy(mode: str | None = "STRICT", *, name: str = "default", **kwargs) -> dict:
    """A selector-less PeerAuthentication in the root namespace."""
    return peer_auth(ROOT, name, mode=mode, **kwargs)


def namespace(name: str, **labels: str) -> dict[str, Any]:
    """A Namespace; keyword labels use `_` for `.`, `-` and `/` is not needed: pass a dict."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def labelled_namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Namespace with labels whose keys are not identifiers (istio.io/rev, ...)."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _pod_template(
    labels: dict[str, str] | None,
    ports: tuple[int, ...] | list[int],
    annotations: dict[str, str] | None,
    containers: list[dict] | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": dict(labels or {})}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if containers is None:
        containers = [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": p} for p in ports]}
        ]
    return {"metadata": metadata, "spec": {"containers": containers}}


def workload(
    namespace: str,
    name: str,
    *,
    kind: str = "Deployment",
    labels: dict[str, str] | None = None,
    ports: tuple[int, ...] | list[int] = (),
    annotations: dict[str, str] | None = None,
    containers: list[dict] | None = None,
    uid: str | None = None,
    owner: tuple[str, str] | None = None,
    owner_uid: str | None = None,
) -> dict[str, Any]:
    """A Deployment (or other controller kind, or Pod) with a pod template."""
    if labels is None:
        labels = {"app": name}
    template = _pod_template(labels, ports, annotations, containers)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid:
        metadata["uid"] = uid
    if owner:
        reference = {"kind": owner[0], "name": owner[1], "controller": True}
        if owner_uid:
            reference["uid"] = owner_uid
        metadata["ownerReferences"] = [reference]
    api_version = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if kind == "Pod":
        metadata["labels"] = template["metadata"]["labels"]
        if "annotations" in template["metadata"]:
            metadata["annotations"] = template["metadata"]["annotations"]
        obj["spec"] = template["spec"]
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}
    else:
        obj["spec"] = {"selector": {"matchLabels": labels}, "template": template}
    return obj


def deployment(namespace: str, name: str, **kwargs) -> dict[str, Any]:
    """A Deployment whose pods carry `app: name` unless `labels` says otherwise."""
    return workload(namespace, name, kind="Deployment", **kwargs)


def service(
    namespace: str,
    name: str,
    selector: dict[str, str] | None = None,
    port: int = 80,
    *,
    ports: list[tuple[int, int | str]] | None = None,
) -> dict[str, Any]:
    """A Service selecting `app: name` unless told otherwise; `ports` as (port, targetPort)."""
    if ports is None:
        ports = [(port, 8080)]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app": name} if selector is None else selector,
            "ports": [
                {"name": f"tcp-{number}", "port": number, "targetPort": target}
                for number, target in ports
            ],
        },
    }


def destination_rule(
    namespace: str,
    name: str,
    host: str,
    tls_mode: str | None = "ISTIO_MUTUAL",
    *,
    created: str | None = None,
    api_version: str = "networking.istio.io/v1",
    export_to: list[str] | None = None,
    selector: dict[str, str] | None = None,
    ports: dict[int, str | None] | None = None,
    traffic_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A DestinationRule with a top-level trafficPolicy.tls.mode (None: no tls block).

    `ports` maps a Service port to its portLevelSettings tls mode (None: an entry without
    tls); `traffic_policy` replaces the whole trafficPolicy when given.
    """
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if created:
        metadata["creationTimestamp"] = created
    spec: dict[str, Any] = {"host": host}
    policy: dict[str, Any] = {}
    if tls_mode is not None:
        policy["tls"] = {"mode": tls_mode}
    if ports is not None:
        settings = []
        for port, mode in ports.items():
            entry: dict[str, Any] = {"port": {"number": port}}
            if mode is None:
                entry["connectionPool"] = {"tcp": {"maxConnections": 10}}
            else:
                entry["tls"] = {"mode": mode}
            settings.append(entry)
        policy["portLevelSettings"] = settings
    if traffic_policy is not None:
        policy = traffic_policy
    if policy or traffic_policy is not None:
        spec["trafficPolicy"] = policy
    if export_to is not None:
        spec["exportTo"] = export_to
    if selector is not None:
        spec["workloadSelector"] = {"matchLabels": selector}
    return {
        "apiVersion": api_version,
        "kind": "DestinationRule",
        "metadata": metadata,
        "spec": spec,
    }


def workload_of(posture: Posture, ref: str) -> WorkloadPosture:
    """The one workload `namespace/name` of a posture."""
    ns, name = ref.split("/")
    found = [w for w in posture.workloads if w.namespace == ns and w.name == name]
    assert len(found) == 1, f"{ref}: {len(found)} workloads"
    return found[0]


def namespace_of(posture: Posture, name: str) -> NamespacePosture:
    """The namespace row `name` of a posture."""
    found = [n for n in posture.namespaces if n.name == name]
    assert len(found) == 1, f"{name}: {len(found)} namespaces"
    return found[0]


def codes(posture: Posture) -> list[str]:
    """The finding codes of a posture, in order."""
    return [finding.code for finding in posture.findings]


def findings_with(posture: Posture, code: str) -> list:
    """The findings of one code."""
    return [finding for finding in posture.findings if finding.code == code]
