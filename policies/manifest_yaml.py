"""YAML manifests read with the limits of policies/manifests.py: aliases judged by kubectl's
rule before anything is built, nesting, tags that cannot be read said in words, and
timestamps kept as the text the API returns. Imported only when a YAML file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from policies.manifests import MAX_NESTING, ManifestError, number_too_long_words, too_deep_words

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
                raise _LimitExceeded(number_too_long_words(digits), node.start_mark) from error
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


def document_line(text: str, number: int) -> int | None:
    """The line where YAML document `number` starts (only computed when reporting an error)."""
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_ManifestLoader), 1):
            if index == number and node is not None:
                return node.start_mark.line + 1
    except yaml.YAMLError:
        return None
    return None


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
                raise _LimitExceeded(too_deep_words(), child.start_mark)
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


def yaml_documents(file: Path, text: str) -> list[tuple[int, Any]]:
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
        raise ManifestError(file, f"invalid YAML: {too_deep_words()}") from None
    return documents
