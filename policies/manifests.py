"""Read Kubernetes manifests from disk into the raw API dicts the engine takes.

A file or a directory (searched recursively for *.yaml, *.yml and *.json, hidden
directories skipped); multi-document YAML; `kind: List` expanded; objects without a
namespace are placed in `default`, as `kubectl apply` would. Bad input raises ManifestError
naming the file and the line.

Hostile input is refused before it can cost much: files over a size limit, nesting deeper
than any Kubernetes object needs, numbers too long to convert, and YAML aliases that expand a
small file into a huge one ("billion laughs"), judged by the rule kubectl's YAML parser uses.

YAML timestamps stay strings (`creationTimestamp: 2024-01-15T12:00:00Z` unquoted is still
the RFC 3339 text the API would return), because the engine reads API-shaped JSON values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import yaml

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "List"})
DEFAULT_NAMESPACE = "default"
MAX_FILE_BYTES = 50 * 1024 * 1024
# The deepest Kubernetes objects (CRDs with their schemas) nest fewer than 40 levels; past
# this, later steps (repr, JSON) would meet Python's recursion limit instead.
MAX_NESTING = 100

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LimitExceeded(yaml.constructor.ConstructorError):
    """Input refused for its size or shape rather than its syntax."""

    def __init__(self, problem: str, mark) -> None:
        super().__init__(None, None, problem, mark)


class _ManifestLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader without the timestamp resolver (JSON has no timestamps), checking each
    document's aliases and depth before building it, and saying which value a tag cannot
    read (`!!int ""`, a number of 5,000 digits) instead of raising Python's own error."""

    def construct_document(self, node):
        _check_expansion(node)
        return super().construct_document(node)


def _read_as_tagged(construct):
    def construct_or_explain(loader, node):
        try:
            return construct(loader, node)
        except (ValueError, IndexError, KeyError, AttributeError) as error:
            text = str(node.value)
            digits = sum(character.isdigit() for character in text)
            if digits > 4300:  # Python refuses int() of more than 4300 digits
                raise _LimitExceeded(_too_long_number(digits), node.start_mark) from error
            shown = text if len(text) <= 40 else f"{text[:40]}…"
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown!r} is not a valid {kind}", node.start_mark
            ) from error

    return construct_or_explain


_ManifestLoader.yaml_constructors = {
    tag: _read_as_tagged(construct) for tag, construct in _BaseLoader.yaml_constructors.items()
}

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


def _document_line(text: str, number: int) -> int | None:
    """The line where YAML document `number` starts (only computed when reporting an error)."""
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_ManifestLoader), 1):
            if index == number and node is not None:
                return node.start_mark.line + 1
    except yaml.YAMLError:
        return None
    return None


def _fast_json_objects(file: Path, data: bytes) -> list[dict[str, Any]] | None:
    """The objects of a JSON file read by orjson (C, a few times faster than `json`), or None
    when orjson refuses it and the standard reader must judge (and word) it.

    orjson nests up to 1024 levels, so the nesting limit is checked on the raw bytes first,
    without building anything: a deep file goes to the standard reader, which refuses it.
    """
    if _json_nests_deeper_than(data, MAX_NESTING) or _has_long_digit_run(data):
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
# of more than 4300 digits). Any run of 19 digits, even inside a string, takes that path;
# found by mapping every digit to 0 and everything else to a space, then a substring search.
_DIGITS_AS_ZERO = bytes(ord("0") if 48 <= byte <= 57 else ord(" ") for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def _has_long_digit_run(data: bytes) -> bool:
    return _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZERO)


# The first step of the nesting check keeps only brackets and quotes, and writes `[]` as
# `{}`: in valid JSON each bracket closes its own kind, so one kind nests as deep; invalid
# JSON is refused by the parser that follows whatever the check says.
_NOT_BRACKETS = bytes(range(256)).translate(None, b'{}[]"')
_BRACKETS_AS_BRACES = bytes(range(256)).replace(b"[", b"{").replace(b"]", b"}")


def _json_nests_deeper_than(data: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` deep (C-speed steps).

    Escaped backslashes and quotes go first, so every quote left delimits a string; the
    strings' contents go next, leaving only the brackets of the structure; each pass then
    removes the innermost pairs. Text that is not JSON may be misjudged either way: the
    parser that follows refuses it.
    """
    if b"\\" in data:  # most manifests have no escapes at all: skip two copies of the text
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(_BRACKETS_AS_BRACES, _NOT_BRACKETS)
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
        raise ManifestError(file, f"invalid JSON: {_too_deep()}") from None
    if _deeper_than(document, MAX_NESTING):
        raise ManifestError(file, f"invalid JSON: {_too_deep()}")
    return [(1, document)]


class _NumberTooLong(ValueError):
    pass


def _json_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _NumberTooLong(_too_long_number(len(text))) from None


def _too_long_number(digits: int) -> str:
    return f"a number of {digits} digits is too long to read"


def _too_deep() -> str:
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


# What go-yaml (under kubectl and the API server's YAML decoding) lets aliases contribute:
# up to 99% of the nodes a document decodes to while it is small, scaling down to 10% for
# documents of four million nodes or more (gopkg.in/yaml.v2 and v3, decode.go).
_ALIAS_RATIO_RANGE = (400_000, 4_000_000)


def _allowed_alias_ratio(decoded: int) -> float:
    low, high = _ALIAS_RATIO_RANGE
    if decoded <= low:
        return 0.99
    if decoded >= high:
        return 0.10
    return 0.99 - 0.89 * (decoded - low) / (high - low)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases contain themselves or expand it beyond kubectl's limit,
    or that nests deeper than MAX_NESTING, before any of it is built.

    Walks the node graph once, iteratively, adding up how many nodes each collection expands
    to, so a billion laughs is measured without being expanded. Aliases of single scalars
    are not counted: they add one node each and cannot multiply.
    """
    sizes: dict[int, int] = {}  # id(collection) -> nodes it decodes to, aliases expanded
    on_path = {id(root)}
    from_aliases = 0
    stack = [(root, _items(root), [1])]
    while stack:
        node, children, size = stack[-1]
        for child in children:
            if type(child) is yaml.ScalarNode:
                size[0] += 1
                continue
            known = sizes.get(id(child))
            if known is not None:  # seen before in document order: an alias to it
                from_aliases += known
                size[0] += known
            elif id(child) in on_path:
                raise _LimitExceeded("an alias refers to a node that contains it", child.start_mark)
            elif len(stack) >= MAX_NESTING:
                raise _LimitExceeded(_too_deep(), child.start_mark)
            else:
                on_path.add(id(child))
                stack.append((child, _items(child), [1]))
                break
        else:
            stack.pop()
            on_path.discard(id(node))
            sizes[id(node)] = size[0]
            if stack:
                stack[-1][2][0] += size[0]
    decoded = sizes.get(id(root), 1)
    aliased_share = from_aliases / decoded
    if from_aliases > 100 and decoded > 1000 and aliased_share > _allowed_alias_ratio(decoded):
        raise _LimitExceeded(
            "aliases expand this document far beyond its size (more than kubectl "
            "accepts); write the repeated parts out",
            root.start_mark,
        )


def _items(node: yaml.Node):
    """An iterator over a node's children (a mapping's keys and values alike)."""
    if type(node) is yaml.MappingNode:
        return (part for pair in node.value for part in pair)
    if type(node) is yaml.SequenceNode:
        return iter(node.value)
    return iter(())


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
        prefix = "refused" if isinstance(error, _LimitExceeded) else "invalid YAML"
        raise ManifestError(file, f"{prefix}: {problem}{column}{started}", line) from error
    except yaml.YAMLError as error:
        raise ManifestError(file, f"invalid YAML: {error}") from error
    except RecursionError:  # the pure-Python parser, where libyaml is missing
        raise ManifestError(file, f"invalid YAML: {_too_deep()}") from None
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
    if not isinstance(kind, str):
        raise ManifestError(
            file, f"document {number}: `kind` is a {_type_name(kind)}, not a string"
        )
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
