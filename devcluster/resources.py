"""The resource types the double serves: the built-in kinds meshui reads and every loaded CRD."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CRD_DIR = Path(__file__).parent.parent / "crds"

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NAMESPACE_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(eq=False)
class ResourceType:
    """One REST resource (`pods`, `peerauthentications.security.istio.io`) and how it behaves."""

    group: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]  # served versions, preferred first
    storage_version: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    builtin: bool = True
    has_generation: bool = True
    # Pods and namespaces answer a DELETE with the object; everything else with a Status.
    delete_returns_object: bool = False
    name_rule: str = "subdomain"  # subdomain | label | dns1035
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status_subresource: bool = False
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def qualified_plural(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def api_version(self, version: str | None = None) -> str:
        version = version or self.storage_version
        return f"{self.group}/{version}" if self.group else version


def _builtin(group: str, version: str, plural: str, kind: str, **options: Any) -> ResourceType:
    return ResourceType(
        group=group,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=options.pop("namespaced", True),
        versions=(version,),
        storage_version=version,
        **options,
    )


def builtin_resources() -> list[ResourceType]:
    return [
        _builtin(
            "",
            "v1",
            "namespaces",
            "Namespace",
            namespaced=False,
            short_names=("ns",),
            has_generation=False,
            delete_returns_object=True,
            name_rule="label",
            verbs=NAMESPACE_VERBS,
        ),
        _builtin(
            "",
            "v1",
            "pods",
            "Pod",
            short_names=("po",),
            categories=("all",),
            delete_returns_object=True,
        ),
        _builtin(
            "",
            "v1",
            "services",
            "Service",
            short_names=("svc",),
            categories=("all",),
            has_generation=False,
            name_rule="dns1035",
        ),
        _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",), has_generation=False),
        # Istio's remote secrets (istioctl create-remote-secret) live in the primary cluster.
        _builtin("", "v1", "secrets", "Secret", has_generation=False),
        _builtin(
            "apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",)
        ),
        _builtin(
            "apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",)
        ),
        _builtin("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",)),
        _builtin(
            "apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",)
        ),
        _builtin("batch", "v1", "jobs", "Job", categories=("all",)),
        _builtin("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=("all",)),
    ]


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first."""
    match = _VERSION_RE.match(version)
    if not match:
        return (3, 0, 0)
    major, stage, minor = match.groups()
    stage_rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (stage_rank, -int(major), -int(minor or 0))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "devcluster"


def load_crd_documents(path: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinition documents of one YAML or JSON file.

    Parsed YAML is cached as JSON keyed by the file's content hash: even with the C loader
    the 320 KB DestinationRule CRD is most of the start-up time, JSON takes a tenth.
    """
    raw = Path(path).read_bytes()
    cached = _cache_dir() / f"{hashlib.sha256(raw).hexdigest()}.json"
    try:
        documents = json.loads(cached.read_bytes())
    except (OSError, ValueError):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        documents = list(yaml.load_all(raw, Loader=loader))  # noqa: S506 - safe loader
        with contextlib.suppress(OSError, TypeError, ValueError):  # a cache is optional
            cached.parent.mkdir(parents=True, exist_ok=True)
            scratch = cached.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(json.dumps(documents))
            scratch.replace(cached)
    return [
        document
        for document in documents
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"
    ]


def resource_from_crd(crd: dict[str, Any]) -> ResourceType:
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    served.sort(key=lambda v: version_priority(v["name"]))
    storage = next(
        (v["name"] for v in spec["versions"] if v.get("storage")), spec["versions"][0]["name"]
    )
    return ResourceType(
        group=spec["group"],
        plural=names["plural"],
        singular=names.get("singular", names["kind"].lower()),
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=tuple(v["name"] for v in served),
        storage_version=storage,
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        builtin=False,
        schemas={
            v["name"]: v.get("schema", {}).get("openAPIV3Schema", {"type": "object"})
            for v in served
        },
        printer_columns={v["name"]: v.get("additionalPrinterColumns", []) for v in served},
        status_subresource=any("status" in (v.get("subresources") or {}) for v in served),
    )


def default_crd_files() -> list[Path]:
    return sorted(DEFAULT_CRD_DIR.glob("*.yaml"))


def load_crds(paths: list[Path] | tuple[Path, ...]) -> list[ResourceType]:
    resources = []
    for path in paths:
        for crd in load_crd_documents(Path(path)):
            resources.append(resource_from_crd(crd))
    return resources
