"""The lock that keeps two syncs of one cluster from overlapping, and the "sync again" flag.

One lock per cluster of the fleet: syncs of different clusters never wait for each other.

With REDIS_URL the lock lives in Redis (redis-py's `Lock`, with a timeout so a killed worker
cannot hold it forever) and works across workers and hosts. Without it, tasks run in this
process and a process-level lock does the same job.

A request that finds the lock taken does not queue behind it: it raises the "sync again"
flag, and whoever holds the lock runs once more after it finishes, so a change made while a
sync was reading is never lost and ten requests cost one extra sync, not ten.
"""

from __future__ import annotations

import threading
from typing import Protocol

import redis
from django.conf import settings

from policies.cluster.errors import Unavailable

# The lock outlives the task's hard time limit a little, never much: a worker killed at the
# limit leaves a lock that expires by itself shortly after.
LOCK_MARGIN_SECONDS = 30
LOCK_OPERATION = "taking the sync lock"


class SyncLock(Protocol):
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def request_rerun(self) -> None: ...
    def take_rerun(self) -> bool: ...


def _scope() -> str:
    return settings.MESHUI_CLUSTER_NAME or "default"


class RedisSyncLock:
    """A non-blocking Redis lock plus a rerun flag, both keyed by cluster."""

    def __init__(self, url: str, *, scope: str, timeout: float) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        prefix = f"{settings.MESHUI_REDIS_KEY_PREFIX}sync:{scope}"
        self._rerun_key = f"{prefix}:rerun"
        self._lock = self._redis.lock(f"{prefix}:lock", timeout=timeout, blocking=False)
        self._timeout = timeout

    def _unavailable(self, error: Exception) -> Unavailable:
        return Unavailable(
            f"Redis is unreachable, so the sync lock cannot be taken: {error}",
            operation=LOCK_OPERATION,
        )

    def acquire(self) -> bool:
        try:
            return bool(self._lock.acquire(blocking=False))
        except redis.RedisError as error:
            raise self._unavailable(error) from error

    def release(self) -> None:
        try:
            self._lock.release()
        except redis.exceptions.LockError:
            pass  # expired already (the sync outlived the lock); nothing to give back
        except redis.RedisError as error:
            raise self._unavailable(error) from error

    def request_rerun(self) -> None:
        try:
            self._redis.set(self._rerun_key, "1", ex=int(self._timeout))
        except redis.RedisError as error:
            raise self._unavailable(error) from error

    def take_rerun(self) -> bool:
        try:
            return self._redis.getdel(self._rerun_key) is not None
        except redis.RedisError as error:
            raise self._unavailable(error) from error


class ProcessSyncLock:
    """The same contract inside one process (the embedded default without Redis)."""

    _locks: dict[str, threading.Lock] = {}
    _reruns: set[str] = set()
    _guard = threading.Lock()

    def __init__(self, *, scope: str) -> None:
        self._scope = scope
        with self._guard:
            self._lock = self._locks.setdefault(scope, threading.Lock())
        self._held = False

    def acquire(self) -> bool:
        self._held = self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    def request_rerun(self) -> None:
        with self._guard:
            self._reruns.add(self._scope)

    def take_rerun(self) -> bool:
        with self._guard:
            if self._scope in self._reruns:
                self._reruns.discard(self._scope)
                return True
            return False


def sync_lock(*, timeout: float, cluster_id: int | None = None) -> SyncLock:
    """The sync lock of one cluster (a registered one by id; None: the configured one), in
    Redis when REDIS_URL is set. Each cluster has its own, so N workers sync N clusters."""
    scope = _scope() if cluster_id is None else f"cluster-{cluster_id}"
    if settings.REDIS_URL:
        return RedisSyncLock(settings.REDIS_URL, scope=scope, timeout=timeout + LOCK_MARGIN_SECONDS)
    return ProcessSyncLock(scope=scope)
