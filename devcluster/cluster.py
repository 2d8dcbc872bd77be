"""`DevCluster`: the double as one object to start, seed, inspect, break and stop."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .faults import Fault
from .managed_fields import LAST_APPLIED
from .resources import ResourceType
from .server import DevClusterServer, RecordedRequest
from .state import SEED_MANAGER


def kubectl_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with the last-applied annotation a client-side `kubectl apply` of it writes:
    the object as applied (an empty annotations map included) as sorted compact JSON."""
    applied = json.loads(json.dumps(obj))
    metadata = applied.setdefault("metadata", {})
    annotations = metadata.setdefault("annotations", {})
    annotations.pop(LAST_APPLIED, None)
    for server_field in ("creationTimestamp", "resourceVersion", "uid", "managedFields"):
        metadata.pop(server_field, None)
    text = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
    annotated = json.loads(json.dumps(obj))
    annotated.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = text
    return annotated


def kubeconfig_text(url: str, token: str | None = None, *, name: str = "devcluster") -> str:
    """A kubeconfig (JSON is valid YAML) with one cluster, user and current context."""
    user: dict[str, Any] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": user}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}
        ],
        "current-context": name,
    }
    return json.dumps(config, indent=2) + "\n"


class DevCluster:
    """An in-memory Kubernetes API server on 127.0.0.1, started on construction."""

    def __init__(
        self,
        *,
        port: int = 0,
        crd_files: list[Path] | None = None,
        token: str | None = None,
        kubeconfig: Path | str | None = None,
        history_limit: int = 20000,
    ) -> None:
        self.server = DevClusterServer(
            port=port, crd_files=crd_files, token=token, history_limit=history_limit
        )
        self.token = token
        self.server.start()
        self._own_kubeconfig = kubeconfig is None
        if kubeconfig is None:
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the cluster
                "w", prefix="devcluster-", suffix=".kubeconfig", delete=False
            )
            handle.close()
            kubeconfig = handle.name
        self.kubeconfig = Path(kubeconfig)
        self.write_kubeconfig(self.kubeconfig)

    # -- connection ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def write_kubeconfig(self, path: Path | str) -> Path:
        path = Path(path)
        path.write_text(kubeconfig_text(self.url, self.token), encoding="utf-8")
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        self.server.stop()
        if self._own_kubeconfig:
            self.kubeconfig.unlink(missing_ok=True)

    def __enter__(self) -> DevCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state ----------------------------------------------------------------------------

    def reset(self, *, crd_files: list[Path] | None = None) -> None:
        """Fresh cluster: the four initial namespaces, no faults, an empty request log.

        `crd_files=[]` serves no CRDs (Istio not installed) until the next reset.
        """
        self.server.reset(crd_files)

    def seed(
        self,
        objects: Iterable[dict[str, Any]],
        *,
        validate: bool = True,
        create_namespaces: bool = True,
        manager: str = SEED_MANAGER,
        operation: str = "Update",
        time: str | None = None,
    ) -> list[dict[str, Any]]:
        """Store objects without HTTP; namespaces first, missing ones created.

        `metadata.creationTimestamp` is kept when given (so tests can pin ages), and so are
        `metadata.managedFields`; without them the objects are recorded as `manager`'s
        `operation` ("Update" as a create or `kubectl apply` makes, "Apply" as server-side
        apply makes) at `time`, e.g. `manager="kubectl-client-side-apply"` with
        `kubectl_last_applied(obj)` for what `kubectl apply` leaves behind.
        `validate=False` skips every check and copies only metadata: bulk seeding.
        """
        return self.server.state.seed(
            objects,
            validate=validate,
            create_namespaces=create_namespaces,
            manager=manager,
            operation=operation,
            time=time,
        )

    def _resource(self, kind: str) -> ResourceType:
        for resource in self.server.registry.resources:
            if kind in (resource.kind, resource.plural, resource.qualified_plural):
                return resource
        raise KeyError(f"devcluster serves no resource called {kind!r}")

    def objects(
        self, kind: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored objects (storage version) in namespace/name order; every kind when None.

        `kind` is a Kind (`PeerAuthentication`) or a plural (`peerauthentications`).
        """
        resource = self._resource(kind) if kind else None
        return self.server.state.objects(resource, namespace)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One stored object, or None."""
        return self.server.state.stored(self._resource(kind), namespace, name)

    @property
    def resource_version(self) -> str:
        return str(self.server.state.resource_version)

    def compact(self) -> None:
        """Expire every continue token and watch position (like etcd compaction)."""
        self.server.state.compact()

    # -- faults and the request log -------------------------------------------------------

    def inject_fault(
        self,
        action: int | str,
        *,
        verb: str = "*",
        resource: str = "*",
        namespace: str | None = None,
        name: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int = 1,
        message: str | None = None,
    ) -> Fault:
        """The next `times` matching requests answer `action` (a status code, "slow", "drop").

        `verb` is a kube verb (get, list, watch, create, update, patch, delete,
        deletecollection) or "apply"; `resource` a plural such as "pods" or
        "peerauthentications" ("*" for any).
        """
        return self.server.faults.add(
            Fault(
                action,
                verb=verb,
                resource=resource,
                namespace=namespace,
                name=name,
                times=times,
                delay=delay,
                retry_after=retry_after,
                message=message,
            )
        )

    def clear_faults(self) -> None:
        self.server.faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """API requests as received, oldest first (hooks are not recorded)."""
        return list(self.server.request_log)

    def clear_requests(self) -> None:
        self.server.request_log.clear()
