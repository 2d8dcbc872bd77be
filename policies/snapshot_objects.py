"""Turn a stored snapshot back into engine input, for "what if" previews.

A snapshot keeps what the engine decided, not every object it read. To re-run the engine on
"the current snapshot with one change applied", this rebuilds the smallest objects that
carry the same facts: namespaces with their labels, one synthetic controller per workload
(its pod labels, container ports and sidecar facts), every PeerAuthentication and
DestinationRule exactly as read, and Services with their selectors and ports. Evaluating
these objects gives the snapshot's own posture back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson
from django.db import connections
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from policies.engine.incremental import workload_input_from_facts
from policies.engine.inputs import Inputs, NamespaceInput, parse_objects
from policies.models import NamespaceRecord, PolicyRecord, ServiceRecord, Snapshot, WorkloadRecord

# What the sidecar injector leaves on a pod; the engine counts either as "has a sidecar".
PROXY_CONTAINER = "istio-proxy"
INJECTION_STATUS_ANNOTATION = "sidecar.istio.io/status"
AMBIENT_LABEL = "istio.io/dataplane-mode"

_API_VERSIONS = {
    "Pod": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}


def snapshot_objects(snapshot: Snapshot, *, namespaces: Iterable[str] | None = None) -> list[dict]:
    """Engine input dicts equivalent to what `snapshot` was computed from.

    With `namespaces`, only what lives in those namespaces, plus every DestinationRule (a
    DestinationRule anywhere may point at their hosts): what a change inside them can move,
    so a preview on a 150,000-workload mesh evaluates a few dozen workloads. None means all.
    """
    scope = None if namespaces is None else set(namespaces)
    objects = snapshot_objects_without_workloads(snapshot, scope)
    ambient_namespaces = {
        obj["metadata"]["name"]
        for obj in objects
        if obj["kind"] == "Namespace"
        and (obj["metadata"].get("labels") or {}).get(AMBIENT_LABEL) == "ambient"
    }
    workloads = WorkloadRecord.objects.filter(snapshot=snapshot)
    if scope is not None:
        workloads = workloads.filter(namespace__in=scope)
    for (
        namespace,
        name,
        kind,
        labels,
        container_ports,
        has_sidecar,
        ambient,
        host_network,
    ) in workloads.values_list(
        "namespace",
        "name",
        "kind",
        "labels",
        "container_ports",
        "has_sidecar",
        "ambient",
        "host_network",
    ):
        objects += workload_objects(
            namespace=namespace,
            name=name,
            kind=kind,
            labels=labels or {},
            container_ports=container_ports or [],
            has_sidecar=has_sidecar,
            ambient=ambient,
            namespace_ambient=namespace in ambient_namespaces,
            host_network=host_network,
        )
    return objects


def snapshot_objects_without_workloads(snapshot: Snapshot, scope: set[str] | None) -> list[dict]:
    """Namespaces, policies (every DestinationRule whatever the scope) and Services."""

    def rows(model, **in_scope):
        query = model.objects.filter(snapshot=snapshot)
        return query if scope is None else query.filter(**in_scope)

    namespace_rows = rows(NamespaceRecord, name__in=scope).values_list("name", "labels")
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        for name, labels in namespace_rows
    ]
    policies = PolicyRecord.objects.filter(snapshot=snapshot)
    if scope is not None:
        policies = policies.filter(
            Q(namespace__in=scope) | Q(kind=PolicyRecord.Kind.DESTINATION_RULE)
        )
    objects.extend(policies.values_list("manifest", flat=True))
    services = rows(ServiceRecord, namespace__in=scope).values_list(
        "namespace", "name", "selector", "ports"
    )
    for namespace, name, selector, ports in services:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"namespace": namespace, "name": name},
                "spec": {"selector": selector or {}, "ports": ports or []},
            }
        )
    return objects


def snapshot_inputs(snapshot: Snapshot, *, namespaces: Iterable[str] | None = None) -> Inputs:
    """The engine's parsed input for `snapshot`: equal to parse_objects(snapshot_objects(...)).

    Workloads, by far the most numerous, become the engine's records straight from their
    stored facts (no dicts built, none parsed, JSON columns read by orjson); namespaces,
    policies and Services are parsed as usual. A preview of a mesh-wide change on 150,000
    workloads spends most of its time here, so this is the fast way to the same input.
    """
    scope = None if namespaces is None else set(namespaces)
    inputs = parse_objects(
        snapshot_objects_without_workloads(snapshot, scope), snapshot.root_namespace
    )
    ambient_namespaces = {
        name
        for name, namespace in inputs.namespaces.items()
        if namespace.declared and namespace.labels.get(AMBIENT_LABEL) == "ambient"
    }
    rows = WorkloadRecord.objects.filter(snapshot=snapshot)
    if scope is not None:
        rows = rows.filter(namespace__in=scope)
    counts = inputs.object_counts
    workloads = inputs.workloads
    query = rows.values_list(
        "namespace",
        "name",
        "kind",
        Cast("labels", TextField()),
        Cast("container_ports", TextField()),
        "has_sidecar",
        "ambient",
        "host_network",
    )
    for namespace, name, kind, labels, container_ports, *flags in _raw_rows(query):
        # Booleans as the driver gives them (SQLite: 0 and 1).
        has_sidecar, ambient, host_network = map(bool, flags)
        pod_labels = orjson.loads(labels) if labels else {}
        pod_labels = pod_labels or {}
        namespace_ambient = namespace in ambient_namespaces
        if ambient and not namespace_ambient:
            pod_labels[AMBIENT_LABEL] = "ambient"
        kind = kind if kind in _API_VERSIONS else "Deployment"
        workloads.append(
            workload_input_from_facts(
                namespace=namespace,
                name=name,
                kind=kind,
                pod_labels=pod_labels,
                container_ports=tuple(orjson.loads(container_ports) or ())
                if container_ports
                else (),
                has_sidecar=has_sidecar,
                host_network=host_network
                or (
                    namespace_ambient
                    and _on_host_network(host_network, True, ambient, has_sidecar, pod_labels)
                ),
            )
        )
        counts[kind] = counts.get(kind, 0) + 1
        if kind != "Pod" and not has_sidecar:
            counts["Pod"] = counts.get("Pod", 0) + 1
        if namespace not in inputs.namespaces:
            inputs.namespaces[namespace] = NamespaceInput(namespace, {}, False)
    inputs.object_counts = dict(sorted(counts.items()))
    return inputs


def _raw_rows(query) -> Iterator[tuple]:
    """The rows of a values_list query straight from the database cursor, without Django's
    per-row converters (a third of the read on 150,000 rows): SQL as Django writes it for
    this database, JSON columns cast to text."""
    sql, params = query.query.sql_with_params()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(5000):
            yield from batch


def _on_host_network(
    host_network: bool, namespace_ambient: bool, ambient: bool, has_sidecar: bool, labels: dict
) -> bool:
    # Snapshots from before host_network was stored say it only this way: a pod of an
    # ambient namespace that is neither captured nor opted out must be on the host network.
    return host_network or (
        namespace_ambient
        and not ambient
        and not has_sidecar
        and labels.get(AMBIENT_LABEL) != "none"
    )


def workload_objects(
    *,
    namespace: str,
    name: str,
    kind: str,
    labels: dict,
    container_ports: list[int],
    has_sidecar: bool,
    ambient: bool,
    namespace_ambient: bool = False,
    host_network: bool = False,
) -> list[dict]:
    """A minimal controller (or Pod) whose pod template carries the given facts.

    The sidecar is shown the way the engine reads it from a cluster: a proxy container
    and the injector's status annotation, or else an admitted pod (it has a uid) without
    them, which the engine takes over any prediction from labels. A pod of an ambient
    namespace that is neither captured nor opted out must be on the host network.
    """
    pod_labels = dict(labels)
    if ambient and not namespace_ambient:
        pod_labels[AMBIENT_LABEL] = "ambient"
    containers = [{"name": "app", "ports": [{"containerPort": port} for port in container_ports]}]
    annotations = {}
    if has_sidecar:
        containers.append({"name": PROXY_CONTAINER})
        annotations[INJECTION_STATUS_ANNOTATION] = "{}"
    pod_spec: dict = {"containers": containers}
    if _on_host_network(host_network, namespace_ambient, ambient, has_sidecar, pod_labels):
        pod_spec["hostNetwork"] = True
    template = {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": pod_spec}
    kind = kind if kind in _API_VERSIONS else "Deployment"
    metadata = {"namespace": namespace, "name": name}
    if kind == "Pod":
        pod_metadata = {**metadata, **template["metadata"]}
        if not has_sidecar:
            pod_metadata["uid"] = _pod_uid(namespace, name)
        return [{"apiVersion": "v1", "kind": "Pod", "metadata": pod_metadata, "spec": pod_spec}]
    spec: dict = {"template": template}
    if kind == "CronJob":
        spec = {"jobTemplate": {"spec": {"template": template}}}
    controller = {
        "apiVersion": _API_VERSIONS[kind],
        "kind": kind,
        "metadata": {**metadata, "labels": dict(labels)},
        "spec": {**spec, "selector": {"matchLabels": dict(labels)}},
    }
    if has_sidecar:
        return [controller]
    owner = {"apiVersion": _API_VERSIONS[kind], "kind": kind, "name": name, "controller": True}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template["metadata"],
            "namespace": namespace,
            "name": f"{name}-snapshot",
            "uid": _pod_uid(namespace, name),
            "ownerReferences": [owner],
        },
        "spec": pod_spec,
    }
    return [controller, pod]


def _pod_uid(namespace: str, name: str) -> str:
    return f"snapshot-{namespace}-{name}"
