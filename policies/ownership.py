"""Who owns a PeerAuthentication's mTLS mode: meshui, a person's tool, or a reconciler.

A fact about the object, read from what the API server records on it: the managers of
`.spec.mtls.mode` in `metadata.managedFields` (manager, operation, time), Argo CD's tracking
annotation and label, Flux's labels and Helm's. `policy_ownership` is the one rule; it takes
the raw object (as `kubectl get -o json` prints it) and the names of the reconcilers, so the
sync (from the snapshot) and the change services (from the live object, at apply time)
classify alike. Standard library only, like the engine (an import-linter contract says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

MODE_FIELD = ".spec.mtls.mode"
# What the API server calls whoever owned an untracked object's fields before its first apply.
BEFORE_FIRST_APPLY = "before-first-apply"

# Field managers whose writes come back by themselves: a GitOps controller re-applies within
# minutes, Helm and Terraform at their next run. Names as they appear in managedFields:
# Argo CD applies as "argocd-controller" (common.ArgoCDSSAManager, client- and server-side);
# older releases wrote without a manager, so the API server named them after the
# controller's User-Agent; Flux's kustomize-controller and helm-controller apply as
# themselves; the Helm CLI is "helm" (pkg/kube ManagedFieldsManager); Terraform's
# kubernetes_manifest applies as "Terraform" (its field_manager default) and Terraform's
# client-go writes are named after its "HashiCorp/1.0 Terraform" User-Agent.
DEFAULT_RECONCILER_MANAGERS = (
    "argocd-controller",
    "argocd-application-controller",
    "kustomize-controller",
    "helm-controller",
    "helm",
    "Terraform",
    "HashiCorp",
)
_TOOLS = {
    "argocd-controller": "Argo CD",
    "argocd-application-controller": "Argo CD",
    "kustomize-controller": "Flux",
    "helm-controller": "Flux",
    "helm": "Helm",
    "Terraform": "Terraform",
    "HashiCorp": "Terraform",
}

# Where a reconciler says it keeps the object's source.
ARGO_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
ARGO_INSTANCE_LABEL = "app.kubernetes.io/instance"  # Argo CD's default tracking label
FLUX_KUSTOMIZATION_LABELS = (
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
)
FLUX_HELM_RELEASE_LABELS = ("helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace")
HELM_MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
HELM_RELEASE_ANNOTATIONS = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace")


class OwnerKind(StrEnum):
    """Who a namespace's policy belongs to, as the pages and the toggle say it."""

    NONE = "none"  # no policy yet: meshui would create it
    MESHUI = "meshui"
    PERSON = "person"  # kubectl and other tools a person runs: meshui may take the mode over
    RECONCILER = "reconciler"  # GitOps, Helm, Terraform: a change here would be reverted

    @property
    def label(self) -> str:
        return {
            "none": "no policy yet",
            "meshui": "meshui",
            "person": "a person's tool",
            "reconciler": "a reconciler",
        }[self.value]


@dataclass(frozen=True)
class PolicyOwnership:
    """Who manages a policy's mode, since when, and where a reconciler keeps its source."""

    kind: OwnerKind
    manager: str = ""  # the mode's field manager ("" when nobody is recorded)
    operation: str = ""  # Update (create, edit, patch, client-side apply) or Apply
    changed_at: str = ""  # RFC 3339: that manager's last change ("" when not recorded)
    tool: str = ""  # "Argo CD", "Flux", "Helm", "Terraform", "kubectl" or ""
    source: str = ""  # e.g. "Argo CD application shop" ("" when the object does not say)
    rule: str = ""  # which rule decided, for the audit log and the tests

    @property
    def changed_on(self) -> str:
        """The day of the last change, as the pages print it ("2025-06-01")."""
        return self.changed_at[:10]

    @property
    def reverts(self) -> bool:
        return self.kind == OwnerKind.RECONCILER

    def as_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PolicyOwnership:
        data = data or {}
        try:
            kind = OwnerKind(data.get("kind") or OwnerKind.NONE)
        except ValueError:
            kind = OwnerKind.NONE
        fields = {k: str(data.get(k) or "") for k in cls.__dataclass_fields__ if k != "kind"}
        return cls(kind, **fields)


@dataclass(frozen=True)
class _Manager:
    manager: str
    operation: str
    time: str


def policy_ownership(
    obj: dict[str, Any] | None, *, reconciler_managers: Iterable[str], own_manager: str
) -> PolicyOwnership:
    """Who owns `obj`'s `.spec.mtls.mode`: the rules below, first match wins.

    1. no object: nobody yet (meshui would create it);
    2. Argo CD's tracking annotation, Flux's Kustomization or HelmRelease labels: that
       reconciler, whoever last set the mode (it syncs the whole object back);
    3. a reconciler among the mode's managers;
    4. Helm's managed-by label, then Argo CD's instance label: that reconciler;
    5. only `own_manager` manages the mode: meshui;
    6. anyone else manages it (kubectl's managers, scripts, before-first-apply): a person's
       tool, the latest of them;
    7. no managedFields at all: a person's tool, "before-first-apply" (what an apply meets);
    8. nobody manages the mode (it is unset): the same rules over whoever made the spec.
    A reconciler's marks count only when the reconciler list names its managers.
    """
    if obj is None:
        return PolicyOwnership(OwnerKind.NONE, rule="no policy")
    reconcilers = frozenset(reconciler_managers)
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    entries = [e for e in metadata.get("managedFields") or () if isinstance(e, dict)]
    mode_managers = [
        _manager(e) for e in entries if _owns(e.get("fieldsV1"), "spec", "mtls", "mode")
    ]
    if not mode_managers:
        mode_managers = [_manager(e) for e in entries if _owns(e.get("fieldsV1"), "spec")]
    others = [m for m in mode_managers if m.manager != own_manager]
    newest = max(others or mode_managers, key=lambda m: m.time, default=None)

    def owned(kind: OwnerKind, rule: str, by: _Manager | None = newest, **words: str):
        by = by or _Manager("", "", "")
        tool = words.pop("tool", "") or _TOOLS.get(by.manager, "")
        if not tool and by.manager.startswith("kubectl"):
            tool = "kubectl"
        return PolicyOwnership(kind, by.manager, by.operation, by.time, tool, rule=rule, **words)

    marked = _reconciler_mark(labels, annotations, reconcilers)
    if marked is not None:
        tool, source, rule = marked
        return owned(OwnerKind.RECONCILER, rule, tool=tool, source=source)
    labelled = _reconciler_label(labels, annotations, reconcilers)
    reconciling = [m for m in others if m.manager in reconcilers]
    if reconciling:
        by = max(reconciling, key=lambda m: m.time)
        tool = _TOOLS.get(by.manager, "")
        # The labels may still say where its source is, when they are the same tool's.
        source = labelled[1] if labelled and labelled[0] == tool else ""
        return owned(OwnerKind.RECONCILER, "a reconciler manages the mode", by, source=source)
    if labelled is not None:
        tool, source, rule = labelled
        return owned(OwnerKind.RECONCILER, rule, tool=tool, source=source)
    if mode_managers and not others:
        return owned(OwnerKind.MESHUI, "meshui manages the mode")
    if others:
        return owned(OwnerKind.PERSON, "a person's tool manages the mode")
    if not entries:
        untracked = _Manager(BEFORE_FIRST_APPLY, "Update", "")
        return owned(OwnerKind.PERSON, "no managedFields: before-first-apply", untracked)
    return owned(OwnerKind.PERSON, "nobody manages the mode", None)


def _manager(entry: dict[str, Any]) -> _Manager:
    return _Manager(
        str(entry.get("manager") or ""),
        str(entry.get("operation") or ""),
        str(entry.get("time") or ""),
    )


def _owns(fields_v1: Any, *path: str) -> bool:
    """Does a FieldsV1 tree hold the field at `path` (the field itself or anything under it)?"""
    node = fields_v1
    for segment in path:
        if not isinstance(node, dict) or f"f:{segment}" not in node:
            return False
        node = node[f"f:{segment}"]
    return True


def _reconciler_mark(
    labels: dict[str, str], annotations: dict[str, str], reconcilers: frozenset[str]
) -> tuple[str, str, str] | None:
    """(tool, source, rule) from the marks a reconciler puts on everything it syncs."""
    tracking = annotations.get(ARGO_TRACKING_ANNOTATION)
    if tracking and _counts("Argo CD", reconcilers):
        # "<app>:<group>/<kind>:<namespace>/<name>"; an app outside Argo CD's own namespace
        # is written "<app namespace>_<app>".
        application = tracking.split(":", 1)[0].replace("_", "/", 1)
        return "Argo CD", f"Argo CD application {application}", "Argo CD tracking annotation"
    for kind, (name_label, namespace_label) in (
        ("Kustomization", FLUX_KUSTOMIZATION_LABELS),
        ("HelmRelease", FLUX_HELM_RELEASE_LABELS),
    ):
        if labels.get(name_label) and _counts("Flux", reconcilers):
            where = "/".join(v for v in (labels.get(namespace_label), labels[name_label]) if v)
            return "Flux", f"Flux {kind} {where}", f"Flux {kind} labels"
    return None


def _reconciler_label(
    labels: dict[str, str], annotations: dict[str, str], reconcilers: frozenset[str]
) -> tuple[str, str, str] | None:
    """(tool, source, rule) from labels other tools use too, so weaker than the managers."""
    if labels.get(HELM_MANAGED_BY_LABEL) == "Helm":
        if not _counts("Helm", reconcilers):
            return None
        name, namespace = (annotations.get(key) for key in HELM_RELEASE_ANNOTATIONS)
        release = "/".join(v for v in (namespace, name or labels.get(ARGO_INSTANCE_LABEL)) if v)
        return "Helm", f"Helm release {release}" if release else "", "Helm managed-by label"
    instance = labels.get(ARGO_INSTANCE_LABEL)
    if instance and _counts("Argo CD", reconcilers):
        return "Argo CD", f"Argo CD application {instance}", "Argo CD instance label"
    return None


def _counts(tool: str, reconcilers: frozenset[str]) -> bool:
    """A tool's marks count while the reconciler list names one of its managers."""
    return any(_TOOLS.get(manager) == tool for manager in reconcilers)
