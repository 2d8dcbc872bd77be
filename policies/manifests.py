"""Read Kubernetes manifests from disk into the raw API dicts the engine takes.

A file or a directory (searched recursively for *.yaml, *.yml and *.json, hidden
directories skipped); multi-document YAML; `kind: List` expanded; objects without a
namespace are placed in `default`, as `kubectl apply` would. Bad input raises ManifestError
naming the file and the line.

Hostile input is refused before it can cost much: files over a size limit, nesting deeper
than any Kubernetes object needs, numbers too long to convert, and YAML aliases that expand a
small file into a huge one ("billion laughs"), judged by the rule kubectl's YAML parser uses.

YAML is read by policies/manifest_yaml.py, imported only when a YAML file is there. YAML
timestamps stay strings (`creationTimestamp: 2024-01-15T12:00:00Z` unquoted is still
the RFC 3339 text the API would return), because the engine reads API-shaped JSON values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "List"})
DEFAULT_NAMESPACE = "default"
MAX_FILE_BYTES = 50 * 1024 * 1024
# The deepest Kubernetes objects (CRDs with their schemas) nest fewer than 40 levels; past
# this, later steps (repr, JSON) would meet Python's recursion limit instead.
MAX_NESTING = 100


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
    depth = len(path.parts)
    try:
        for candidate in sorted(path.rglob("*")):
            if candidate.suffix.lower() not in MANIFEST_SUFFIXES:
                continue
            # The directories between `path` and the file: a hidden one hides it.
            if any(part.startswith(".") for part in candidate.parts[depth:-1]):
                continue
            if candidate.is_file():
                found.append(candidate)
    except OSError as error:
        raise ManifestError(path, f"cannot read the directory ({error.strerror})") from error
    return found


def read_manifests(
    path: Path | str, *, max_file_bytes: int = MAX_FILE_BYTES
) -> list[dict[str, Any]]:
    """Every Kubernetes object in the file or directory at `path`, as raw API dicts."""
    objects: list[dict[str, Any]] = []
    for file in manifest_files(Path(path)):
        objects.extend(read_manifest_file(file, max_file_bytes=max_file_bytes))
    return objects


def read_manifest_file(file: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> list[dict[str, Any]]:
    """The objects of one YAML or JSON file (Lists expanded, namespaces defaulted)."""
    try:
        size = file.stat().st_size
        if size > max_file_bytes:
            raise ManifestError(
                file,
                f"the file has {size:,} bytes; manifest files over {max_file_bytes:,} bytes "
                "are refused (MESHUI_MANIFEST_MAX_BYTES)",
            )
        if file.suffix.lower() == ".json":
            # Most JSON manifests take the fast path; anything it does not accept as is
            # (invalid JSON, huge numbers, NaN, bad UTF-8) is read again below, so every
            # refusal keeps its own words.
            fast = _fast_json_objects(file, file.read_bytes())
            if fast is not None:
                return fast
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


def _yaml_documents(file: Path, text: str) -> list[tuple[int, Any]]:
    # YAML's parser and meshui's limits on it are imported when a file needs them: a check
    # of JSON files never does (a tenth of its start).
    from policies.manifest_yaml import yaml_documents

    return yaml_documents(file, text)


def _document_line(text: str, number: int) -> int | None:
    from policies.manifest_yaml import document_line

    return document_line(text, number)


def _fast_json_objects(file: Path, data: bytes) -> list[dict[str, Any]] | None:
    """The objects of a JSON file read by orjson (C, a few times faster than `json`), or None
    when orjson refuses it and the standard reader must judge (and word) it.

    orjson nests up to 1024 levels and reads an integer beyond 64 bits as a float, so the
    text is checked first, without building anything: a deep file or one with a long number
    goes to the standard reader, which refuses the one and reads the other exactly.
    """
    shape = _json_shape(data)
    if _shape_nests_deeper_than(shape, MAX_NESTING):
        return None
    if _shape_may_hold_a_long_number(shape) and _has_long_digit_run(data):
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    objects: list[dict[str, Any]] = []
    try:
        _collect(file, 1, document, objects)
    except ManifestError:
        return None  # the standard reader says it with the line
    return objects


# orjson reads an integer beyond 64 bits as a float; `json` keeps it exact (and refuses one
# of more than 4300 digits). A number of 19 digits or more takes that path. The checks read
# the text's shape (_json_shape): a number is a run of digits right after `:`, `,` or `[`
# there, or at its start; a string's digits may look like one too once its letters are
# gone, so a file whose shape says maybe is searched for any run of 19 digits, even inside
# a string, by mapping every digit to 0 and everything else to a space.
_DIGITS_AS_ZERO = bytes(ord("0") if 48 <= byte <= 57 else ord(" ") for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19
_LONG_NUMBER_STARTS = tuple(start + _LONG_DIGIT_RUN for start in (b":", b",", b"{"))


def _shape_may_hold_a_long_number(shape: bytes) -> bool:
    if _LONG_DIGIT_RUN not in shape:  # the common case, in one search
        return False
    return shape.startswith(_LONG_DIGIT_RUN) or any(start in shape for start in _LONG_NUMBER_STARTS)


def _has_long_digit_run(data: bytes) -> bool:
    return _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZERO)


# A JSON text's shape keeps what the checks read, in one pass over it: brackets, with `[]`
# written as `{}` (in valid JSON each bracket closes its own kind, so one kind nests as
# deep; invalid JSON is refused by the parser that follows whatever the checks say),
# quotes, digits written as 0, and the `:` and `,` before a value.
_SHAPE_KEEPS = b'{}[]"0123456789:,'
_NOT_SHAPE = bytes(range(256)).translate(None, _SHAPE_KEEPS)
_AS_SHAPE = (
    bytes(ord("0") if 48 <= byte <= 57 else byte for byte in range(256))
    .replace(b"[", b"{")
    .replace(b"]", b"}")
)


def _json_shape(data: bytes) -> bytes:
    """The text's shape (above), its escaped backslashes and quotes gone first, so every
    quote left in it delimits a string."""
    if b"\\" in data:  # most manifests have no escapes at all: skip two copies of the text
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return data.translate(_AS_SHAPE, _NOT_SHAPE)


def _json_nests_deeper_than(data: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` deep (C-speed steps)."""
    return _shape_nests_deeper_than(_json_shape(data), limit)


def _shape_nests_deeper_than(shape: bytes, limit: int) -> bool:
    """Whether the text of this shape nests more than `limit` deep: the strings' contents go,
    leaving only the brackets of the structure; each pass then removes the innermost pairs.
    Text that is not JSON may be misjudged either way: the parser that follows refuses it.
    """
    structure = shape.translate(None, b"0:,")
    # Most strings hold no bracket and leave an empty pair of quotes. When the quotes pair up
    # like that throughout (pairs counted from the start cover them all), no string holds a
    # bracket and the quotes can all go at once; otherwise drop every string's contents.
    quotes = structure.count(b'"')
    if structure.count(b'""') * 2 == quotes:
        structure = structure.translate(None, b'"') if quotes else structure
    else:
        structure = b"".join(structure.split(b'"')[::2])
    for _ in range(limit):
        if not structure:
            return False
        inner_removed = structure.replace(b"{}", b"")
        if len(inner_removed) == len(structure):
            return False  # unbalanced: not JSON, the parser will say so
        structure = inner_removed
    return bool(structure)


def _json_documents(file: Path, text: str) -> list[tuple[int, Any]] | None:
    try:
        document = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as error:
        if text.lstrip().startswith(("{", "[")):
            raise ManifestError(
                file, f"invalid JSON: {error.msg} (column {error.colno})", error.lineno
            ) from error
        return None  # JSON files holding YAML exist in the wild; let the YAML parser judge.
    except _NumberTooLong as error:
        raise ManifestError(file, f"invalid JSON: {error}") from None
    except RecursionError:
        raise ManifestError(file, f"invalid JSON: {too_deep_words()}") from None
    if _deeper_than(document, MAX_NESTING):
        raise ManifestError(file, f"invalid JSON: {too_deep_words()}")
    return [(1, document)]


class _NumberTooLong(ValueError):
    pass


def _json_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _NumberTooLong(number_too_long_words(len(text))) from None


def number_too_long_words(digits: int) -> str:
    """The refusal of a number too long to read, for the JSON and YAML readers alike."""
    return f"a number of {digits} digits is too long to read"


def too_deep_words() -> str:
    """The refusal of values nested past MAX_NESTING, for the JSON and YAML readers alike."""
    return f"values nest more than {MAX_NESTING} levels deep"


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative, so the check itself cannot hit the recursion limit it guards against.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if type(item) is dict else item if type(item) is list else ()
        if children and depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _collect(file: Path, number: int, document: Any, objects: list[dict[str, Any]]) -> None:
    if not isinstance(document, dict):
        raise ManifestError(
            file,
            f"document {number} is a {_type_name(document)}, not a Kubernetes object",
        )
    kind = document.get("kind")
    if kind is None:
        return  # not a Kubernetes object (a values file, say): nothing for the engine
    if not isinstance(kind, str):
        raise ManifestError(
            file, f"document {number}: `kind` is a {_type_name(kind)}, not a string"
        )
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in document):
        items = document.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(file, f"document {number}: `items` of a {kind} must be a list")
        for item in items:
            # The common item, placed without a call: an object of a kind that is no list,
            # whose metadata names its namespace (or that needs none).
            if type(item) is dict:
                item_kind = item.get("kind")
                metadata = item.get("metadata")
                if (
                    type(item_kind) is str
                    and type(metadata) is dict
                    and not item_kind.endswith("List")
                    and (metadata.get("namespace") or item_kind in CLUSTER_SCOPED_KINDS)
                ):
                    objects.append(item)
                    continue
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
