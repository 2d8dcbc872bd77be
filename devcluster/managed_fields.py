"""Field ownership for server-side apply: managedFields in the FieldsV1 format.

Lists are atomic here (kube merges `x-kubernetes-list-type: map` lists item by item; this
double does not), which is enough for PeerAuthentications, DestinationRules and the labels
and annotations meshui manages.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .patching import merge_patch
from .schema import OBJECT_META_FIELDS

Path = tuple[str, ...]

# Metadata the server owns; nobody manages these through apply.
_SYSTEM_METADATA = OBJECT_META_FIELDS - {"labels", "annotations", "ownerReferences", "finalizers"}
_MISSING = object()


def leaf_paths(obj: dict[str, Any]) -> set[Path]:
    """Every field a manager can own in `obj` (lists and empty maps count as one field)."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _SYSTEM_METADATA:
                    _collect(meta_value, ("metadata", meta_key), paths)
            continue
        _collect(value, (key,), paths)
    return paths


def _collect(value: Any, path: Path, paths: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _collect(child, (*path, key), paths)
    else:
        paths.add(path)


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for segment in path:
        if not isinstance(node, dict) or segment not in node:
            return _MISSING
        node = node[segment]
    return node


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for segment in path:
            node = node.setdefault(f"f:{segment}", {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in (tree or {}).items():
        if key == ".":
            continue
        segment = key[2:] if key.startswith("f:") else key
        if isinstance(child, dict) and any(k != "." for k in child):
            paths |= from_fields_v1(child, (*prefix, segment))
        else:
            paths.add((*prefix, segment))
    return paths


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
            parsed = dict(entry)
            parsed["paths"] = from_fields_v1(entry.get("fieldsV1") or {})
            self.entries.append(parsed)

    def _entry(self, manager: str, operation: str, api_version: str, now: str) -> dict[str, Any]:
        for entry in self.entries:
            if entry.get("manager") == manager and entry.get("operation") == operation:
                entry["apiVersion"] = api_version
                entry["time"] = now
                return entry
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "paths": set(),
        }
        self.entries.append(entry)
        return entry

    def as_managed_fields(self) -> list[dict[str, Any]]:
        result = []
        for entry in self.entries:
            if not entry["paths"]:
                continue
            rendered = {k: v for k, v in entry.items() if k not in ("paths", "fieldsV1")}
            rendered["fieldsType"] = "FieldsV1"
            rendered["fieldsV1"] = to_fields_v1(entry["paths"])
            result.append(rendered)
        return result

    def record_update(
        self,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str,
        api_version: str,
        now: str,
    ) -> None:
        """A non-apply write: `manager` takes every field it changed from everyone else."""
        new_paths = leaf_paths(new)
        old_paths = leaf_paths(old) if old else set()
        changed = {p for p in new_paths if old is None or value_at(old, p) != value_at(new, p)}
        removed = old_paths - new_paths
        touched = changed | removed
        if not touched:
            return
        for entry in self.entries:
            entry["paths"] = {
                p for p in entry["paths"] if not any(_overlaps(p, t) for t in touched)
            }
        target = self._entry(manager, "Update", api_version, now)
        target["paths"] |= changed

    def apply(
        self,
        live: dict[str, Any],
        applied: dict[str, Any],
        manager: str,
        api_version: str,
        now: str,
        *,
        force: bool,
    ) -> dict[str, Any]:
        """The object after `manager` applies `applied`; ApiError 409 on conflicts."""
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
            raise _conflict_error(conflicts)
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
        return merged


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
