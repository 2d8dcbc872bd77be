"""The gateway to the Kubernetes API: the only module that imports the `kubernetes` client.

Reads come back as raw API dicts (camelCase, as `kubectl get -o json` prints them): every
call asks for the raw body (`_preload_content=False`) and parses the JSON itself, which skips
the client's typed models (slow, snake_case) entirely. Every call carries a timeout. Errors
leave this module as meshui's own (policies/cluster_errors.py), raised `from` the client's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import urllib3
import yaml
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from policies.cluster_errors import (
    ClusterError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    IstioNotInstalled,
    NotFound,
    Unauthorized,
    Unavailable,
)
from policies.gc_pause import gc_paused

FIELD_MANAGER = "meshui"
APPLY_PATCH_CONTENT_TYPE = "application/apply-patch+yaml"
DEFAULT_ROOT_NAMESPACE = "istio-system"
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


# --- The client ------------------------------------------------------------------------------

_clients: dict[tuple, tuple[k8s.ApiClient, str]] = {}
_clients_lock = threading.Lock()


def in_cluster() -> bool:
    """True when running in a pod with a service account token (in-cluster config)."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()
    )


def _client_key(kubeconfig: str | None, context: str | None) -> tuple:
    kubeconfig = kubeconfig if kubeconfig is not None else settings.MESHUI_KUBECONFIG
    context = context if context is not None else settings.MESHUI_KUBE_CONTEXT
    return (kubeconfig or "", context or "")


def api_client(*, kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """The ApiClient for the configured cluster, built once per kubeconfig and context.

    An explicit MESHUI_KUBECONFIG wins; else the pod's service account when running in a
    cluster; else the default kubeconfig ($KUBECONFIG or ~/.kube/config).
    """
    return _client_and_name(kubeconfig=kubeconfig, context=context)[0]


def _client_and_name(
    *, kubeconfig: str | None = None, context: str | None = None
) -> tuple[k8s.ApiClient, str]:
    key = _client_key(kubeconfig, context)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _build_client(*key)
        return _clients[key]


def _build_client(kubeconfig: str, context: str) -> tuple[k8s.ApiClient, str]:
    configuration = k8s.Configuration()
    try:
        if kubeconfig or not in_cluster():
            config_file = kubeconfig or None
            if config_file and not Path(config_file).is_file():
                raise ClusterError(
                    f"The kubeconfig file {config_file} does not exist "
                    "(set MESHUI_KUBECONFIG to a readable kubeconfig).",
                    operation="connecting to the cluster",
                )
            contexts, current = k8s_config.list_kube_config_contexts(config_file=config_file)
            if context and context not in {entry["name"] for entry in contexts}:
                raise ClusterError(
                    f'The kubeconfig has no context named "{context}" '
                    f"(it has: {', '.join(sorted(entry['name'] for entry in contexts))}).",
                    operation="connecting to the cluster",
                )
            k8s_config.load_kube_config(
                config_file=config_file,
                context=context or None,
                client_configuration=configuration,
                persist_config=False,
            )
            name = context or (current or {}).get("name", "") or "kubeconfig"
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)
            name = "in-cluster"
    except ConfigException as error:
        raise ClusterError(
            f"No usable cluster configuration: {error}", operation="connecting to the cluster"
        ) from error
    except (OSError, yaml.YAMLError) as error:
        raise ClusterError(
            f"The kubeconfig could not be read: {error}", operation="connecting to the cluster"
        ) from error
    # One quiet retry for a dropped connection on reads; Celery owns every other retry, so
    # errors surface quickly instead of hiding behind urllib3's default of three.
    configuration.retries = urllib3.Retry(
        total=1, connect=1, read=1, status=0, other=0, redirect=0, raise_on_status=False
    )
    # A no-change check holds one watch per kind open at once (11): room for all of them.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, 16)
    client = k8s.ApiClient(configuration)
    client.user_agent = "meshui/0.1"
    return client, settings.MESHUI_CLUSTER_NAME or name


def forget_clients() -> None:
    """Drop cached clients (after the kubeconfig changed, and between tests)."""
    with _clients_lock:
        for client, _name in _clients.values():
            client.close()
        _clients.clear()


def _timeout() -> tuple[float, float]:
    seconds = float(settings.MESHUI_KUBE_TIMEOUT_SECONDS)
    return (min(seconds, 10.0), seconds)


# --- Errors ---------------------------------------------------------------------------------


def _status_body(error: ApiException) -> dict:
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(error: ApiException, status: dict) -> float | None:
    header = (error.headers or {}).get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    seconds = (status.get("details") or {}).get("retryAfterSeconds")
    return float(seconds) if isinstance(seconds, int | float) else None


def _domain_error(error: Exception, operation: str) -> ClusterError:
    """Translate a client or transport exception into meshui's own error."""
    if isinstance(error, ClusterError):
        return error
    if isinstance(error, ApiException):
        status = _status_body(error)
        message = status.get("message") or (error.body or "").strip() or error.reason or ""
        causes = list((status.get("details") or {}).get("causes") or [])
        code = error.status or 0
        kwargs = {
            "status": code,
            "reason": status.get("reason", ""),
            "causes": causes,
            "operation": operation,
        }
        if code == 0:
            return Unavailable(f"No answer from the API server: {message}", **kwargs)
        error_class = {
            401: Unauthorized,
            403: Forbidden,
            404: NotFound,
            409: Conflict,
            410: Expired,
            400: Invalid,
            422: Invalid,
        }.get(code)
        if error_class:
            return error_class(message or f"HTTP {code}", **kwargs)
        if code == 429:
            retry_after = _retry_after(error, status)
            wait = f" (asked to wait {retry_after:g} s)" if retry_after is not None else ""
            return Unavailable(
                f"The API server is rate limiting meshui: {message or 'Too Many Requests'}{wait}",
                retry_after=retry_after,
                **kwargs,
            )
        if code >= 500:
            return Unavailable(
                f"The API server failed (HTTP {code}): {message or error.reason}",
                retry_after=_retry_after(error, status),
                **kwargs,
            )
        return ClusterError(message or f"HTTP {code}", **kwargs)
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        return _domain_error(error.reason, operation)
    # NewConnectionError is a kind of urllib3 TimeoutError: test for it first.
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return Unavailable(f"Could not connect to the API server: {error}", operation=operation)
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        return Unavailable(
            "The API server did not answer within "
            f"{settings.MESHUI_KUBE_TIMEOUT_SECONDS} s (MESHUI_KUBE_TIMEOUT_SECONDS).",
            operation=operation,
        )
    if isinstance(
        error,
        urllib3.exceptions.ProtocolError | urllib3.exceptions.HTTPError | ConnectionError,
    ):
        return Unavailable(
            f"The connection to the API server was dropped: {error}", operation=operation
        )
    if isinstance(error, ValueError):  # a body that is not JSON
        return Unavailable(
            f"The API server sent an unreadable answer: {error}", operation=operation
        )
    return ClusterError(str(error), operation=operation)


_TRANSPORT_ERRORS = (
    ApiException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,
    orjson.JSONDecodeError,
)


def _call(operation: str, method: Callable, *args, **kwargs) -> dict:
    """Call one client method for its raw JSON body, mapping every failure to our errors."""
    try:
        response = method(*args, _preload_content=False, _request_timeout=_timeout(), **kwargs)
        body = response.data
        return orjson.loads(body) if body else {}
    except _TRANSPORT_ERRORS as error:
        raise _domain_error(error, operation) from error


# --- Reads ----------------------------------------------------------------------------------


def _shared_strings(mapping: dict | None, strings: dict[str, str]) -> None:
    """Make equal label and annotation values one object: 150,000 pods repeat a few."""
    if mapping:
        for key, value in mapping.items():
            if isinstance(value, str):
                mapping[key] = strings.setdefault(value, value)


def _trim(obj: dict, strings: dict[str, str]) -> dict:
    """Drop the bulky parts of an object the engine never reads (managedFields, env...)."""
    metadata = obj.get("metadata") or {}
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


# --- Has anything changed? (watching from the last lists) ---------------------------------


@dataclass(frozen=True)
class WatchCheck:
    """What watching every kind a sync reads, from its last list's resourceVersion, showed."""

    changed: dict[str, str]  # kind -> the first change seen ("MODIFIED shop/cart")
    unknown: dict[str, str]  # kind -> why it cannot be told (410 Gone, an error, no version)
    resource_versions: dict[str, str]  # kind -> where to watch from next time
    istio_versions: dict[str, str]
    root_namespace: str

    @property
    def unchanged(self) -> bool:
        """True only when every kind was watched and none changed."""
        return not self.changed and not self.unknown


_UNCHANGED, _CHANGED, _UNKNOWN = "unchanged", "changed", "unknown"


def cluster_watch_changes(
    since: dict[str, str],
    *,
    seconds: int,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> WatchCheck:
    """Watch each kind a sync reads from its list resourceVersion in `since`, all at once.

    Each watch lasts at most `seconds` (timeoutSeconds, with bookmarks allowed): the first
    BOOKMARK or silence means unchanged, any ADDED/MODIFIED/DELETED means changed, and 410
    Gone or any error means unknown. Discovery and the root namespace are read as a sync does.
    """
    client, _name = _client_and_name(kubeconfig=kubeconfig, context=context)
    istio_versions = istio_api_versions(client)
    root = root_namespace(client)
    watches: dict[str, Callable] = {}
    for kind, _api_version, api_name, method_name in CORE_LISTS:
        watches[kind] = getattr(getattr(k8s, api_name)(client), method_name)
    custom = k8s.CustomObjectsApi(client)
    for kind, (group, _preferences, plural) in ISTIO_VERSIONS.items():
        if kind in istio_versions:
            version = istio_versions[kind].split("/", 1)[1]

            def watch_custom(_group=group, _version=version, _plural=plural, **kwargs):
                return custom.list_cluster_custom_object(_group, _version, _plural, **kwargs)

            watches[kind] = watch_custom

    changed: dict[str, str] = {}
    unknown = {kind: "not listed by the last sync" for kind in watches if not since.get(kind)}
    unknown.update(
        {kind: "no longer served" for kind in since if kind not in watches and since[kind]}
    )
    resource_versions = dict(since)
    # One unknown kind already means a full read: then there is nothing to watch for.
    watched = {} if unknown else watches
    if watched:
        watch_group = _WatchGroup()
        with ThreadPoolExecutor(
            max_workers=len(watched), thread_name_prefix="meshui-watch"
        ) as pool:
            futures = {
                kind: pool.submit(_watch_kind, kind, method, since[kind], seconds, watch_group)
                for kind, method in watched.items()
            }
            for kind, future in futures.items():
                outcome, detail, resource_version = future.result()
                if outcome == _CHANGED:
                    changed[kind] = detail
                elif outcome == _UNKNOWN:
                    unknown[kind] = detail
                resource_versions[kind] = resource_version
    return WatchCheck(
        changed=changed,
        unknown=unknown,
        resource_versions={kind: rv for kind, rv in resource_versions.items() if kind in watches},
        istio_versions=istio_versions,
        root_namespace=root,
    )


class _WatchGroup:
    """The watches of one check: the first change ends them all, the answer is known."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._responses: list = []
        self.stopped = False

    def add(self, response) -> bool:
        """Track an open watch; False when the check is already decided (close it)."""
        with self._lock:
            if not self.stopped:
                self._responses.append(response)
            return not self.stopped

    def discard(self, response) -> None:
        with self._lock:
            if response in self._responses:
                self._responses.remove(response)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            # Shut down under the lock: a watch closing its response waits in discard().
            for response in self._responses:
                # Unblocks the read in the watching thread; a quiet kind would else hold
                # the sync until its timeoutSeconds for an answer nobody needs any more.
                with contextlib.suppress(ValueError, RuntimeError, OSError):
                    response.shutdown()
            self._responses = []


_STOPPED = "not watched to the end: another kind changed"


def _watch_kind(
    kind: str, list_method: Callable, resource_version: str, seconds: int, group: _WatchGroup
) -> tuple[str, str, str]:
    """(outcome, detail, resourceVersion to watch from next) for one kind's watch."""
    outcome = _watch_one(kind, list_method, resource_version, seconds, group)
    if outcome[0] != _UNCHANGED:
        group.stop()
    return outcome


def _watch_one(
    kind: str, list_method: Callable, resource_version: str, seconds: int, group: _WatchGroup
) -> tuple[str, str, str]:
    operation = f"watching {kind}s"
    if group.stopped:
        return _UNKNOWN, _STOPPED, resource_version
    connect, read = _timeout()
    try:
        response = list_method(
            watch=True,
            resource_version=resource_version,
            timeout_seconds=seconds,
            allow_watch_bookmarks=True,
            _preload_content=False,
            # The server ends the watch at timeoutSeconds; the read timeout covers a server
            # that goes quiet and never does.
            _request_timeout=(connect, seconds + read),
        )
    except _TRANSPORT_ERRORS as error:
        return _UNKNOWN, _domain_error(error, operation).summary, resource_version
    # A server that keeps the stream open past timeoutSeconds is not allowed to hold us.
    deadline = time.monotonic() + seconds + read
    try:
        if not group.add(response):
            return _UNKNOWN, _STOPPED, resource_version
        for line in iter_resp_lines(response):
            if not line:
                continue
            event = orjson.loads(line)
            event_type = event.get("type")
            obj = event.get("object") or {}
            metadata = obj.get("metadata") or {}
            if event_type == "BOOKMARK":
                # Every event up to the bookmark has been sent and none was a change: that
                # answers the question, and the next watch may start from here.
                return _UNCHANGED, "", metadata.get("resourceVersion") or resource_version
            if event_type in ("ADDED", "MODIFIED", "DELETED"):
                where = "/".join(
                    part for part in (metadata.get("namespace"), metadata.get("name")) if part
                )
                return _CHANGED, f"{event_type} {where}".strip(), resource_version
            if event_type == "ERROR":
                # In-stream Status: 410 Gone when the resourceVersion was compacted away.
                code = obj.get("code")
                message = obj.get("message") or obj.get("reason") or "an error"
                return _UNKNOWN, f"HTTP {code}: {message}" if code else message, resource_version
            if time.monotonic() > deadline:
                break
    except _TRANSPORT_ERRORS as error:
        if group.stopped:
            return _UNKNOWN, _STOPPED, resource_version
        return _UNKNOWN, _domain_error(error, operation).summary, resource_version
    finally:
        group.discard(response)
        response.close()
        response.release_conn()
    if group.stopped:
        return _UNKNOWN, _STOPPED, resource_version
    # The server ended the watch at timeoutSeconds without a bookmark: nothing changed, but
    # the next watch must start from the same place.
    return _UNCHANGED, "", resource_version


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


def cluster_describe() -> tuple[str, str]:
    """(cluster name, API server URL) of the configured cluster, without calling it."""
    client, name = _client_and_name()
    return name, client.configuration.host


# --- Writes (PeerAuthentication and DestinationRule only) -----------------------------------


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


def object_apply(manifest: dict, *, dry_run: bool = False, force: bool = False) -> dict:
    """Server-side apply `manifest` as field manager "meshui"; returns the object as stored.

    With dry_run the cluster validates and admits it (CRD schema, CEL rules, webhooks) and
    returns the result without persisting. force takes over fields owned by other managers.
    """
    client = api_client()
    kind = manifest.get("kind", "")
    metadata = manifest.get("metadata") or {}
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    if not namespace or not name:
        raise Invalid(f"A {kind or 'manifest'} needs metadata.namespace and metadata.name.")
    group, version, plural = _writable(kind, client, manifest.get("apiVersion"))
    # _preload_content=False: an apply that creates answers 201, for which the generated
    # client has no response type and would return None instead of the object.
    return _call(
        f"{'checking' if dry_run else 'applying'} {kind} {namespace}/{name}",
        k8s.CustomObjectsApi(client).patch_namespaced_custom_object,
        group,
        version,
        namespace,
        plural,
        name,
        manifest,
        field_manager=FIELD_MANAGER,
        force=True if force else None,
        dry_run="All" if dry_run else None,
        _content_type=APPLY_PATCH_CONTENT_TYPE,
    )


def object_delete(
    kind: str, namespace: str, name: str, *, resource_version: str, dry_run: bool = False
) -> dict | None:
    """Delete the object if it is still at `resource_version`; already gone is success.

    A newer resourceVersion on the cluster raises Conflict: someone changed it since.
    """
    client = api_client()
    group, version, plural = _writable(kind, client)
    options = k8s.V1DeleteOptions(
        preconditions=k8s.V1Preconditions(resource_version=resource_version or None),
        dry_run=["All"] if dry_run else None,
    )
    try:
        return _call(
            f"{'checking the delete of' if dry_run else 'deleting'} {kind} {namespace}/{name}",
            k8s.CustomObjectsApi(client).delete_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            name,
            body=options,
            dry_run="All" if dry_run else None,
        )
    except NotFound:
        return None
