"""The store and the API semantics: CRUD, patch, apply, list snapshots and watch events.

One lock guards everything. Stored objects are never mutated once stored (every write
stores a new dict), so readers serialize them outside the lock and a list snapshot is
just a reference to an immutable sorted list.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import errors
from .managed_fields import LAST_APPLIED, Ownership
from .metadata import metadata_causes
from .patching import PatchError, json_patch, merge_patch
from .registry import Registry
from .resources import ResourceType
from .selectors import field_matcher, label_matcher

Key = tuple[str, str]  # namespace ("" when cluster-scoped), name
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Paged lists in flight at once; snapshots share the sorted list until a write replaces it.
SNAPSHOT_LIMIT = 32
SNAPSHOT_TTL_SECONDS = 300.0
# kube-apiserver bookmarks a watch that allows it this long before its timeoutSeconds.
BOOKMARK_LEAD = 2.0
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

PATCH_MERGE = "application/merge-patch+json"
PATCH_JSON = "application/json-patch+json"
PATCH_STRATEGIC = "application/strategic-merge-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
# The manager `kubectl apply --server-side` applies as; kube-apiserver treats it specially.
KUBECTL_SERVER_SIDE_MANAGER = "kubectl"
# Who seeded an object, unless the seed says otherwise.
SEED_MANAGER = "devcluster-seed"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    """The query parameters every write honours."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Ignore | Warn | Strict (kube's default for clients is Warn)
    force: bool = False


@dataclass
class Result:
    """What a successful operation answers: HTTP code, body, and `Warning` headers."""

    code: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Event:
    resource_version: int
    type: str
    resource_key: str
    obj: dict[str, Any]


@dataclass
class _Snapshot:
    resource_key: str
    resource_version: int
    items: list[tuple[Key, dict[str, Any]]]
    created: float


def served_as(obj: dict[str, Any], resource: ResourceType, version: str) -> dict[str, Any]:
    """The stored object as seen through `version` (only apiVersion differs between versions)."""
    api_version = resource.api_version(version)
    if obj.get("apiVersion") == api_version:
        return obj
    return {**obj, "apiVersion": api_version}


def _strip_system_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus what the server fills in, for "did this write change anything?"."""
    metadata = {
        k: v
        for k, v in obj.get("metadata", {}).items()
        if k not in ("resourceVersion", "managedFields", "generation")
    }
    return {**obj, "metadata": metadata}


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ClusterState:
    """Everything the API server knows, and the operations that change it."""

    def __init__(self, registry: Registry, *, history_limit: int = 20000) -> None:
        self.registry = registry
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.resource_version = 0
        self.history: deque[Event] = deque(maxlen=history_limit)
        self.compacted_rv = 0
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {}
        self._sorted: dict[str, list[tuple[Key, dict[str, Any]]]] = {}
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        self.closed = False
        self._waiting_watchers = 0
        self._create_initial_namespaces()

    # -- housekeeping -------------------------------------------------------------------

    def _create_initial_namespaces(self) -> None:
        namespaces = self.registry.by_key("/namespaces")
        with self.lock:
            for name in INITIAL_NAMESPACES:
                self._store_new(namespaces, self._namespace_object(name), creation_timestamp=None)

    @staticmethod
    def _namespace_object(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}

    def reset(self, registry: Registry | None = None) -> None:
        """Forget every object and snapshot; keep counting resourceVersions upwards."""
        with self.lock:
            if registry is not None:
                self.registry = registry
            self._objects.clear()
            self._sorted.clear()
            self._snapshots.clear()
            self.history.clear()
            self.compacted_rv = self.resource_version
            self._create_initial_namespaces()
            self.changed.notify_all()

    def compact(self) -> None:
        """Like etcd compaction: old watch positions and every continue token expire."""
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.resource_version
            self._snapshots.clear()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()

    def _bucket(self, resource: ResourceType) -> dict[Key, dict[str, Any]]:
        return self._objects.setdefault(resource.key, {})

    def _next_rv(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def _record(
        self, event_type: str, resource: ResourceType, obj: dict[str, Any], rv: int
    ) -> None:
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].resource_version
        self.history.append(Event(rv, event_type, resource.key, obj))
        self._sorted.pop(resource.key, None)
        if self._waiting_watchers:  # notifying nobody still costs; bulk seeds feel it
            self.changed.notify_all()

    def _put(self, resource: ResourceType, key: Key, obj: dict[str, Any], event_type: str) -> None:
        self._bucket(resource)[key] = obj
        self._record(event_type, resource, obj, int(obj["metadata"]["resourceVersion"]))

    def _remove(self, resource: ResourceType, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        rv = self._next_rv()
        del self._bucket(resource)[key]
        gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}
        self._record("DELETED", resource, gone, rv)
        return gone

    def _store_new(
        self,
        resource: ResourceType,
        obj: dict[str, Any],
        *,
        creation_timestamp: str | None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Fill the server's metadata and store; a dry run fills it and stores nothing."""
        metadata = obj["metadata"]
        metadata["uid"] = metadata.get("uid") or str(uuid.uuid4())
        metadata["creationTimestamp"] = creation_timestamp or now_rfc3339()
        if resource.has_generation:
            metadata["generation"] = 1
        else:
            metadata.pop("generation", None)
        if resource.key == "/namespaces":
            self._namespace_defaults(obj)
        if dry_run:
            return obj  # no resourceVersion consumed
        metadata["resourceVersion"] = str(self._next_rv())
        key = (metadata.get("namespace", ""), metadata["name"])
        self._put(resource, key, obj, "ADDED")
        return obj

    @staticmethod
    def _namespace_defaults(obj: dict[str, Any]) -> None:
        metadata = obj["metadata"]
        metadata.setdefault("labels", {})
        metadata["labels"] = {
            **metadata["labels"],
            "kubernetes.io/metadata.name": metadata["name"],
        }
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})

    # -- reads ----------------------------------------------------------------------------

    def get(self, resource: ResourceType, version: str, namespace: str, name: str) -> dict:
        with self.lock:
            obj = self._bucket(resource).get((namespace, name))
        if obj is None:
            raise errors.not_found(resource.plural, resource.group, name)
        return served_as(obj, resource, version)

    def stored(self, resource: ResourceType, namespace: str | None, name: str) -> dict | None:
        """The stored object (storage version) or None; a dict lookup, no listing."""
        key = (namespace or "" if resource.namespaced else "", name)
        with self.lock:
            return self._objects.get(resource.key, {}).get(key)

    def namespace_exists(self, name: str) -> bool:
        with self.lock:
            return ("", name) in self._objects.get("/namespaces", {})

    def objects(
        self, resource: ResourceType | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored objects (storage version), namespace/name order; all kinds when no resource."""
        with self.lock:
            buckets = (
                [(resource.key, self._bucket(resource))]
                if resource
                else sorted(self._objects.items())
            )
            result = []
            for _, bucket in buckets:
                for key in sorted(bucket):
                    if namespace is None or key[0] == namespace:
                        result.append(bucket[key])
        return result

    def _sorted_items(self, resource: ResourceType) -> list[tuple[Key, dict[str, Any]]]:
        items = self._sorted.get(resource.key)
        if items is None:
            items = sorted(self._bucket(resource).items())  # keys are unique: dicts never compared
            self._sorted[resource.key] = items
        return items

    def _remember_snapshot(self, snapshot: _Snapshot) -> str:
        snapshot_id = secrets.token_hex(6)
        self._snapshots[snapshot_id] = snapshot
        while len(self._snapshots) > SNAPSHOT_LIMIT:
            self._snapshots.popitem(last=False)
        return snapshot_id

    def _find_snapshot(self, snapshot_id: str) -> _Snapshot | None:
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot and time.monotonic() - snapshot.created > SNAPSHOT_TTL_SECONDS:
            del self._snapshots[snapshot_id]
            return None
        if snapshot:
            self._snapshots.move_to_end(snapshot_id)
        return snapshot

    def list(
        self,
        resource: ResourceType,
        version: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
        strip_type_meta: bool = True,
    ) -> dict[str, Any]:
        """One page of a list; later pages come from the first page's snapshot."""
        label_match = label_matcher(label_selector)
        field_match = field_matcher(field_selector, resource.kind)
        start_key: Key | None = None
        position = 0
        with self.lock:
            if continue_token:
                token = _decode_continue(continue_token)
                snapshot = self._find_snapshot(token.get("s", ""))
                if snapshot is None or snapshot.resource_key != resource.key:
                    fresh = self._remember_snapshot(
                        _Snapshot(
                            resource.key,
                            self.resource_version,
                            self._sorted_items(resource),
                            time.monotonic(),
                        )
                    )
                    resume = _encode_continue(
                        {"s": fresh, "k": token.get("k"), "rv": self.resource_version}
                    )
                    raise errors.expired(_INCONSISTENT_CONTINUE, continue_token=resume)
                snapshot_id = token["s"]
                last = token.get("k")
                if last is not None:
                    if not (isinstance(last, list) and len(last) == 2):
                        raise errors.bad_request("continue key is not valid: malformed position")
                    start_key = (str(last[0]), str(last[1]))
            else:
                snapshot = _Snapshot(
                    resource.key,
                    self.resource_version,
                    self._sorted_items(resource),
                    time.monotonic(),
                )
                snapshot_id = ""
        items = snapshot.items
        low, high = 0, len(items)
        if namespace:
            low = bisect.bisect_left(items, (namespace,), key=lambda item: item[0])
            high = bisect.bisect_left(items, (namespace + "\x00",), key=lambda item: item[0])
        position = low
        if start_key is not None:
            position = max(low, bisect.bisect_right(items, start_key, key=lambda item: item[0]))
        page: list[dict[str, Any]] = []
        last_key: Key | None = None  # the last key examined: the next page starts after it
        while position < high and (not limit or len(page) < limit):
            last_key, obj = items[position]
            position += 1
            if label_match and not label_match(obj):
                continue
            if field_match and not field_match(obj):
                continue
            page.append(obj)
        metadata: dict[str, Any] = {"resourceVersion": str(snapshot.resource_version)}
        if limit and position < high and last_key is not None:
            if not snapshot_id:
                with self.lock:
                    snapshot_id = self._remember_snapshot(snapshot)
            metadata["continue"] = _encode_continue(
                {"s": snapshot_id, "k": list(last_key), "rv": snapshot.resource_version}
            )
            if not label_match and not field_match:
                metadata["remainingItemCount"] = high - position
        api_version = resource.api_version(version)
        if resource.builtin and strip_type_meta:
            # kube-apiserver leaves kind/apiVersion off the items of built-in lists.
            rendered = [
                {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page
            ]
        else:
            rendered = [served_as(o, resource, version) for o in page]
        return {
            "apiVersion": api_version,
            "kind": resource.list_kind,
            "metadata": metadata,
            "items": rendered,
        }

    # -- watch ----------------------------------------------------------------------------

    def watch(
        self,
        resource: ResourceType,
        version: str,
        namespace: str | None,
        *,
        resource_version: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: float | None = None,
        stopped: Callable[[], bool] = lambda: False,
        bookmarks: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Watch events as dicts; the caller writes them out (never under the lock).

        Bad selectors or resourceVersions raise here, before the caller sends any header;
        the events themselves come lazily from the returned iterator.
        """
        label_match = label_matcher(label_selector)
        field_match = field_matcher(field_selector, resource.kind)

        def wanted(obj: dict[str, Any]) -> bool:
            metadata = obj["metadata"]
            if namespace and metadata.get("namespace") != namespace:
                return False
            if label_match and not label_match(obj):
                return False
            return not (field_match and not field_match(obj))

        deadline = time.monotonic() + timeout_seconds if timeout_seconds else None
        initial: list[dict[str, Any]] = []
        with self.lock:
            if resource_version in (None, "", "0"):
                position = self.resource_version
                initial = [obj for _, obj in self._sorted_items(resource) if wanted(obj)]
            else:
                try:
                    position = int(resource_version)
                except ValueError:
                    raise errors.bad_request(
                        "invalid resource version: strconv.ParseUint: parsing "
                        f'"{resource_version}": invalid syntax'
                    ) from None
        return self._events(
            resource, version, wanted, initial, position, deadline, stopped, bookmarks
        )

    def _events(
        self,
        resource: ResourceType,
        version: str,
        wanted: Callable[[dict[str, Any]], bool],
        initial: list[dict[str, Any]],
        position: int,
        deadline: float | None,
        stopped: Callable[[], bool],
        bookmarks: bool,
    ) -> Iterator[dict[str, Any]]:
        for obj in initial:
            yield {"type": "ADDED", "object": served_as(obj, resource, version)}
        # Like kube-apiserver's cacher: a bookmark 2 s before the timeout (when the watch is
        # longer than that), so a client learns it is up to date without waiting it out.
        bookmark_at = None
        if bookmarks and deadline is not None and deadline - time.monotonic() > BOOKMARK_LEAD:
            bookmark_at = deadline - BOOKMARK_LEAD
        while True:
            events: list[Event] = []
            expired_at = 0
            finished = False
            bookmark_due = False
            # Collect under the lock, write outside it: a slow client never blocks writers.
            with self.lock:
                while not events:
                    if self.closed or stopped():
                        return
                    if position < self.compacted_rv:
                        expired_at = self.compacted_rv
                        break
                    if self.history and self.history[-1].resource_version > position:
                        first = self.history[0].resource_version
                        start = max(0, position + 1 - first)
                        batch = [self.history[i] for i in range(start, len(self.history))]
                        position = self.history[-1].resource_version
                        events = [
                            e for e in batch if e.resource_key == resource.key and wanted(e.obj)
                        ]
                        continue
                    now = time.monotonic()
                    remaining = None if deadline is None else deadline - now
                    if remaining is not None and remaining <= 0:
                        finished = True
                        break
                    if bookmark_at is not None and now >= bookmark_at:
                        bookmark_due = True
                        break
                    wait = 1.0 if remaining is None else min(remaining, 1.0)
                    if bookmark_at is not None:
                        wait = min(wait, bookmark_at - now)
                    self._waiting_watchers += 1
                    try:
                        self.changed.wait(wait)
                    finally:
                        self._waiting_watchers -= 1
            if expired_at:
                yield _watch_error(
                    errors.expired(
                        f"too old resource version: {position} ({expired_at + 1})"
                    ).status()
                )
                return
            for event in events:
                yield {"type": event.type, "object": served_as(event.obj, resource, version)}
            bookmark = {
                "type": "BOOKMARK",
                "object": {
                    "kind": resource.kind,
                    "apiVersion": resource.api_version(version),
                    "metadata": {"resourceVersion": str(position)},
                },
            }
            if bookmark_due:
                bookmark_at = None
                yield bookmark
                continue
            if finished:
                if bookmarks:
                    yield bookmark
                return

    # -- writes ---------------------------------------------------------------------------

    def _check_namespace(self, resource: ResourceType, namespace: str) -> None:
        if resource.namespaced and not self.namespace_exists(namespace):
            raise errors.namespace_not_found(namespace)

    def _prepare(
        self,
        resource: ResourceType,
        version: str,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        options: WriteOptions,
    ) -> list[str]:
        """Prune, then validate metadata, schema and CEL rules; return Warning texts."""
        warnings = self._prune(resource, version, obj, options, apply=False)
        schema = self.registry.schema(resource, version)
        name = obj.get("metadata", {}).get("name", "")
        causes = metadata_causes(obj.get("metadata"), resource.name_rule)
        if schema is not None:
            causes.extend(schema.validate(obj, old))
        if causes:
            raise errors.invalid(resource.kind, resource.group, name, causes)
        return warnings

    def _prune(
        self,
        resource: ResourceType,
        version: str,
        obj: dict[str, Any],
        options: WriteOptions,
        *,
        apply: bool,
    ) -> list[str]:
        """Drop undeclared fields; Strict refuses them (400), Warn reports them, Ignore not."""
        schema = self.registry.schema(resource, version)
        unknown = schema.prune(obj) if schema is not None else []
        if unknown and options.field_validation == "Strict":
            # kube-apiserver's words differ between decoding a body and building an apply patch.
            if apply:
                fields = ", ".join(f".{u}: field not declared in schema" for u in unknown)
                raise errors.bad_request(
                    f"failed to create typed patch object ({resource.api_version(version)}, "
                    f"Kind={resource.kind}): {fields}"
                )
            fields = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise errors.bad_request(
                f'{resource.kind} in version "{version}" cannot be handled as a {resource.kind}: '
                f"strict decoding error: {fields}"
            )
        if options.field_validation == "Ignore":
            return []
        return [f'unknown field "{u}"' for u in unknown]

    @staticmethod
    def _check_url_name(obj: dict[str, Any], name: str) -> None:
        given_name = obj["metadata"].get("name")
        if given_name and given_name != name:
            raise errors.bad_request(
                f"the name of the object ({given_name}) does not match the name on the URL ({name})"
            )
        obj["metadata"]["name"] = name

    def _decode(self, resource: ResourceType, version: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {resource.kind}): "
                "couldn't get version/kind; json parse error"
            )
        expected = resource.api_version(version)
        api_version = body.get("apiVersion")
        kind = body.get("kind")
        if api_version and api_version != expected:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({expected})"
            )
        if kind and kind != resource.kind:
            raise errors.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {resource.kind}: '
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
            )
        obj = copy.deepcopy(body)
        obj["apiVersion"] = expected
        obj["kind"] = resource.kind
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        return obj

    @staticmethod
    def _check_url_namespace(resource: ResourceType, obj: dict[str, Any], namespace: str) -> None:
        metadata = obj["metadata"]
        if resource.namespaced:
            given = metadata.get("namespace")
            if given and given != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)

    def create(
        self,
        resource: ResourceType,
        version: str,
        namespace: str,
        body: Any,
        options: WriteOptions,
        *,
        manager: str = "",
    ) -> Result:
        obj = self._decode(resource, version, body)
        self._check_url_namespace(resource, obj, namespace)
        metadata = obj["metadata"]
        for system_field in ("resourceVersion", "uid", "deletionTimestamp", "managedFields"):
            metadata.pop(system_field, None)
        if not metadata.get("name") and metadata.get("generateName"):
            suffix = "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
            metadata["name"] = metadata["generateName"] + suffix
        if resource.status_subresource:
            obj.pop("status", None)
        warnings = self._prepare(resource, version, obj, None, options)
        with self.lock:
            self._check_namespace(resource, namespace)
            key = (metadata.get("namespace", ""), metadata["name"])
            if key in self._bucket(resource):
                raise errors.already_exists(resource.plural, resource.group, metadata["name"])
            now = now_rfc3339()
            ownership = Ownership(None)
            ownership.record_update(None, obj, manager, resource.api_version(version), now)
            _set_managed_fields(obj["metadata"], ownership)
            obj["apiVersion"] = resource.api_version()
            stored = self._store_new(resource, obj, creation_timestamp=now, dry_run=options.dry_run)
        return Result(201, served_as(stored, resource, version), warnings)

    def _finish_update(
        self,
        resource: ResourceType,
        version: str,
        old: dict[str, Any],
        new: dict[str, Any],
        options: WriteOptions,
        *,
        manager: str,
        ownership: Ownership | None = None,
        warnings: list[str] | None = None,
    ) -> Result:
        """Shared tail of PUT, PATCH and apply: system fields, generation, ownership, store."""
        warnings = list(warnings or [])
        old_meta = old["metadata"]
        metadata = new["metadata"]
        if metadata.get("uid") and metadata["uid"] != old_meta["uid"]:
            raise errors.invalid(
                resource.kind,
                resource.group,
                old_meta["name"],
                [
                    errors.cause(
                        "FieldValueInvalid",
                        "metadata.uid",
                        f'Invalid value: "{metadata["uid"]}": field is immutable',
                    )
                ],
            )
        for system_field in ("uid", "creationTimestamp", "deletionTimestamp", "namespace"):
            if system_field in old_meta:
                metadata[system_field] = old_meta[system_field]
            else:
                metadata.pop(system_field, None)
        metadata["name"] = old_meta["name"]
        if resource.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if resource.key == "/namespaces":
            self._namespace_defaults(new)
        warnings += self._prepare(
            resource, version, new, served_as(old, resource, version), options
        )
        now = now_rfc3339()
        if ownership is None:
            ownership = _update_ownership(old_meta, metadata.get("managedFields"))
            ownership.record_update(old, new, manager, resource.api_version(version), now)
        _set_managed_fields(metadata, ownership)
        if resource.has_generation:
            generation = old_meta.get("generation", 1)
            if _spec_part(new) != _spec_part(old):
                generation += 1
            metadata["generation"] = generation
        new["apiVersion"] = resource.api_version()
        metadata["resourceVersion"] = old_meta.get("resourceVersion", "")
        if _strip_system_metadata(new) == _strip_system_metadata(old) and (
            _field_sets(new) == _field_sets(old)
        ):
            # kube-apiserver skips no-op writes: same object, same resourceVersion.
            return Result(200, served_as(old, resource, version), warnings)
        if options.dry_run:
            return Result(200, served_as(new, resource, version), warnings)
        finalizing = old_meta.get("deletionTimestamp") and not metadata.get("finalizers")
        key = (old_meta.get("namespace", ""), old_meta["name"])
        if finalizing:
            gone = self._remove(resource, key, new)
            return Result(200, served_as(gone, resource, version), warnings)
        metadata["resourceVersion"] = str(self._next_rv())
        self._put(resource, key, new, "MODIFIED")
        return Result(200, served_as(new, resource, version), warnings)

    def _existing(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self._bucket(resource).get((namespace if resource.namespaced else "", name))
        if obj is None:
            raise errors.not_found(resource.plural, resource.group, name)
        return obj

    def update(
        self,
        resource: ResourceType,
        version: str,
        namespace: str,
        name: str,
        body: Any,
        options: WriteOptions,
        *,
        manager: str = "",
        subresource: str = "",
    ) -> Result:
        new = self._decode(resource, version, body)
        self._check_url_name(new, name)
        self._check_url_namespace(resource, new, namespace)
        given_rv = new["metadata"].get("resourceVersion")
        with self.lock:
            old = self._existing(resource, namespace, name)
            if not given_rv and not resource.builtin:
                raise errors.invalid(
                    resource.kind,
                    resource.group,
                    name,
                    [
                        errors.cause(
                            "FieldValueInvalid",
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
            if given_rv and given_rv != old["metadata"]["resourceVersion"]:
                raise errors.stale_update(resource.plural, resource.group, name)
            if subresource == "status":
                return self._finish_status(resource, version, old, new.get("status"), options)
            return self._finish_update(resource, version, old, new, options, manager=manager)

    def _finish_status(
        self,
        resource: ResourceType,
        version: str,
        old: dict[str, Any],
        status: Any,
        options: WriteOptions,
    ) -> Result:
        """A write to the status subresource: only `status` changes, generation stays."""
        new = {k: v for k, v in old.items() if k != "status"}
        if status is not None:
            new["status"] = status
        if new == old:
            return Result(200, served_as(old, resource, version))
        if options.dry_run:
            return Result(200, served_as(new, resource, version))
        new["metadata"] = {**new["metadata"], "resourceVersion": str(self._next_rv())}
        key = (old["metadata"].get("namespace", ""), old["metadata"]["name"])
        self._put(resource, key, new, "MODIFIED")
        return Result(200, served_as(new, resource, version))

    def patch(
        self,
        resource: ResourceType,
        version: str,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        options: WriteOptions,
        *,
        manager: str = "",
        subresource: str = "",
    ) -> Result:
        if content_type == PATCH_APPLY:
            return self.apply(resource, version, namespace, name, patch, options)
        if content_type == PATCH_STRATEGIC and not resource.builtin:
            raise errors.unsupported_media_type(
                content_type, [PATCH_JSON, PATCH_MERGE, PATCH_APPLY]
            )
        with self.lock:
            old = self._existing(resource, namespace, name)
            current = served_as(old, resource, version)
            try:
                if content_type == PATCH_JSON:
                    patched = json_patch(current, patch)
                else:
                    if not isinstance(patch, dict):
                        raise PatchError("patch must be a JSON object")
                    patched = merge_patch(current, patch)
            except PatchError as error:
                raise errors.ApiError(422, "Invalid", str(error), {}) from error
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch produced a document that is not an object")
            patched = copy.deepcopy(patched)
            given_rv = (patched.get("metadata") or {}).get("resourceVersion")
            if given_rv and given_rv != old["metadata"]["resourceVersion"]:
                raise errors.stale_update(resource.plural, resource.group, name)
            new = self._decode(resource, version, patched)
            self._check_url_namespace(resource, new, namespace)
            if subresource == "status":
                return self._finish_status(resource, version, old, new.get("status"), options)
            return self._finish_update(resource, version, old, new, options, manager=manager)

    def apply(
        self,
        resource: ResourceType,
        version: str,
        namespace: str,
        name: str,
        body: Any,
        options: WriteOptions,
    ) -> Result:
        """Server-side apply: create or merge, with per-manager ownership and conflicts."""
        if not options.field_manager:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    errors.cause(
                        "FieldValueRequired",
                        "fieldManager",
                        "Required value: is required for apply patch",
                    )
                ],
            )
        applied = self._decode(resource, version, body)
        if not body.get("apiVersion") or not body.get("kind"):
            raise errors.bad_request(
                "error decoding YAML: Object 'Kind' is missing in apply configuration"
                if not body.get("kind")
                else "apiVersion must be set in apply configuration"
            )
        self._check_url_name(applied, name)
        self._check_url_namespace(resource, applied, namespace)
        warnings = self._prune(resource, version, applied, options, apply=True)
        if resource.status_subresource:
            applied.pop("status", None)
        given_rv = applied["metadata"].pop("resourceVersion", None)
        for system_field in ("uid", "creationTimestamp", "managedFields", "generation"):
            applied["metadata"].pop(system_field, None)
        api_version = resource.api_version(version)
        with self.lock:
            bucket = self._bucket(resource)
            old = bucket.get((namespace if resource.namespaced else "", name))
            if old is None:
                if given_rv:
                    raise errors.not_found(resource.plural, resource.group, name)
                self._check_namespace(resource, namespace)
                ownership = Ownership(None)
                live = {"apiVersion": api_version, "kind": resource.kind, "metadata": {}}
                created = ownership.apply(
                    live, applied, options.field_manager, api_version, now_rfc3339(), force=True
                )
                warnings += self._prepare(resource, version, created, None, options)
                _set_managed_fields(created["metadata"], ownership)
                created["apiVersion"] = resource.api_version()
                stored = self._store_new(
                    resource, created, creation_timestamp=None, dry_run=options.dry_run
                )
                return Result(201, served_as(stored, resource, version), warnings)
            if given_rv and given_rv != old["metadata"]["resourceVersion"]:
                raise errors.stale_update(resource.plural, resource.group, name)
            ownership = Ownership(old["metadata"].get("managedFields"))
            live = copy.deepcopy(served_as(old, resource, version))
            now = now_rfc3339()
            if not ownership.tracked:
                ownership.record_before_first_apply(live, api_version, now)
            # kube-apiserver upgrades `kubectl apply` to `kubectl apply --server-side` without
            # conflicts where the last client-side apply still holds, for manager "kubectl" only.
            upgrading = options.field_manager == KUBECTL_SERVER_SIDE_MANAGER
            merged = ownership.apply(
                live,
                applied,
                options.field_manager,
                api_version,
                now,
                force=options.force,
                upgrade_allowed=(
                    ownership.allowed_by_last_applied(live, api_version) if upgrading else None
                ),
            )
            if upgrading:
                _keep_last_applied_current(merged, applied)
            return self._finish_update(
                resource,
                version,
                old,
                merged,
                options,
                manager=options.field_manager,
                ownership=ownership,
                warnings=warnings,
            )

    def delete(
        self,
        resource: ResourceType,
        version: str,
        namespace: str,
        name: str,
        delete_options: dict[str, Any] | None,
        *,
        dry_run: bool = False,
    ) -> Result:
        delete_options = delete_options or {}
        preconditions = delete_options.get("preconditions") or {}
        with self.lock:
            old = self._existing(resource, namespace, name)
            metadata = old["metadata"]
            wanted_uid = preconditions.get("uid")
            if wanted_uid and wanted_uid != metadata["uid"]:
                raise errors.conflict(
                    resource.plural,
                    resource.group,
                    name,
                    f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: "
                    f"{metadata['uid']}",
                )
            wanted_rv = preconditions.get("resourceVersion")
            if wanted_rv and wanted_rv != metadata["resourceVersion"]:
                raise errors.conflict(
                    resource.plural,
                    resource.group,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {wanted_rv}, "
                    f"ResourceVersion in object meta: {metadata['resourceVersion']}",
                )
            key = (metadata.get("namespace", ""), name)
            if metadata.get("finalizers"):
                if metadata.get("deletionTimestamp"):
                    return Result(200, served_as(old, resource, version))
                marked = {
                    **old,
                    "metadata": {
                        **metadata,
                        "deletionTimestamp": now_rfc3339(),
                        "deletionGracePeriodSeconds": 0,
                    },
                }
                if dry_run:
                    return Result(200, served_as(marked, resource, version))
                marked["metadata"]["resourceVersion"] = str(self._next_rv())
                self._put(resource, key, marked, "MODIFIED")
                return Result(200, served_as(marked, resource, version))
            if dry_run:
                gone = old
            else:
                if resource.key == "/namespaces":
                    self._delete_namespace_contents(name)
                gone = self._remove(resource, key, old)
        if resource.delete_returns_object:
            return Result(200, served_as(gone, resource, version))
        details: dict[str, Any] = {"name": name, "kind": resource.plural, "uid": metadata["uid"]}
        if resource.group:
            details["group"] = resource.group
        return Result(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
        )

    def _delete_namespace_contents(self, namespace: str) -> None:
        for resource in self.registry.resources:
            if not resource.namespaced:
                continue
            bucket = self._bucket(resource)
            for key in [k for k in bucket if k[0] == namespace]:
                self._remove(resource, key, bucket[key])

    # -- seeding --------------------------------------------------------------------------

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
        """Store objects directly (no HTTP), namespaces first; honours creationTimestamp.

        Each object's managedFields are those it carries (a `kubectl get -o yaml` dump), else
        what kube-apiserver records when `manager` creates it with `operation` ("Update": a
        create or client-side apply; "Apply": a server-side apply) at `time` (now if None).
        With `validate=False` nothing is checked or deep-copied (only `metadata` is copied),
        which is what makes seeding 180,000 objects take seconds rather than minutes.
        """
        if operation not in ("Update", "Apply"):
            raise errors.bad_request(
                f'seed operation must be "Update" or "Apply", not {operation!r}'
            )
        pending = list(objects)
        pending.sort(key=lambda o: 0 if o.get("kind") == "Namespace" else 1)
        namespaces = self.registry.by_key("/namespaces")
        stored = []
        now = now_rfc3339()
        with self.lock:
            for body in pending:
                match = self.registry.for_api_version(
                    body.get("apiVersion", ""), body.get("kind", "")
                )
                if match is None:
                    raise errors.bad_request(
                        f"no resource for apiVersion {body.get('apiVersion')!r} "
                        f"kind {body.get('kind')!r}"
                    )
                resource, version = match
                metadata = dict(body.get("metadata") or {})
                namespace = metadata.get("namespace") or ("default" if resource.namespaced else "")
                if resource.namespaced:
                    metadata["namespace"] = namespace
                    if ("", namespace) not in self._bucket(namespaces):
                        if not create_namespaces:
                            raise errors.namespace_not_found(namespace)
                        self._store_new(
                            namespaces, self._namespace_object(namespace), creation_timestamp=None
                        )
                else:
                    metadata.pop("namespace", None)
                if validate:
                    obj = self._decode(resource, version, {**body, "metadata": metadata})
                    recorded = obj["metadata"].pop("managedFields", None)
                    self._prepare(
                        resource, version, obj, None, WriteOptions(field_validation="Ignore")
                    )
                    ownership = Ownership(recorded)
                    if not recorded:
                        _seed_ownership(
                            ownership,
                            obj,
                            manager=manager,
                            operation=operation,
                            api_version=resource.api_version(version),
                            time=time or now_rfc3339(),
                        )
                    _set_managed_fields(obj["metadata"], ownership)
                else:
                    obj = {**body, "metadata": metadata}
                obj["apiVersion"] = resource.api_version()
                key = (namespace if resource.namespaced else "", metadata.get("name", ""))
                bucket = self._bucket(resource)
                if key in bucket:
                    raise errors.already_exists(resource.plural, resource.group, key[1])
                stored.append(
                    self._store_new(
                        resource, obj, creation_timestamp=metadata.get("creationTimestamp") or now
                    )
                )
        return stored


def _seed_ownership(
    ownership: Ownership,
    obj: dict[str, Any],
    *,
    manager: str,
    operation: str,
    api_version: str,
    time: str,
) -> None:
    """What kube records when `manager` creates `obj` with an Update or an Apply."""
    if operation == "Apply":
        empty = {"apiVersion": api_version, "kind": obj.get("kind"), "metadata": {}}
        ownership.apply(empty, obj, manager, api_version, time, force=True)
    else:
        ownership.record_update(None, obj, manager, api_version, time)


def _set_managed_fields(metadata: dict[str, Any], ownership: Ownership) -> None:
    managed_fields = ownership.as_managed_fields()
    if managed_fields:
        metadata["managedFields"] = managed_fields
    else:
        metadata.pop("managedFields", None)


def _update_ownership(old_metadata: dict[str, Any], requested: Any) -> Ownership:
    """The ownership an update starts from: the live object's, unless the request set
    managedFields itself; `[{}]` resets them (kube's documented way to clear them)."""
    if requested == [{}]:
        return Ownership(None)
    if isinstance(requested, list) and requested and requested != old_metadata.get("managedFields"):
        try:
            return Ownership(requested)
        except (AttributeError, TypeError):
            pass  # undecodable: kube keeps the live object's, so a careless client loses none
    return Ownership(old_metadata.get("managedFields"))


def _keep_last_applied_current(merged: dict[str, Any], applied: dict[str, Any]) -> None:
    """kubectl's server-side apply rewrites an existing last-applied annotation to what it
    applied (kube-apiserver's lastAppliedUpdater), so a later client-side apply diffs right."""
    annotations = (merged.get("metadata") or {}).get("annotations") or {}
    if not annotations.get(LAST_APPLIED):
        return
    config = copy.deepcopy(applied)
    applied_annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(applied_annotations, dict):
        applied_annotations.pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = json.dumps(config, sort_keys=True, separators=(",", ":")) + "\n"


def _field_sets(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (
            e.get("manager", ""),
            e.get("operation", ""),
            json.dumps(e.get("fieldsV1"), sort_keys=True),
        )
        for e in obj.get("metadata", {}).get("managedFields") or ()
    )


def _watch_error(status: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ERROR", "object": status}


_INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def _encode_continue(token: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def _decode_continue(text: str) -> dict[str, Any]:
    try:
        token = json.loads(base64.urlsafe_b64decode(text.encode()))
        if not isinstance(token, dict):
            raise ValueError("not an object")
        return token
    except (ValueError, TypeError) as error:
        raise errors.bad_request(f"continue key is not valid: {error}") from error
