"""Reads: discovery, the root namespace, paged lists of everything a sync needs, single gets.

Lists are paged (restarting when a continue token expires), and their items are trimmed on
arrival to what the engine reads, so 150,000 pods fit in memory.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import yaml
from django.conf import settings
from kubernetes import client as k8s

from policies.cluster.client import _call, _client_and_name, api_client
from policies.cluster.errors import Expired, Forbidden, Invalid, IstioNotInstalled, NotFound
from policies.gc_pause import gc_paused
from policies.kinds import DEFAULT_ROOT_NAMESPACE

# A list restarted this many times because its continue token expired gives up (the cluster
# is changing faster than we can page through it; the next sync tries again).
LIST_RESTARTS = 3

# Istio API versions in order of preference; the first one the cluster serves wins.
ISTIO_VERSIONS = {
    "PeerAuthentication": ("security.istio.io", ("v1", "v1beta1"), "peerauthentications"),
    "DestinationRule": (
        "networking.istio.io",
        ("v1", "v1beta1", "v1alpha3"),
        "destinationrules",
    ),
}

# What a sync reads, in order: (kind, apiVersion, API class, list method). The engine folds
# Pods and ReplicaSets into their controllers.
CORE_LISTS = (
    ("Namespace", "v1", "CoreV1Api", "list_namespace"),
    ("Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces"),
    ("Service", "v1", "CoreV1Api", "list_service_for_all_namespaces"),
    ("Deployment", "apps/v1", "AppsV1Api", "list_deployment_for_all_namespaces"),
    ("StatefulSet", "apps/v1", "AppsV1Api", "list_stateful_set_for_all_namespaces"),
    ("DaemonSet", "apps/v1", "AppsV1Api", "list_daemon_set_for_all_namespaces"),
    ("ReplicaSet", "apps/v1", "AppsV1Api", "list_replica_set_for_all_namespaces"),
    ("Job", "batch/v1", "BatchV1Api", "list_job_for_all_namespaces"),
    ("CronJob", "batch/v1", "BatchV1Api", "list_cron_job_for_all_namespaces"),
)

# Pods are by far the most numerous objects, and when a listed controller owns a pod the
# engine needs only its metadata (labels, the injector's sidecar.istio.io/status annotation,
# owner references). Listing them as a Table of object metadata (what `kubectl get` asks
# for) sends a third of the bytes; a server without Table support answers a plain list.
METADATA_TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
# Owners the engine folds pods into; a pod owned by anything else stands for itself and is
# read in full (its container ports and sidecar matter).
FOLDING_OWNERS = frozenset({"ReplicaSet", "StatefulSet", "DaemonSet", "Job"})

# Container fields the engine reads; the rest of a container spec (env, probes, resources,
# volume mounts) is dropped on arrival so 150,000 pods fit in memory.
_CONTAINER_FIELDS = ("name", "ports", "restartPolicy")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
_KEEP_MANAGED_FIELDS = frozenset({"PeerAuthentication"})


@dataclass(frozen=True)
class ClusterRead:
    """Everything one sync read from the cluster, ready for the engine."""

    objects: list[dict]
    cluster_name: str
    cluster_server: str
    root_namespace: str
    istio_installed: bool
    istio_versions: dict[str, str]  # {"PeerAuthentication": "security.istio.io/v1", ...}
    object_counts: dict[str, int]
    list_resource_versions: dict[str, str]  # kind -> the list's resourceVersion
    fingerprint: str  # sha256 over every object's kind/namespace/name/resourceVersion
    api_seconds: float

    @property
    def source_resource_version(self) -> str:
        """The newest list resourceVersion seen (etcd revisions are comparable integers)."""
        numeric = [int(rv) for rv in self.list_resource_versions.values() if rv.isdigit()]
        return str(max(numeric)) if numeric else ""


def _shared_strings(mapping: dict | None, strings: dict[str, str]) -> None:
    """Make equal label and annotation values one object: 150,000 pods repeat a few."""
    if mapping:
        for key, value in mapping.items():
            if isinstance(value, str):
                mapping[key] = strings.setdefault(value, value)


def _trim(obj: dict, strings: dict[str, str]) -> dict:
    """Drop the bulky parts of an object the engine never reads (managedFields, env...).

    A PeerAuthentication keeps its managedFields: who manages its mode is read from them
    at sync (policies.ownership), and there are few of them."""
    metadata = obj.get("metadata") or {}
    if obj.get("kind") not in _KEEP_MANAGED_FIELDS:
        metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations:
        for key in _DROPPED_ANNOTATIONS:
            annotations.pop(key, None)
    _shared_strings(metadata.get("labels"), strings)
    _shared_strings(annotations, strings)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    pod_spec = spec if obj.get("kind") == "Pod" else None
    if pod_spec is None:
        template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template")
        if isinstance(template, dict):
            template_metadata = template.get("metadata") or {}
            if template_metadata.get("annotations"):
                for key in _DROPPED_ANNOTATIONS:
                    template_metadata["annotations"].pop(key, None)
            pod_spec = template.get("spec")
    if isinstance(pod_spec, dict):
        for containers_key in ("containers", "initContainers"):
            containers = pod_spec.get(containers_key)
            if containers:
                pod_spec[containers_key] = [
                    {key: c[key] for key in _CONTAINER_FIELDS if key in c} for c in containers
                ]
        pod_spec.pop("volumes", None)
    if obj.get("kind") == "Pod" and isinstance(obj.get("status"), dict):
        obj["status"] = {"phase": obj["status"].get("phase", "")}
    return obj


def _page_items(page: dict) -> list[dict]:
    """A list's items; for a Table of object metadata, objects holding only their metadata."""
    if page.get("kind") == "Table":
        return [
            {"metadata": (row.get("object") or {}).get("metadata") or {}}
            for row in page.get("rows") or []
        ]
    return page.get("items") or []


def _paged(
    operation: str, list_page: Callable[..., dict], *, page_size: int
) -> Iterator[tuple[list[dict], str]]:
    """Yield (items, list resourceVersion) page by page, restarting on an expired token."""
    for restart in range(LIST_RESTARTS + 1):
        continue_token = None
        try:
            while True:
                page = _call(operation, list_page, limit=page_size, _continue=continue_token)
                metadata = page.get("metadata") or {}
                yield _page_items(page), metadata.get("resourceVersion", "")
                continue_token = metadata.get("continue")
                if not continue_token:
                    return
        except Expired:
            if restart == LIST_RESTARTS:
                raise
            # The consistent snapshot our token pointed into is gone: start the list again.
            yield [], "__restart__"


def _list_all(
    operation: str,
    kind: str,
    api_version: str,
    list_page: Callable,
    strings: dict[str, str] | None = None,
) -> tuple:
    strings = {} if strings is None else strings
    items: list[dict] = []
    list_resource_version = ""
    for page_items, resource_version in _paged(
        operation, list_page, page_size=settings.MESHUI_KUBE_PAGE_SIZE
    ):
        if resource_version == "__restart__":
            items = []
            continue
        list_resource_version = resource_version or list_resource_version
        for item in page_items:
            # List items arrive without kind/apiVersion; the engine needs them.
            item["kind"] = kind
            item["apiVersion"] = api_version
            try:
                items.append(_trim(item, strings))
            except (AttributeError, TypeError):
                # Fields of unexpected types (an API server with validation off can hold
                # them): pass the object on whole; the engine reads what it can of it.
                items.append(item)
    return items, list_resource_version


def _metadata_only_pods(pods: list[dict]) -> set[str]:
    """Namespaces holding pods listed by metadata only whose owner the engine cannot fold."""
    namespaces = set()
    for pod in pods:
        if "spec" in pod:
            continue  # the server sent whole objects
        metadata = pod["metadata"]
        owner = next(
            (ref for ref in metadata.get("ownerReferences") or [] if ref.get("controller")), None
        )
        if owner is None or owner.get("kind") not in FOLDING_OWNERS:
            namespaces.add(metadata.get("namespace", ""))
    return namespaces


def _list_pods(client: k8s.ApiClient, strings: dict[str, str]) -> tuple[list[dict], str]:
    """Every pod: by metadata where a controller owns it, in full where it stands alone."""
    core = k8s.CoreV1Api(client)

    def metadata_page(**kwargs):
        return core.list_pod_for_all_namespaces(
            _headers={"Accept": METADATA_TABLE_ACCEPT}, **kwargs
        )

    pods, list_version = _list_all("listing Pods", "Pod", "v1", metadata_page, strings)
    for namespace in sorted(_metadata_only_pods(pods)):

        def namespace_page(_namespace=namespace, **kwargs):
            return core.list_namespaced_pod(_namespace, **kwargs)

        full, _ = _list_all(f"listing Pods in {namespace}", "Pod", "v1", namespace_page, strings)
        pods = [pod for pod in pods if pod["metadata"].get("namespace") != namespace] + full
    return pods, list_version


def istio_api_versions(client: k8s.ApiClient | None = None) -> dict[str, str]:
    """The preferred served apiVersion of each Istio kind meshui reads; absent = not served."""
    client = client or api_client()
    groups = _call("discovering API groups", k8s.ApisApi(client).get_api_versions)
    served = {
        group.get("name"): {version.get("version") for version in group.get("versions") or []}
        for group in groups.get("groups") or []
    }
    found = {}
    for kind, (group, preferences, _plural) in ISTIO_VERSIONS.items():
        for version in preferences:
            if version in served.get(group, set()):
                found[kind] = f"{group}/{version}"
                break
    return found


def root_namespace(client: k8s.ApiClient | None = None) -> str:
    """The mesh root namespace: the `istio` ConfigMap's rootNamespace, else the setting."""
    client = client or api_client()
    fallback = settings.MESHUI_ROOT_NAMESPACE or DEFAULT_ROOT_NAMESPACE
    try:
        config_map = _call(
            "reading the istio ConfigMap",
            k8s.CoreV1Api(client).read_namespaced_config_map,
            "istio",
            fallback,
        )
    except (NotFound, Forbidden):
        return fallback
    try:
        mesh_config = yaml.safe_load((config_map.get("data") or {}).get("mesh") or "") or {}
    except yaml.YAMLError:
        return fallback
    configured = mesh_config.get("rootNamespace") if isinstance(mesh_config, dict) else None
    return configured if isinstance(configured, str) and configured else fallback


def cluster_read_all(*, kubeconfig: str | None = None, context: str | None = None) -> ClusterRead:
    """Read everything the engine needs from the cluster, once, paged, as raw dicts."""
    with gc_paused():  # 150,000 pods arriving would trigger a full-heap GC pass per page
        return _read_all(kubeconfig=kubeconfig, context=context)


def _read_all(*, kubeconfig: str | None, context: str | None) -> ClusterRead:
    started = time.monotonic()
    client, cluster_name = _client_and_name(kubeconfig=kubeconfig, context=context)
    objects: list[dict] = []
    counts: dict[str, int] = {}
    list_versions: dict[str, str] = {}

    istio_versions = istio_api_versions(client)
    root = root_namespace(client)

    strings: dict[str, str] = {}
    apis = {name: getattr(k8s, name)(client) for name in {entry[2] for entry in CORE_LISTS}}
    # Pods are most of the bytes: they are listed on a second connection while the other
    # kinds are read, so the API server prepares one list's page while we parse the other's.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshui-pods") as pool:
        pods = pool.submit(_list_pods, client, {})
        for kind, api_version, api_name, method_name in CORE_LISTS:
            if kind == "Pod":
                continue
            items, list_version = _list_all(
                f"listing {kind}s",
                kind,
                api_version,
                getattr(apis[api_name], method_name),
                strings,
            )
            objects.extend(items)
            counts[kind] = len(items)
            list_versions[kind] = list_version
        items, list_versions["Pod"] = pods.result()
        objects.extend(items)
        counts["Pod"] = len(items)

    custom = k8s.CustomObjectsApi(client)
    for kind, (group, _preferences, plural) in ISTIO_VERSIONS.items():
        api_version = istio_versions.get(kind)
        if api_version is None:
            counts[kind] = 0
            continue
        version = api_version.split("/", 1)[1]

        def list_page(_group=group, _version=version, _plural=plural, **kwargs):
            return custom.list_cluster_custom_object(_group, _version, _plural, **kwargs)

        try:
            items, list_version = _list_all(
                f"listing {kind}s", kind, api_version, list_page, strings
            )
        except NotFound as error:
            # Discovery said it is served, the list says it is not: the CRD is being removed
            # or reinstalled. A snapshot without these policies would be a false posture, so
            # fail this sync; the next one rediscovers.
            raise NotFound(
                f"{error.message} (the {kind} CRD {api_version} was served a moment ago; "
                "Istio may be being removed or upgraded)",
                status=error.status,
                reason=error.reason,
                operation=error.operation,
            ) from error
        objects.extend(items)
        counts[kind] = len(items)
        list_versions[kind] = list_version

    return ClusterRead(
        objects=objects,
        cluster_name=cluster_name,
        cluster_server=client.configuration.host,
        root_namespace=root,
        istio_installed="PeerAuthentication" in istio_versions,
        istio_versions=istio_versions,
        object_counts=counts,
        list_resource_versions=list_versions,
        fingerprint=objects_fingerprint(objects, root_namespace=root, extra=istio_versions),
        api_seconds=time.monotonic() - started,
    )


def objects_fingerprint(objects: list[dict], *, root_namespace: str, extra: dict) -> str:
    """A digest that changes when any object changes: resourceVersions, not contents."""
    digest = hashlib.sha256()
    digest.update(root_namespace.encode())
    digest.update(json.dumps(extra, sort_keys=True).encode())
    keys = sorted(
        "{}\0{}\0{}\0{}".format(
            obj.get("kind", ""),
            (obj.get("metadata") or {}).get("namespace", ""),
            (obj.get("metadata") or {}).get("name", ""),
            (obj.get("metadata") or {}).get("resourceVersion", ""),
        )
        for obj in objects
    )
    for key in keys:
        digest.update(key.encode())
        digest.update(b"\n")
    return digest.hexdigest()


# --- The objects meshui changes (PeerAuthentication and DestinationRule only) --------------


def _writable(kind: str, client: k8s.ApiClient, api_version: str | None = None) -> tuple:
    if kind not in ISTIO_VERSIONS:
        raise Invalid(
            f"meshui only changes PeerAuthentications and DestinationRules, not {kind or '?'}."
        )
    group, _preferences, plural = ISTIO_VERSIONS[kind]
    if api_version:
        if "/" not in api_version or api_version.split("/", 1)[0] != group:
            raise Invalid(f'apiVersion "{api_version}" is not a {group} version for {kind}.')
        return group, api_version.split("/", 1)[1], plural
    served = istio_api_versions(client).get(kind)
    if served is None:
        raise IstioNotInstalled(
            f"This cluster does not serve {kind} ({group}): is Istio installed?",
            operation=f"looking up {kind}",
        )
    return group, served.split("/", 1)[1], plural


def objects_list(kind: str, namespace: str) -> list[dict]:
    """Every object of an Istio `kind` in one namespace, as the cluster has them now."""
    client = api_client()
    group, version, plural = _writable(kind, client)
    page = _call(
        f"listing {kind}s in {namespace}",
        k8s.CustomObjectsApi(client).list_namespaced_custom_object,
        group,
        version,
        namespace,
        plural,
    )
    return [
        {**item, "kind": kind, "apiVersion": f"{group}/{version}"} for item in _page_items(page)
    ]


def object_get(kind: str, namespace: str, name: str) -> dict:
    """The object as the cluster has it now (raw dict); NotFound if it does not exist."""
    client = api_client()
    group, version, plural = _writable(kind, client)
    return _call(
        f"reading {kind} {namespace}/{name}",
        k8s.CustomObjectsApi(client).get_namespaced_custom_object,
        group,
        version,
        namespace,
        plural,
        name,
    )
