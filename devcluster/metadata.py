"""ObjectMeta checks every kind gets: names, labels and annotations, in kube's words."""

from __future__ import annotations

import re
from typing import Any

from .errors import cause

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + ")*"
DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = "(" + QUALIFIED_NAME + ")?"

_LABEL_RE = re.compile(f"^{DNS1123_LABEL}$")
_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN}$")
_DNS1035_RE = re.compile(f"^{DNS1035_LABEL}$")
_QUALIFIED_RE = re.compile(f"^{QUALIFIED_NAME}$")
_LABEL_VALUE_RE = re.compile(f"^{LABEL_VALUE}$")

SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{DNS1123_SUBDOMAIN}')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    f"used for validation is '{DNS1123_LABEL}')"
)
DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    f"'abc-123', regex used for validation is '{DNS1035_LABEL}')"
)
QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{QUALIFIED_NAME}')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value', "
    f" or '12345', regex used for validation is '{LABEL_VALUE}')"
)


def name_problems(name: str, rule: str) -> list[str]:
    """Why `name` is not a valid object name under `rule` (subdomain, label or dns1035)."""
    limit = 253 if rule == "subdomain" else 63
    problems = []
    if len(name) > limit:
        problems.append(f"must be no more than {limit} characters")
    pattern, message = {
        "subdomain": (_SUBDOMAIN_RE, SUBDOMAIN_MESSAGE),
        "label": (_LABEL_RE, LABEL_MESSAGE),
        "dns1035": (_DNS1035_RE, DNS1035_MESSAGE),
    }[rule]
    if not pattern.match(name):
        problems.append(message)
    return problems


def qualified_name_problems(key: str) -> list[str]:
    """Why `key` is not a valid label or annotation key (`prefix/name`)."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + QUALIFIED_MESSAGE.removeprefix("name part ")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    problems = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        elif not _SUBDOMAIN_RE.match(prefix) or len(prefix) > 253:
            problems.append("prefix part " + SUBDOMAIN_MESSAGE)
    if not name:
        problems.append("name part must be non-empty")
    else:
        if len(name) > 63:
            problems.append("name part must be no more than 63 characters")
        if not _QUALIFIED_RE.match(name):
            problems.append(QUALIFIED_MESSAGE)
    return problems


def _quote(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _string_map_causes(
    metadata: dict[str, Any], field: str, *, label_values: bool
) -> list[dict[str, str]]:
    """Labels and annotations: qualified-name keys, string values (label values: 63, regex)."""
    path = f"metadata.{field}"
    mapping = metadata.get(field) or {}
    if not isinstance(mapping, dict):
        return [cause("FieldValueTypeInvalid", path, "Invalid value: must be a map")]
    causes = []
    for key, value in mapping.items():
        for problem in qualified_name_problems(key):
            causes.append(
                cause("FieldValueInvalid", path, f"Invalid value: {_quote(key)}: {problem}")
            )
        if not isinstance(value, str):
            causes.append(
                cause("FieldValueTypeInvalid", f"{path}[{key}]", "Invalid value: must be a string")
            )
            continue
        if not label_values:
            continue
        if len(value) > 63:
            problem = "must be no more than 63 characters"
            causes.append(
                cause("FieldValueInvalid", path, f"Invalid value: {_quote(value)}: {problem}")
            )
        if not _LABEL_VALUE_RE.match(value):
            causes.append(
                cause(
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {_quote(value)}: {LABEL_VALUE_MESSAGE}",
                )
            )
    return causes


def metadata_causes(metadata: Any, name_rule: str) -> list[dict[str, str]]:
    """Causes for a malformed ObjectMeta: name, labels, annotations, finalizers."""
    if not isinstance(metadata, dict):
        return [cause("FieldValueRequired", "metadata", "Required value")]
    causes: list[dict[str, str]] = []
    name = metadata.get("name")
    if not name:
        causes.append(
            cause(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    elif not isinstance(name, str):
        causes.append(
            cause("FieldValueInvalid", "metadata.name", "Invalid value: must be a string")
        )
    else:
        for problem in name_problems(name, name_rule):
            causes.append(
                cause(
                    "FieldValueInvalid",
                    "metadata.name",
                    f"Invalid value: {_quote(name)}: {problem}",
                )
            )
    causes += _string_map_causes(metadata, "labels", label_values=True)
    causes += _string_map_causes(metadata, "annotations", label_values=False)
    finalizers = metadata.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        causes.append(
            cause("FieldValueTypeInvalid", "metadata.finalizers", "Invalid value: must be strings")
        )
    return causes
