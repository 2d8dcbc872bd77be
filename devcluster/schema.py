"""A CRD version's structural schema: pruning, OpenAPI validation and CEL rules.

Compiled lazily on first use (the DestinationRule schema is large and start-up must stay
fast); the jsonschema validator and every CEL program are built once and cached.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from .errors import cause, go_quote

OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
        "selfLink",
    }
)

_COPIED_KEYWORDS = (
    "minimum",
    "maximum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "multipleOf",
)


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """Translate a Kubernetes structural schema (OpenAPI v3 subset) into JSON Schema draft 7."""
    converted: dict[str, Any] = {}
    nullable = bool(node.get("nullable"))
    if node.get("x-kubernetes-int-or-string"):
        converted["type"] = ["integer", "string"] + (["null"] if nullable else [])
    elif "type" in node:
        converted["type"] = [node["type"], "null"] if nullable else node["type"]
    for keyword in _COPIED_KEYWORDS:
        if keyword in node:
            converted[keyword] = node[keyword]
    if "enum" in node:
        converted["enum"] = list(node["enum"]) + ([None] if nullable else [])
    # OpenAPI v3.0 spells exclusive bounds as booleans beside minimum/maximum.
    if node.get("exclusiveMaximum") is True and "maximum" in node:
        converted["exclusiveMaximum"] = converted.pop("maximum")
    if node.get("exclusiveMinimum") is True and "minimum" in node:
        converted["exclusiveMinimum"] = converted.pop("minimum")
    if "properties" in node:
        converted["properties"] = {
            name: to_json_schema(child) for name, child in node["properties"].items()
        }
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        converted["additionalProperties"] = to_json_schema(additional)
    if isinstance(node.get("items"), dict):
        converted["items"] = to_json_schema(node["items"])
    for keyword in ("oneOf", "anyOf", "allOf"):
        if keyword in node and not node.get("x-kubernetes-int-or-string"):
            converted[keyword] = [to_json_schema(branch) for branch in node[keyword]]
    if "not" in node:
        converted["not"] = to_json_schema(node["not"])
    return converted


def child_schema(node: dict[str, Any] | None, segment: str | int) -> tuple[dict | None, str]:
    """The schema below `node` for one path segment, and how the segment prints in a path."""
    if node is None:
        return None, f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    if isinstance(segment, int):
        return node.get("items"), f"[{segment}]"
    properties = node.get("properties") or {}
    if segment in properties:
        return properties[segment], f".{segment}"
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        return additional, f"[{segment}]"
    return None, f".{segment}"


def render_path(root: dict[str, Any], segments: list[str | int]) -> str:
    node: dict | None = root
    rendered = ""
    for segment in segments:
        node, text = child_schema(node, segment)
        rendered += text
    return rendered.lstrip(".")


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


_CEL_CACHE: dict[str, Any] = {}
_CEL_LOCK = threading.Lock()


def _cel_program(rule: str) -> Any:
    program = _CEL_CACHE.get(rule)
    if program is None:
        import celpy

        with _CEL_LOCK:
            environment = celpy.Environment()
            program = environment.program(environment.compile(rule))
            _CEL_CACHE[rule] = program
    return program


class VersionSchema:
    """The openAPIV3Schema of one served CRD version."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._validator: Any = None
        self._lock = threading.Lock()

    # -- pruning ------------------------------------------------------------------------

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop fields the schema does not declare, in place; return their paths."""
        unknown: list[str] = []
        properties = self.raw.get("properties") or {}
        for key in list(obj):
            if key in ("apiVersion", "kind"):
                continue
            if key == "metadata":
                metadata = obj["metadata"]
                if isinstance(metadata, dict):
                    for meta_key in list(metadata):
                        if meta_key not in OBJECT_META_FIELDS:
                            unknown.append(f"metadata.{meta_key}")
                            del metadata[meta_key]
                continue
            if key not in properties and not self.raw.get("x-kubernetes-preserve-unknown-fields"):
                unknown.append(key)
                del obj[key]
                continue
            if key in properties:
                obj[key] = _prune_value(obj[key], properties[key], key, unknown)
                if obj[key] is _DROP:
                    del obj[key]
        return unknown

    # -- validation ---------------------------------------------------------------------

    def _compiled(self) -> Any:
        if self._validator is None:
            from jsonschema import Draft7Validator

            with self._lock:
                if self._validator is None:
                    schema = to_json_schema(self.raw)
                    schema.pop("required", None)
                    self._validator = Draft7Validator(schema)
        return self._validator

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, str]]:
        """Causes (`{reason, field, message}`) for every schema and CEL rule `obj` breaks."""
        causes: list[dict[str, str]] = []
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        errors = sorted(self._compiled().iter_errors(body), key=lambda e: list(e.absolute_path))
        for error in errors:
            causes.extend(self._schema_causes(error))
        for key, child in (self.raw.get("properties") or {}).items():
            if key in body:
                old_value = old.get(key) if old else None
                _check_cel(child, body[key], old_value, old is not None, key, causes)
        return causes

    def _schema_causes(self, error: Any) -> list[dict[str, str]]:
        segments = list(error.absolute_path)
        field = render_path(self.raw, segments)
        value = error.instance
        keyword = error.validator
        expected = error.validator_value
        shown = go_quote(value)
        if keyword == "required":
            missing = [name for name in expected if name not in (value or {})]
            prefix = f"{field}." if field else ""
            return [
                cause("FieldValueRequired", f"{prefix}{name}", "Required value") for name in missing
            ]
        if keyword == "enum":
            supported = ", ".join(go_quote(v) for v in expected if v is not None)
            return [
                cause(
                    "FieldValueNotSupported",
                    field,
                    f"Unsupported value: {shown}: supported values: {supported}",
                )
            ]
        if keyword == "type":
            wanted = expected if isinstance(expected, str) else " or ".join(expected)
            actual = _type_name(value)
            return [
                cause(
                    "FieldValueTypeInvalid",
                    field,
                    f'Invalid value: "{actual}": {field} in body must be of type {wanted}: '
                    f'"{actual}"',
                )
            ]
        if keyword in ("maxItems", "maxProperties"):
            return [
                cause(
                    "FieldValueTooMany",
                    field,
                    f"Too many: {len(value)}: must have at most {expected} items",
                )
            ]
        if keyword == "maxLength":
            return [
                cause(
                    "FieldValueTooLong", field, f"Too long: may not be more than {expected} bytes"
                )
            ]
        details = {
            "maximum": f"should be less than or equal to {expected}",
            "minimum": f"should be greater than or equal to {expected}",
            "exclusiveMaximum": f"should be less than {expected}",
            "exclusiveMinimum": f"should be greater than {expected}",
            "minLength": f"should be at least {expected} chars long",
            "pattern": f"should match '{expected}'",
            "minItems": f"should have at least {expected} items",
            "minProperties": f"should have at least {expected} properties",
            "multipleOf": f"should be a multiple of {expected}",
            "uniqueItems": "shouldn't contain duplicates",
            "oneOf": "must validate one and only one schema (oneOf)",
            "anyOf": "must validate at least one schema (anyOf)",
            "allOf": "must validate all the schemas (allOf)",
            "not": "must not validate the schema (not)",
        }
        if keyword in ("minItems", "minProperties"):
            shown = str(len(value))
        elif isinstance(value, dict | list):
            shown = f'"{_type_name(value)}"'
        detail = details.get(keyword, error.message)
        return [
            cause("FieldValueInvalid", field, f"Invalid value: {shown}: {field} in body {detail}")
        ]


_DROP = object()


def _prune_value(value: Any, node: dict[str, Any], path: str, unknown: list[str]) -> Any:
    if value is None:
        return None if node.get("nullable") else _DROP
    if isinstance(value, dict):
        if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
            return value
        properties = node.get("properties")
        additional = node.get("additionalProperties")
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        for key in list(value):
            if properties is not None and key in properties:
                pruned = _prune_value(value[key], properties[key], f"{path}.{key}", unknown)
            elif isinstance(additional, dict):
                pruned = _prune_value(value[key], additional, f"{path}.{key}", unknown)
            elif additional is True or preserve:
                continue
            else:
                unknown.append(f"{path}.{key}")
                pruned = _DROP
            if pruned is _DROP:
                del value[key]
            else:
                value[key] = pruned
        return value
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        items = node["items"]
        kept = []
        for index, item in enumerate(value):
            pruned = _prune_value(item, items, f"{path}[{index}]", unknown)
            if pruned is not _DROP:
                kept.append(pruned)
        return kept
    return value


def _check_cel(
    node: dict[str, Any],
    value: Any,
    old_value: Any,
    has_old: bool,
    path: str,
    causes: list[dict[str, str]],
) -> None:
    if value is None:
        return
    for rule in node.get("x-kubernetes-validations") or ():
        transition = "oldSelf" in rule["rule"]
        if transition and (not has_old or old_value is None):
            continue
        _evaluate_rule(rule, node, value, old_value if transition else None, path, causes)
    if isinstance(value, dict):
        properties = node.get("properties") or {}
        additional = node.get("additionalProperties")
        old_map = old_value if isinstance(old_value, dict) else {}
        for key, child_value in value.items():
            if key in properties:
                child, text = properties[key], f"{path}.{key}"
            elif isinstance(additional, dict):
                child, text = additional, f"{path}[{key}]"
            else:
                continue
            _check_cel(child, child_value, old_map.get(key), key in old_map, text, causes)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _check_cel(node["items"], item, None, False, f"{path}[{index}]", causes)


def _evaluate_rule(
    rule: dict[str, Any],
    node: dict[str, Any],
    value: Any,
    old_value: Any,
    path: str,
    causes: list[dict[str, str]],
) -> None:
    from celpy import CELEvalError, json_to_cel

    activation = {"self": json_to_cel(value)}
    if old_value is not None:
        activation["oldSelf"] = json_to_cel(old_value)
    message = rule.get("message") or f"failed rule: {rule['rule']}"
    try:
        result = _cel_program(rule["rule"]).evaluate(activation)
    except Exception as error:  # CEL runtime errors (int("x"), missing keys) fail the rule
        result = False
        if not rule.get("message"):
            message = f"failed rule: {rule['rule']}: {error}"
    if isinstance(result, CELEvalError):
        result = False
    if bool(result):
        return
    if rule.get("messageExpression"):
        # kube falls back to the static message when the expression fails.
        with contextlib.suppress(Exception):
            message = str(_cel_program(rule["messageExpression"]).evaluate(activation))
    field = path + (rule.get("fieldPath") or "")
    type_name = node.get("type") or _type_name(value)
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason == "FieldValueRequired":
        text = f"Required value: {message}"
    elif reason == "FieldValueForbidden":
        text = f"Forbidden: {message}"
    else:
        text = f'Invalid value: "{type_name}": {message}'
    causes.append(cause(reason, field, text))
