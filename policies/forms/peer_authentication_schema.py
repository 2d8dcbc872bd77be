"""The PeerAuthentication rules as Istio's CRD states them, read from crds/ rather than re-typed.

The mode enum, the structural schema (via jsonschema) and the CEL `x-kubernetes-validations`
(via cel-python) come from the CRD file we ship; the API server applies exactly these. What
the CRD does not carry, Kubernetes' own syntax for object names and label keys and values
(apimachinery's validation), is spelled out here once.
"""

import re
from functools import lru_cache
from pathlib import Path

import celpy
import jsonschema
import yaml
from django.conf import settings

CRD_PATH = Path(settings.BASE_DIR) / "crds" / "peerauthentications.security.istio.io.yaml"
CRD_VERSION = "v1"

# apimachinery/pkg/util/validation: IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName,
# IsValidLabelValue. Kubernetes applies these to every object, so the CRD does not repeat them.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@lru_cache(maxsize=1)
def peer_authentication_schema() -> dict:
    """The openAPIV3Schema of the served PeerAuthentication version meshui writes."""
    crd = yaml.safe_load(CRD_PATH.read_text())
    for version in crd["spec"]["versions"]:
        if version["name"] == CRD_VERSION:
            return version["schema"]["openAPIV3Schema"]
    raise LookupError(f"{CRD_PATH.name} serves no {CRD_VERSION} version")


def mode_choices() -> tuple[str, ...]:
    """The modes the CRD accepts for spec.mtls.mode, in the CRD's order (UNSET first)."""
    spec = peer_authentication_schema()["properties"]["spec"]
    return tuple(spec["properties"]["mtls"]["properties"]["mode"]["enum"])


def label_value_max_length() -> int:
    spec = peer_authentication_schema()["properties"]["spec"]
    match_labels = spec["properties"]["selector"]["properties"]["matchLabels"]
    return int(match_labels["additionalProperties"]["maxLength"])


@lru_cache(maxsize=64)
def _cel_program(rule: str):
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def _cel_holds(rule: str, value) -> bool:
    try:
        return bool(_cel_program(rule).evaluate({"self": celpy.json_to_cel(value)}))
    except Exception:  # noqa: BLE001 - the API server treats a rule that cannot evaluate as failed
        return False


def _cel_failures(schema: dict, value, path: str) -> list[tuple[str, str]]:
    """Every x-kubernetes-validations rule under `schema` that `value` breaks, with its path."""
    failures = [
        (path, rule.get("message") or f"failed rule: {rule['rule']}")
        for rule in schema.get("x-kubernetes-validations", ())
        if not _cel_holds(rule["rule"], value)
    ]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            child_schema = properties.get(key) or (extra if isinstance(extra, dict) else None)
            if child_schema is not None:
                child_path = f"{path}.{key}" if key in properties else f"{path}[{key}]"
                failures += _cel_failures(child_schema, child, child_path)
    return failures


def spec_problems(spec: dict) -> list[tuple[str, str]]:
    """(field path, message) for everything the CRD rejects in a PeerAuthentication spec."""
    spec_schema = peer_authentication_schema()["properties"]["spec"]
    problems = []
    for error in jsonschema.Draft7Validator(spec_schema).iter_errors(spec):
        where = ".".join(str(part) for part in ("spec", *error.absolute_path))
        problems.append((where, error.message))
    if not problems:
        problems += _cel_failures(spec_schema, spec, "spec")
    return problems


def object_name_problem(name: str) -> str | None:
    """Why `name` is not a valid object name (DNS-1123 subdomain), or None."""
    if len(name) > 253:
        return "must be no more than 253 characters"
    if not DNS1123_SUBDOMAIN.match(name):
        return (
            "must be lower case letters, digits, '-' or '.', and start and end with a letter "
            "or digit (DNS-1123)"
        )
    return None


def namespace_name_problem(name: str) -> str | None:
    """Why `name` is not a valid namespace name (DNS-1123 label), or None."""
    if len(name) > 63:
        return "must be no more than 63 characters"
    if not DNS1123_LABEL.match(name):
        return (
            "must be lower case letters, digits or '-', and start and end with a letter "
            "or digit (DNS-1123 label)"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a Kubernetes label key ([prefix/]name), or None."""
    if "*" in key:
        return "wildcard not allowed in label key match"
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "the prefix before '/' must not be empty"
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix {prefix!r} must be a DNS-1123 subdomain"
    if not name:
        return "key must not be empty"
    if len(name) > 63:
        return f"name part {name!r} must be no more than 63 characters"
    if not QUALIFIED_NAME_PART.match(name):
        return (
            f"name part {name!r} must be letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a Kubernetes label value, or None."""
    if "*" in value:
        return "wildcard not allowed in label value match"
    if len(value) > label_value_max_length():
        return f"must be no more than {label_value_max_length()} characters"
    if not LABEL_VALUE.match(value):
        return (
            "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return None
