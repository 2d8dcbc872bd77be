"""`meta.k8s.io/v1 Table` responses, which `kubectl get` asks for to print its columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "format": "",
    "description": "CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
    "priority": 0,
    "jsonPath": ".metadata.creationTimestamp",
}

_STATUS_COLUMN = {
    "name": "Status",
    "type": "string",
    "format": "",
    "description": "The phase of the object.",
    "priority": 0,
    "jsonPath": ".status.phase",
}
_BUILTIN_COLUMNS = {"Namespace": [_STATUS_COLUMN], "Pod": [_STATUS_COLUMN]}


def _columns(resource: ResourceType, version: str) -> list[dict[str, Any]]:
    custom = resource.printer_columns.get(version) or []
    if not custom:
        return _BUILTIN_COLUMNS.get(resource.kind, []) + [_AGE_COLUMN]
    return [
        {
            "name": column["name"],
            "type": column.get("type", "string"),
            "format": column.get("format", ""),
            "description": column.get("description", ""),
            "priority": column.get("priority", 0),
            "jsonPath": column["jsonPath"],
        }
        for column in custom
    ]


def human_duration(seconds: float) -> str:
    """Go's `duration.HumanDuration`, which kube-apiserver uses for date columns ("5m", "3d")."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any) -> Any:
    if not isinstance(timestamp, str):
        return timestamp
    try:
        moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return timestamp
    return human_duration((datetime.now(UTC) - moment).total_seconds())


def _json_path(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for segment in path.strip(".").split("."):
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    return node


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def as_table(
    resource: ResourceType,
    version: str,
    objects: list[dict[str, Any]],
    list_metadata: dict[str, Any],
    include_object: str = "Metadata",
) -> dict[str, Any]:
    columns = _columns(resource, version)
    rows = []
    for obj in objects:
        cells: list[Any] = [obj.get("metadata", {}).get("name", "")]
        for column in columns:
            value = _json_path(obj, column["jsonPath"])
            cells.append(_age(value) if column["type"] == "date" else value)
        row: dict[str, Any] = {"cells": cells}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    definitions = [_NAME_COLUMN] + [
        {k: v for k, v in column.items() if k != "jsonPath"} for column in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    }
