"""Read Kubernetes manifests from disk into the raw API dicts the engine takes.

A file or a directory (searched recursively for *.yaml, *.yml and *.json, hidden
directories skipped); multi-document YAML; `kind: List` expanded; objects without a
namespace are placed in `default`, as `kubectl apply` would. Bad input raises ManifestError
naming the file and the line.

YAML timestamps stay strings (`creationTimestamp: 2024-01-15T12:00:00Z` unquoted is still
the RFC 3339 text the API would return), because the engine reads API-shaped JSON values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "List"})
DEFAULT_NAMESPACE = "default"

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ManifestLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader without the timestamp resolver (JSON has no timestamps)."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class ManifestError(Exception):
    """Input that is not a readable set of manifests; the message names file and line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def manifest_files(path: Path) -> list[Path]:
    """The manifest files at `path` (itself, or the ones under it), in a stable order."""
    if not path.exists():
        raise ManifestError(path, "no such file or directory")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ManifestError(path, "not a regular file or directory")
    found = []
    try:
        for candidate in sorted(path.rglob("*")):
            relative = candidate.relative_to(path)
            if any(part.startswith(".") for part in relative.parts[:-1]):
                continue
            if candidate.suffix.lower() in MANIFEST_SUFFIXES and candidate.is_file():
                found.append(candidate)
    except OSError as error:
        raise ManifestError(path, f"cannot read the directory ({error.strerror})") from error
    return found


def read_manifests(path: Path | str) -> list[dict[str, Any]]:
    """Every Kubernetes object in the file or directory at `path`, as raw API dicts."""
    objects: list[dict[str, Any]] = []
    for file in manifest_files(Path(path)):
        objects.extend(read_manifest_file(file))
    return objects


def read_manifest_file(file: Path) -> list[dict[str, Any]]:
    """The objects of one YAML or JSON file (Lists expanded, namespaces defaulted)."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ManifestError(file, f"not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise ManifestError(file, f"cannot read the file ({error.strerror})") from error
    documents = _json_documents(file, text) if file.suffix.lower() == ".json" else None
    if documents is None:
        documents = _yaml_documents(file, text)
    objects: list[dict[str, Any]] = []
    for number, document in documents:
        try:
            _collect(file, number, document, objects)
        except ManifestError as error:
            raise ManifestError(file, error.detail, _document_line(text, number)) from None
    return objects


def _document_line(text: str, number: int) -> int | None:
    """The line where YAML document `number` starts (only computed when reporting an error)."""
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_ManifestLoader), 1):
            if index == number and node is not None:
                return node.start_mark.line + 1
    except yaml.YAMLError:
        return None
    return None


def _json_documents(file: Path, text: str) -> list[tuple[int, Any]] | None:
    try:
        return [(1, json.loads(text))]
    except json.JSONDecodeError as error:
        if text.lstrip().startswith(("{", "[")):
            raise ManifestError(
                file, f"invalid JSON: {error.msg} (column {error.colno})", error.lineno
            ) from error
        return None  # JSON files holding YAML exist in the wild; let the YAML parser judge.


def _yaml_documents(file: Path, text: str) -> list[tuple[int, Any]]:
    documents = []
    try:
        for number, document in enumerate(yaml.load_all(text, Loader=_ManifestLoader), 1):
            if document is not None:
                documents.append((number, document))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or "invalid YAML"
        column = f" (column {mark.column + 1})" if mark is not None else ""
        started = ""
        if error.context and error.context_mark is not None and error.context_mark is not mark:
            started = f", {error.context} that starts on line {error.context_mark.line + 1}"
        raise ManifestError(file, f"invalid YAML: {problem}{column}{started}", line) from error
    except yaml.YAMLError as error:
        raise ManifestError(file, f"invalid YAML: {error}") from error
    return documents


def _collect(file: Path, number: int, document: Any, objects: list[dict[str, Any]]) -> None:
    if not isinstance(document, dict):
        raise ManifestError(
            file,
            f"document {number} is a {_type_name(document)}, not a Kubernetes object",
        )
    kind = document.get("kind")
    if kind is None:
        return  # not a Kubernetes object (a values file, say): nothing for the engine
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in document):
        items = document.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(file, f"document {number}: `items` of a {kind} must be a list")
        for item in items:
            _collect(file, number, item, objects)
        return
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise ManifestError(file, f"document {number} ({kind}) has no metadata mapping")
    if kind not in CLUSTER_SCOPED_KINDS and not metadata.get("namespace"):
        document = {**document, "metadata": {**metadata, "namespace": DEFAULT_NAMESPACE}}
    objects.append(document)


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
