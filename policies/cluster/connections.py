"""Which cluster a gateway call talks to: the configured one, or a connection made active.

A fleet has many clusters; every read and write of the gateway goes to one of them. Callers
that mean a registered cluster wrap their work in `connection_active(connection)`; everything
else (and every call made before fleets existed) reaches the configured cluster
(MESHUI_KUBECONFIG, else the pod's service account, else the default kubeconfig). A context
variable carries the choice, so a Celery worker's threads and the web's requests never see
each other's cluster.

Credentials come from one of three places, as Istio and kubectl users already hold them:

- a kubeconfig file and context (mounted, like MESHUI_KUBECONFIG);
- a service-account token file and CA file mounted from a Secret (the least-privilege way to
  read a remote cluster, deploy/remote-reader.yaml), with the API server's URL;
- an Istio remote secret (`istioctl create-remote-secret`) already in the cluster meshui
  runs in: a Secret labelled `istio/multiCluster: "true"` whose data key is the remote
  cluster's name and whose value is a kubeconfig. It is read through the configured cluster.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import yaml

from policies.cluster.errors import ClusterError
from policies.cluster_sources import SOURCE_REMOTE_SECRET, SOURCE_TOKEN

# istioctl create-remote-secret writes this label on the Secret it makes.
ISTIO_REMOTE_SECRET_LABEL = "istio/multiCluster"  # noqa: S105 (a label key)


@dataclass(frozen=True)
class ClusterConnection:
    """How to reach one registered cluster. Never holds a secret itself: only where it is."""

    name: str
    source: str
    kubeconfig: str = ""  # SOURCE_KUBECONFIG: a file path
    context: str = ""  # SOURCE_KUBECONFIG: a context in it ("" = its current context)
    server: str = ""  # SOURCE_TOKEN: the API server's URL
    token_file: str = ""  # SOURCE_TOKEN: a mounted service-account token
    ca_file: str = ""  # SOURCE_TOKEN: the API server's CA bundle ("" = the system's)
    secret_namespace: str = ""  # SOURCE_REMOTE_SECRET
    secret_name: str = ""  # SOURCE_REMOTE_SECRET
    secret_key: str = ""  # SOURCE_REMOTE_SECRET: the data key ("" = the cluster's name)

    @property
    def key(self) -> tuple:
        """What a cached client is filed under: any change of credentials is a new client."""
        return ("connection", *(getattr(self, field) for field in self.__dataclass_fields__))

    @property
    def where(self) -> str:
        """Where its credentials come from, in words, for pages and commands."""
        if self.source == SOURCE_TOKEN:
            return f"token {self.token_file} for {self.server}"
        if self.source == SOURCE_REMOTE_SECRET:
            return f"Istio remote secret {self.secret_namespace}/{self.secret_name}"
        return f"kubeconfig {self.kubeconfig}" + (
            f" context {self.context}" if self.context else ""
        )


_active: ContextVar[ClusterConnection | None] = ContextVar("meshui_cluster", default=None)


@contextlib.contextmanager
def connection_active(connection: ClusterConnection | None) -> Iterator[None]:
    """Send every gateway call inside the block to `connection` (None: the configured cluster)."""
    token = _active.set(connection)
    try:
        yield
    finally:
        _active.reset(token)


def connection_current() -> ClusterConnection | None:
    """The connection gateway calls use now; None means the configured cluster."""
    return _active.get()


def remote_secret_kubeconfig(secret: dict, *, key: str) -> dict:
    """The kubeconfig an Istio remote secret holds under `key`, parsed; ClusterError if none."""
    metadata = secret.get("metadata") or {}
    where = f"Secret {metadata.get('namespace', '?')}/{metadata.get('name', '?')}"
    data = secret.get("data") or {}
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise ClusterError(
            f'The {where} has no key "{key}" (it has: {keys}); an Istio remote secret '
            "keeps each cluster's kubeconfig under the cluster's name.",
            operation="reading the Istio remote secret",
        )
    try:
        config = yaml.safe_load(base64.b64decode(data[key]).decode())
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ClusterError(
            f'The {where} key "{key}" is not a kubeconfig: {error}',
            operation="reading the Istio remote secret",
        ) from error
    if not isinstance(config, dict) or not config.get("clusters"):
        raise ClusterError(
            f'The {where} key "{key}" is not a kubeconfig (no clusters in it).',
            operation="reading the Istio remote secret",
        )
    return config
