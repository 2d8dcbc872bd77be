"""Has anything changed since the last sync? Watching every kind it read, from its list.

When nothing changed a sync records a cheap no-change run instead of reading everything: one
short watch per kind, all at once, from the resourceVersion of the last sync's list, tells.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
from kubernetes import client as k8s
from kubernetes.watch.watch import iter_resp_lines

from policies.cluster.client import _client_and_name, _timeout
from policies.cluster.errors import _TRANSPORT_ERRORS, _domain_error
from policies.cluster.reads import CORE_LISTS, ISTIO_VERSIONS, istio_api_versions, root_namespace


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
