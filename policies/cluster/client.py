"""The Kubernetes client, built once per kubeconfig and context, and the one way to call it.

An explicit MESHUI_KUBECONFIG wins; else the pod's service account when running in a cluster;
else the default kubeconfig. Inside `connection_active(...)` the registered cluster named
there is used instead (connections.py). `_call` asks for the raw JSON body with a timeout and
turns every failure into meshui's own error (errors.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import orjson
import urllib3
import yaml
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from policies.cluster.connections import (
    ClusterConnection,
    connection_active,
    connection_current,
    remote_secret_kubeconfig,
)
from policies.cluster.errors import _TRANSPORT_ERRORS, ClusterError, _domain_error
from policies.cluster_sources import SOURCE_REMOTE_SECRET, SOURCE_TOKEN, credential_path_problem

_clients: dict[tuple, tuple[k8s.ApiClient, str]] = {}
# Re-entrant: building a client from an Istio remote secret reads the secret through the
# configured cluster's client, built (once) under the same lock.
_clients_lock = threading.RLock()


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
    connection = connection_current() if kubeconfig is None and context is None else None
    if connection is not None:
        with _clients_lock:
            if connection.key not in _clients:
                _clients[connection.key] = _build_connection_client(connection)
            return _clients[connection.key]
    key = _client_key(kubeconfig, context)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _build_client(*key)
        return _clients[key]


def _build_connection_client(connection: ClusterConnection) -> tuple[k8s.ApiClient, str]:
    operation = f"connecting to cluster {connection.name}"
    for path in (connection.kubeconfig, connection.token_file, connection.ca_file):
        # Registration refuses these already; a row from before the directories narrowed
        # must not be used either.
        # A missing file is said below, in the words of each source.
        problem = (
            path
            and Path(path).exists()
            and credential_path_problem(path, settings.MESHUI_CLUSTER_CREDENTIAL_DIRS)
        )
        if problem:
            raise ClusterError(problem, operation=operation)
    if connection.source == SOURCE_TOKEN:
        configuration = k8s.Configuration()
        configuration.host = connection.server
        token_path = Path(connection.token_file)
        if not token_path.is_file():
            raise ClusterError(
                f"The token file {connection.token_file} does not exist "
                "(mount the remote cluster's service-account token there).",
                operation=operation,
            )
        if connection.ca_file and not Path(connection.ca_file).is_file():
            raise ClusterError(
                f"The CA file {connection.ca_file} does not exist.", operation=operation
            )
        configuration.ssl_ca_cert = connection.ca_file or None

        def bearer_token(config: k8s.Configuration) -> None:
            # Projected tokens rotate: read the file again before each request.
            config.api_key["authorization"] = "Bearer " + token_path.read_text().strip()

        configuration.refresh_api_key_hook = bearer_token
        bearer_token(configuration)
        return _finish_client(configuration), connection.name
    if connection.source == SOURCE_REMOTE_SECRET:
        with connection_active(None):
            configured, _name = _client_and_name()
            secret = _call(
                f"reading the Istio remote secret {connection.secret_namespace}/"
                f"{connection.secret_name}",
                k8s.CoreV1Api(configured).read_namespaced_secret,
                connection.secret_name,
                connection.secret_namespace,
            )
        config_dict = remote_secret_kubeconfig(secret, key=connection.secret_key or connection.name)
        configuration = k8s.Configuration()
        try:
            k8s_config.load_kube_config_from_dict(
                config_dict, client_configuration=configuration, persist_config=False
            )
        except ConfigException as error:
            raise ClusterError(
                f"The Istio remote secret's kubeconfig is not usable: {error}",
                operation=operation,
            ) from error
        return _finish_client(configuration), connection.name
    client, _context_name = _build_client(connection.kubeconfig, connection.context)
    return client, connection.name


def forget_client(connection: ClusterConnection | None) -> None:
    """Drop one cached client (after a 401: the next call reads its credentials again)."""
    key = connection.key if connection is not None else _client_key(None, None)
    with _clients_lock:
        entry = _clients.pop(key, None)
    if entry is not None:
        entry[0].close()


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
    return _finish_client(configuration), settings.MESHUI_CLUSTER_NAME or name


def _finish_client(configuration: k8s.Configuration) -> k8s.ApiClient:
    # One quiet retry for a dropped connection on reads; Celery owns every other retry, so
    # errors surface quickly instead of hiding behind urllib3's default of three.
    configuration.retries = urllib3.Retry(
        total=1, connect=1, read=1, status=0, other=0, redirect=0, raise_on_status=False
    )
    # A no-change check holds one watch per kind open at once (11): room for all of them.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, 16)
    client = k8s.ApiClient(configuration)
    client.user_agent = "meshui/0.1"
    return client


def forget_clients() -> None:
    """Drop cached clients (after the kubeconfig changed, and between tests)."""
    with _clients_lock:
        for client, _name in _clients.values():
            client.close()
        _clients.clear()


def _timeout() -> tuple[float, float]:
    seconds = float(settings.MESHUI_KUBE_TIMEOUT_SECONDS)
    return (min(seconds, 10.0), seconds)


def _call(operation: str, method: Callable, *args, **kwargs) -> dict:
    """Call one client method for its raw JSON body, mapping every failure to our errors."""
    try:
        response = method(*args, _preload_content=False, _request_timeout=_timeout(), **kwargs)
        body = response.data
        return orjson.loads(body) if body else {}
    except _TRANSPORT_ERRORS as error:
        raise _domain_error(error, operation) from error


def cluster_describe() -> tuple[str, str]:
    """(cluster name, API server URL) of the cluster calls go to now, without calling it."""
    client, name = _client_and_name()
    return name, client.configuration.host
