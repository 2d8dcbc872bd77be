"""Field ownership for server-side apply: managedFields in the FieldsV1 format.

As kube-apiserver's structured-merge-diff records them: an Update (create, PUT, patch) owns
the fields it changed and, as `".": {}`, every map it added; an Apply owns the leaves it
sets. Entries are sorted Apply first, then by time, manager and apiVersion.

Lists are atomic here (kube merges `x-kubernetes-list-type: map` lists item by item; this
double does not), and the keys of maps such as portLevelMtls get no `"."` of their own in an
Apply entry; that is enough for PeerAuthentications, DestinationRules and the labels and
annotations meshui manages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .errors import ApiError
from .patching import merge_patch
from .schema import OBJECT_META_FIELDS

Path = tuple[str, ...]

# Metadata the server owns; nobody manages these through apply.
_SYSTEM_METADATA = OBJECT_META_FIELDS - {"labels", "annotations", "ownerReferences", "finalizers"}
_MISSING = object()
# Who an apply over an object without managedFields meets: kube-apiserver first records every
# field already there as this manager's Update (its skipNonAppliedManager).
BEFORE_FIRST_APPLY = "before-first-apply"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _ownable(obj: dict[str, Any] | None) -> Iterator[tuple[Path, Any]]:
    """The top of every field a manager can own: spec and such, labels, annotations..."""
    for key, value in (obj or {}).items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _SYSTEM_METADATA:
                    yield ("metadata", meta_key), meta_value
            continue
        yield (key,), value


def _fields(obj: dict[str, Any] | None) -> tuple[set[Path], set[Path]]:
    """(leaves, non-empty maps) a manager can own in `obj`; a list or an empty map is a leaf."""
    leaves: set[Path] = set()
    maps: set[Path] = set()

    def visit(value: Any, path: Path) -> None:
        if isinstance(value, dict) and value:
            maps.add(path)
            for key, child in value.items():
                visit(child, (*path, key))
        else:
            leaves.add(path)

    for path, value in _ownable(obj):
        visit(value, path)
    return leaves, maps


def leaf_paths(obj: dict[str, Any]) -> set[Path]:
    """Every field a manager can own in `obj` (lists and empty maps count as one field)."""
    return _fields(obj)[0]


def map_paths(obj: dict[str, Any] | None) -> set[Path]:
    """Every non-empty map in `obj` a manager can own as a whole (FieldsV1's `"."`)."""
    return _fields(obj)[1]


def _is_map(value: Any) -> bool:
    return isinstance(value, dict) and bool(value)


def _dict_paths(obj: dict[str, Any] | None) -> set[Path]:
    """Every map in `obj`, empty ones included (an empty map is a leaf, but not absent)."""
    found: set[Path] = set()

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict):
            found.add(path)
            for key, child in value.items():
                walk(child, (*path, key))

    walk(obj or {}, ())
    return found


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for segment in path:
        if not isinstance(node, dict) or segment not in node:
            return _MISSING
        node = node[segment]
    return node


def to_fields_v1(paths: set[Path], maps: set[Path] = frozenset()) -> dict[str, Any]:
    """FieldsV1: leaves as `{}`, an owned map that has owned children as `".": {}`."""
    tree: dict[str, Any] = {}
    for path in sorted(paths | set(maps)):
        node = tree
        for segment in path:
            node = node.setdefault(f"f:{segment}", {})
    for path in maps:
        node = tree
        for segment in path:
            node = node[f"f:{segment}"]
        if node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    # kube serializes a set's members in order: "." first, then the fields by name.
    return {key: _sorted_tree(tree[key]) for key in sorted(tree)}


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The leaves of a FieldsV1 tree (owned maps with no owned children count as leaves)."""
    return _parse_fields_v1(tree, prefix)[0]


def _parse_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> tuple[set[Path], set[Path]]:
    paths: set[Path] = set()
    maps: set[Path] = set()
    for key, child in (tree or {}).items():
        if key == ".":
            continue
        segment = key[2:] if key.startswith("f:") else key
        path = (*prefix, segment)
        if isinstance(child, dict) and any(k != "." for k in child):
            if "." in child:
                maps.add(path)
            child_paths, child_maps = _parse_fields_v1(child, path)
            paths |= child_paths
            maps |= child_maps
        else:
            paths.add(path)
    return paths, maps


def _overlaps(first: Path, second: Path) -> bool:
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]


def render(path: Path) -> str:
    return "".join(f".{segment}" for segment in path)


class Ownership:
    """The managedFields list of one object, parsed into sets of paths."""

    def __init__(self, managed_fields: list[dict[str, Any]] | None) -> None:
        self.entries: list[dict[str, Any]] = []
        for entry in managed_fields or ():
            if not isinstance(entry, dict) or not entry:
                continue
            parsed = dict(entry)
            parsed["paths"], parsed["maps"] = _parse_fields_v1(entry.get("fieldsV1") or {})
            self.entries.append(parsed)

    def _normalize(self, obj: dict[str, Any] | None) -> None:
        """FieldsV1 writes an owned map whose children are someone else's as `{}`, like a
        leaf; against the object it is a map again, so it never conflicts like a leaf."""
        if not obj:
            return
        for entry in self.entries:
            owned_maps = {p for p in entry["paths"] if _is_map(value_at(obj, p))}
            entry["paths"] -= owned_maps
            entry["maps"] |= owned_maps

    @property
    def tracked(self) -> bool:
        """False for an object without managedFields: kube records its Updates no more."""
        return bool(self.entries)

    def _entry(self, manager: str, operation: str, api_version: str, now: str) -> dict[str, Any]:
        for entry in self.entries:
            same_version = operation == "Apply" or entry.get("apiVersion") == api_version
            if (
                entry.get("manager") == manager
                and entry.get("operation") == operation
                and same_version
            ):
                entry["apiVersion"] = api_version
                entry["time"] = now
                return entry
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "paths": set(),
            "maps": set(),
        }
        self.entries.append(entry)
        return entry

    def as_managed_fields(self) -> list[dict[str, Any]]:
        result = []
        for entry in self.entries:
            if not entry["paths"] and not entry["maps"]:
                continue
            rendered = {k: v for k, v in entry.items() if k not in ("paths", "maps", "fieldsV1")}
            rendered["fieldsType"] = "FieldsV1"
            rendered["fieldsV1"] = to_fields_v1(entry["paths"], entry["maps"])
            result.append(rendered)
        # kube-apiserver's order: Apply before Update, then time, manager, apiVersion.
        result.sort(
            key=lambda e: (
                e.get("operation", ""),
                e.get("time") or "",
                e.get("manager", ""),
                e.get("apiVersion", ""),
                e.get("subresource", ""),
            )
        )
        return result

    def record_update(
        self,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str,
        api_version: str,
        now: str,
    ) -> None:
        """A non-apply write: `manager` takes every field it changed from everyone else,
        and the maps it added. A create is always recorded; an update of an object that has
        no managedFields is not (kube starts tracking it again at its first apply)."""
        if old is not None and not self.tracked:
            return
        self._normalize(old)
        new_paths = leaf_paths(new)
        old_paths = leaf_paths(old) if old else set()
        changed = {p for p in new_paths if old is None or value_at(old, p) != value_at(new, p)}
        removed = old_paths - new_paths
        touched = changed | removed
        # A map counts as added only where there was none (an empty map was already there).
        old_dicts = _dict_paths(old)
        added_maps = {p for p in map_paths(new) if p not in old_dicts}
        removed_maps = map_paths(old) - _dict_paths(new)
        if not touched and not added_maps and not removed_maps:
            return
        for entry in self.entries:
            entry["paths"] = {
                p for p in entry["paths"] if not any(_overlaps(p, t) for t in touched)
            }
            entry["maps"] -= removed_maps | added_maps
        target = self._entry(manager, "Update", api_version, now)
        target["paths"] |= changed
        target["maps"] |= added_maps

    def record_before_first_apply(self, live: dict[str, Any], api_version: str, now: str) -> None:
        """Before the first apply over an untracked object: all of it is someone's already."""
        self.record_update(None, live, BEFORE_FIRST_APPLY, api_version, now)

    def apply(
        self,
        live: dict[str, Any],
        applied: dict[str, Any],
        manager: str,
        api_version: str,
        now: str,
        *,
        force: bool,
        upgrade_allowed: set[Path] | None = None,
    ) -> dict[str, Any]:
        """The object after `manager` applies `applied`; ApiError 409 on conflicts.

        `upgrade_allowed` are conflicting fields taken without force (see
        `allowed_by_last_applied`)."""
        self._normalize(live)
        apply_paths = leaf_paths(applied)
        target = next(
            (
                e
                for e in self.entries
                if e.get("manager") == manager and e.get("operation") == "Apply"
            ),
            None,
        )
        previous = set(target["paths"]) if target else set()
        merged = merge_patch(live, applied)
        others = [e for e in self.entries if e is not target]
        conflicts: list[tuple[dict[str, Any], Path]] = []
        for entry in others:
            for owned in sorted(entry["paths"]):
                if not any(_overlaps(owned, p) for p in apply_paths):
                    continue
                if value_at(live, owned) != value_at(merged, owned):
                    conflicts.append((entry, owned))
        if conflicts and not force:
            allowed = upgrade_allowed or set()
            if any(path not in allowed for _entry, path in conflicts):
                raise _conflict_error([c for c in conflicts if c[1] not in allowed])
        for entry in others:
            entry["paths"] = {
                p
                for p in entry["paths"]
                if not any(_overlaps(p, q) for c_entry, q in conflicts if c_entry is entry)
            }
        # Fields this manager applied before and no longer sets go, unless someone else owns them.
        for path in sorted(previous - apply_paths, key=len, reverse=True):
            if any(_overlaps(path, p) for p in apply_paths):
                continue
            if any(_overlaps(path, p) for e in others for p in e["paths"]):
                continue
            _delete(merged, path, applied)
        entry = self._entry(manager, "Apply", api_version, now)
        entry["paths"] = apply_paths
        entry["maps"] = set()
        # Maps the apply removed are nobody's any more.
        remaining = _dict_paths(merged)
        for other in self.entries:
            other["maps"] = {p for p in other["maps"] if p in remaining}
        return merged

    def allowed_by_last_applied(self, live: dict[str, Any], api_version: str) -> set[Path]:
        """The fields kube lets manager "kubectl" take without force: those whose live value
        is still what the last client-side `kubectl apply` set (its lastAppliedManager)."""
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        try:
            last_applied = json.loads(annotations.get(LAST_APPLIED) or "")
        except ValueError:
            return set()
        if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
            return set()
        return {
            path
            for path in leaf_paths(last_applied)
            if value_at(live, path) == value_at(last_applied, path)
        }


def _delete(obj: dict[str, Any], path: Path, applied: dict[str, Any]) -> None:
    parents = [obj]
    node: Any = obj
    for segment in path[:-1]:
        if not isinstance(node, dict) or segment not in node:
            return
        node = node[segment]
        parents.append(node)
    if isinstance(node, dict):
        node.pop(path[-1], None)
    # Maps emptied by the removal go too, unless the applied configuration still names them.
    for depth in range(len(path) - 1, 0, -1):
        container = parents[depth]
        if container or value_at(applied, path[:depth]) is not _MISSING:
            break
        parents[depth - 1].pop(path[depth - 1], None)


def _conflict_error(conflicts: list[tuple[dict[str, Any], Path]]) -> ApiError:
    causes = []
    by_manager: dict[tuple[str, str], list[str]] = {}
    for entry, path in conflicts:
        described = f'"{entry.get("manager")}" using {entry.get("apiVersion")}'
        if entry.get("subresource"):
            described = (
                f'"{entry.get("manager")}" with subresource "{entry["subresource"]}" '
                f"using {entry.get('apiVersion')}"
            )
        causes.append(
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {described}",
                "field": render(path),
            }
        )
        by_manager.setdefault((described, ""), []).append(render(path))
    count = len(conflicts)
    if count == 1:
        (described, _), paths = next(iter(by_manager.items()))
        message = f"Apply failed with 1 conflict: conflict with {described}: {paths[0]}"
    else:
        sections = []
        for (described, _), paths in by_manager.items():
            noun = "conflict" if len(paths) == 1 else "conflicts"
            sections.append(f"{noun} with {described}:\n" + "\n".join(f"- {p}" for p in paths))
        message = f"Apply failed with {count} conflicts: " + "\n".join(sections)
    return ApiError(409, "Conflict", message, {"causes": causes})
