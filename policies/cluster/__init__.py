"""The gateway to the Kubernetes API: the only package that imports the `kubernetes` client.

Reads come back as raw API dicts (camelCase, as `kubectl get -o json` prints them): every
call asks for the raw body (`_preload_content=False`) and parses the JSON itself, which skips
the client's typed models (slow, snake_case) entirely. Every call carries a timeout. Errors
leave this package as meshui's own (errors.py), raised `from` the client's.

    client.py   the client, built once (in-cluster config, else kubeconfig), and `_call`
    connections.py  which cluster of a fleet the calls go to (connection_active)
    errors.py   NotFound, Conflict, Forbidden, Invalid, ... and the ApiException translation
    reads.py    discovery, the root namespace, paged lists, single gets
    watch.py    has anything changed since the last lists? (the no-change check)
    probe.py    a cluster's version (the registration check), Istio remote secrets
    writes.py   server-side apply and delete

Callers use the package: `from policies import cluster; cluster.object_get(...)`.
"""

from policies.cluster.client import (
    api_client,
    cluster_describe,
    forget_client,
    forget_clients,
    in_cluster,
)
from policies.cluster.connections import (
    ISTIO_REMOTE_SECRET_LABEL,
    ClusterConnection,
    connection_active,
    connection_current,
)
from policies.cluster.errors import (
    ClusterError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    IstioNotInstalled,
    NotFound,
    OutcomeUnknown,
    Unauthorized,
    Unavailable,
)
from policies.cluster.probe import istio_remote_secrets, server_version
from policies.cluster.reads import (
    CORE_LISTS,
    DEFAULT_ROOT_NAMESPACE,
    FOLDING_OWNERS,
    ISTIO_VERSIONS,
    LIST_RESTARTS,
    METADATA_TABLE_ACCEPT,
    ClusterRead,
    cluster_read_all,
    istio_api_versions,
    object_get,
    objects_fingerprint,
    objects_list,
    root_namespace,
)
from policies.cluster.watch import WatchCheck, cluster_watch_changes
from policies.cluster.writes import (
    APPLY_PATCH_CONTENT_TYPE,
    FIELD_MANAGER,
    object_apply,
    object_delete,
)

__all__ = [
    "APPLY_PATCH_CONTENT_TYPE",
    "ISTIO_REMOTE_SECRET_LABEL",
    "ClusterConnection",
    "connection_active",
    "connection_current",
    "forget_client",
    "CORE_LISTS",
    "DEFAULT_ROOT_NAMESPACE",
    "FIELD_MANAGER",
    "FOLDING_OWNERS",
    "ISTIO_VERSIONS",
    "LIST_RESTARTS",
    "METADATA_TABLE_ACCEPT",
    "ClusterError",
    "ClusterRead",
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "IstioNotInstalled",
    "OutcomeUnknown",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "WatchCheck",
    "api_client",
    "cluster_describe",
    "cluster_read_all",
    "cluster_watch_changes",
    "forget_clients",
    "in_cluster",
    "istio_api_versions",
    "object_apply",
    "object_delete",
    "object_get",
    "objects_list",
    "objects_fingerprint",
    "root_namespace",
    "istio_remote_secrets",
    "server_version",
]
