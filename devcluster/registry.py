"""Which resource answers which URL, and each CRD version's (lazily compiled) schema."""

from __future__ import annotations

from pathlib import Path

from .resources import (
    ResourceType,
    builtin_resources,
    default_crd_files,
    load_crds,
    version_priority,
)
from .schema import VersionSchema


class Registry:
    """Built-in kinds plus the CRDs loaded from files, indexed by group/version/plural."""

    def __init__(self, crd_files: list[Path] | None = None) -> None:
        self.crd_files = self.files_for(crd_files)
        self.resources: list[ResourceType] = builtin_resources() + load_crds(self.crd_files)
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_key: dict[str, ResourceType] = {}
        self._schemas: dict[tuple[str, str], VersionSchema] = {}
        for resource in self.resources:
            self._by_key[resource.key] = resource
            for version in resource.versions:
                self._by_path[(resource.group, version, resource.plural)] = resource

    @staticmethod
    def files_for(crd_files: list[Path] | None) -> list[Path]:
        """None means Istio's CRDs shipped in crds/; a list (even empty) is taken as is."""
        return [Path(p) for p in (default_crd_files() if crd_files is None else crd_files)]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> ResourceType | None:
        return self._by_key.get(key)

    def for_api_version(self, api_version: str, kind: str) -> tuple[ResourceType, str] | None:
        group, _, version = api_version.rpartition("/")
        for resource in self.resources:
            if resource.group == group and resource.kind == kind and version in resource.versions:
                return resource, version
        return None

    def schema(self, resource: ResourceType, version: str) -> VersionSchema | None:
        if resource.builtin:
            return None
        key = (resource.key, version)
        schema = self._schemas.get(key)
        if schema is None:
            schema = VersionSchema(resource.schemas.get(version) or {"type": "object"})
            self._schemas[key] = schema
        return schema

    def groups(self) -> dict[str, list[str]]:
        """Group name → served versions, preferred first (core group excluded)."""
        groups: dict[str, list[str]] = {}
        for resource in self.resources:
            if not resource.group:
                continue
            versions = groups.setdefault(resource.group, [])
            for version in resource.versions:
                if version not in versions:
                    versions.append(version)
        return {g: sorted(v, key=version_priority) for g, v in groups.items()}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.resources if r.group == group and version in r.versions]
