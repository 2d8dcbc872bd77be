"""Label and field selectors, parsed the way kube-apiserver parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

_TOKEN_RE = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


class SelectorError(ValueError):
    pass


def _tokens(text: str) -> list[str]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if not match:
            break
        if match.group(1):
            tokens.append(match.group(1))
        position = match.end()
    return tokens


_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
)

Requirement = tuple[str, str, tuple[str, ...]]  # key, operator, values


def parse_label_selector(text: str) -> list[Requirement]:
    """`app=web,tier in (a,b),!legacy` as requirements; SelectorError on bad syntax."""
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    index = 0

    def take() -> str:
        nonlocal index
        if index >= len(tokens):
            raise SelectorError("unexpected end of selector")
        index += 1
        return tokens[index - 1]

    while index < len(tokens):
        part = take()
        if part == "!":
            key = take()
            _check_key(key)
            requirements.append((key, "!", ()))
        else:
            key = part
            _check_key(key)
            if index >= len(tokens) or tokens[index] == ",":
                requirements.append((key, "exists", ()))
            else:
                operator = take()
                if operator in ("=", "==", "!="):
                    value = tokens[index] if index < len(tokens) and tokens[index] != "," else ""
                    if value:
                        index += 1
                    _check_value(key, value)
                    requirements.append((key, "!=" if operator == "!=" else "=", (value,)))
                elif operator in ("in", "notin"):
                    if take() != "(":
                        raise SelectorError(f"found '{tokens[index - 1]}', expected: '('")
                    values = []
                    while True:
                        part = take()
                        if part == ")":
                            break
                        if part == ",":
                            continue
                        _check_value(key, part)
                        values.append(part)
                    requirements.append((key, operator, tuple(values)))
                else:
                    raise SelectorError(
                        f"found '{operator}', expected: in, notin, =, ==, !=, gt, lt"
                    )
        if index < len(tokens):
            if tokens[index] != ",":
                raise SelectorError(f"found '{tokens[index]}', expected: ',' or 'end of string'")
            index += 1
            if index >= len(tokens):
                raise SelectorError("found '', expected: identifier after ','")
    return requirements


def _check_key(key: str) -> None:
    if key in ("=", "==", "!=", "(", ")", ",") or not _KEY_RE.match(key) or len(key) > 316:
        raise SelectorError(
            f'invalid label key "{key}": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character"
        )


def _check_value(key: str, value: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(
            f'invalid label value: "{value}": at key: "{key}": a valid label must be an empty '
            "string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
            "end with an alphanumeric character"
        )


def label_matcher(text: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """A predicate over objects, or None when the selector selects everything."""
    if not text:
        return None
    try:
        requirements = parse_label_selector(text)
    except SelectorError as error:
        raise bad_request(f"unable to parse requirement: {error}") from error
    if not requirements:
        return None

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for key, operator, values in requirements:
            present = key in labels
            if operator == "exists" and not present:
                return False
            if operator == "!" and present:
                return False
            if operator in ("=", "in") and (not present or labels[key] not in values):
                return False
            if operator in ("!=", "notin") and present and labels[key] in values:
                return False
        return True

    return matches


_FIELD_GETTERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "metadata.name": lambda o: o["metadata"].get("name", ""),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
}
_POD_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName", ""),
    "status.phase": lambda o: (o.get("status") or {}).get("phase", ""),
}


def field_matcher(text: str | None, kind: str) -> Callable[[dict[str, Any]], bool] | None:
    """`metadata.name=x,metadata.namespace!=y` as a predicate; 400 on unsupported fields."""
    if not text:
        return None
    getters = dict(_FIELD_GETTERS)
    if kind == "Pod":
        getters.update(_POD_FIELDS)
    terms = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        match = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = match.groups()
        if field not in getters:
            raise bad_request(f"field label not supported: {field}")
        terms.append((getters[field], operator != "!=", value))
    if not terms:
        return None

    def matches(obj: dict[str, Any]) -> bool:
        return all((getter(obj) == value) == wanted for getter, wanted, value in terms)

    return matches
