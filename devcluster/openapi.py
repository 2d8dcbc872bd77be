"""OpenAPI v3 documents, enough for kubectl to find server-side field validation.

kubectl (1.27+) looks up a kind in `/openapi/v3/<group-version>`; when the kind is there
with `x-kubernetes-group-version-kind`, it sends `fieldValidation=Strict` and leaves
validation to the server instead of demanding `--validate=false`.
"""

from __future__ import annotations

from typing import Any

from .registry import Registry
from .resources import ResourceType


def group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document(registry: Registry) -> dict[str, Any]:
    paths = {}
    for resource in registry.resources:
        for version in resource.versions:
            path = group_version_path(resource.group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}"}
    return {"paths": paths}


def _schema_name(resource: ResourceType, version: str) -> str:
    reversed_group = (
        ".".join(reversed(resource.group.split("."))) if resource.group else "io.k8s.api.core"
    )
    return f"{reversed_group}.{version}.{resource.kind}"


def _schema(resource: ResourceType, version: str) -> dict[str, Any]:
    schema: dict[str, Any] = dict(resource.schemas.get(version) or {})
    if not schema:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = {
        **schema,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            **(schema.get("properties") or {}),
        },
    }
    schema["x-kubernetes-group-version-kind"] = [
        {"group": resource.group, "version": version, "kind": resource.kind}
    ]
    return schema


def _operation(resource: ResourceType, version: str, action: str) -> dict[str, Any]:
    parameters = [
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        {
            "name": "fieldValidation",
            "in": "query",
            "schema": {"type": "string", "uniqueItems": True},
        },
    ]
    return {
        "operationId": f"{action}{resource.kind}",
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        # kubectl reads the kind from the PATCH operation to decide on server-side validation.
        "x-kubernetes-group-version-kind": {
            "group": resource.group,
            "version": version,
            "kind": resource.kind,
        },
    }


def group_version_document(registry: Registry, path: str) -> dict[str, Any] | None:
    """The document for `api/v1` or `apis/<group>/<version>`, or None when nothing is served."""
    parts = path.split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    prefix = "/" + group_version_path(group, version)
    for resource in resources:
        collection = (
            f"{prefix}/namespaces/{{namespace}}/{resource.plural}"
            if resource.namespaced
            else f"{prefix}/{resource.plural}"
        )
        paths[collection] = {"post": _operation(resource, version, "create")}
        paths[collection + "/{name}"] = {
            "put": _operation(resource, version, "replace"),
            "patch": _operation(resource, version, "patch"),
        }
        schemas[_schema_name(resource, version)] = _schema(resource, version)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-devcluster"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
