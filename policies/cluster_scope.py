"""Which cluster of the fleet "the current snapshot" means, for the code running now.

A fleet has one current snapshot per cluster. Rather than pass a cluster through every
selector, service and report, the request (policies.middleware_fleet), the sync task and the
change services say once which cluster they work on (`policies.selectors.fleet.fleet_scope`),
and `Snapshot.objects.current()` / `SyncRun.objects.in_scope()` read it from here. Outside
any scope it is the configured cluster (MESHUI_KUBECONFIG), which keeps every setup and
caller from before fleets working unchanged. A context variable, so threads and requests
never see each other's choice. Standard library only: models import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterScope:
    """One cluster: a registered one by id, or (None) the configured cluster."""

    cluster_id: int | None = None
    name: str = ""

    @property
    def is_configured(self) -> bool:
        return self.cluster_id is None


CONFIGURED = ClusterScope()

_scope: ContextVar[ClusterScope] = ContextVar("meshui_cluster_scope", default=CONFIGURED)


def cluster_scope_current() -> ClusterScope:
    """The cluster the code running now works on."""
    return _scope.get()


@contextlib.contextmanager
def cluster_scope_active(scope: ClusterScope) -> Iterator[ClusterScope]:
    """Work on `scope`'s cluster inside the block."""
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
