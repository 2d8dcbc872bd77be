"""Changes that fail, in words: the cluster's errors as sentences a person can act on."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from policies import cluster
from policies.cluster.errors import (
    ClusterError,
    Conflict,
    Forbidden,
    Invalid,
    IstioNotInstalled,
    NotFound,
    Unauthorized,
    Unavailable,
)
from policies.errors import MeshuiError
from policies.kinds import RESOURCE_NAMES
from policies.models import AuditEntry
from policies.selectors.sync import namespace_last_seen
from policies.services.changes.plans import ChangePlan, manifests_yaml


@dataclass(eq=False)
class ChangeFailure(MeshuiError):
    """A change the cluster (or meshui) refused, in words, with what the page needs to help."""

    message: str
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    field_manager_conflicts: list[dict] = field(default_factory=list)  # {field, manager}
    current_object: dict | None = None  # the state now, after a 409
    current_resource_version: str = ""
    current_name: str = ""  # the object a confirm would now apply to (the toggle's target)
    status: int = 0
    entry: AuditEntry | None = None
    # The toggle's: who manages the mode in the cluster, and whether this user may take it
    # over (a services.changes.takeover.TakeOver).
    takeover: object | None = None

    def __str__(self) -> str:
        return self.message

    @property
    def current_yaml(self) -> str:
        return manifests_yaml([self.current_object]) if self.current_object else ""

    @property
    def can_be_forced(self) -> bool:
        return bool(self.field_manager_conflicts)


class PartialChange(ChangeFailure):
    """The first object of a pair was applied, the second was not: retry or roll back."""


_FORBIDDEN_WORDS = re.compile(r'cannot (\w+) resource "([^"]+)" in API group "([^"]*)"')


def describe_cluster_error(
    error: ClusterError, *, verb: str, kind: str, namespace: str, name: str
) -> ChangeFailure:
    """A ClusterError as a sentence a person can act on, with form-field errors for 422."""
    target = f"{kind} {namespace}/{name}"
    said = f" The cluster said: {error.message}" if error.message else ""
    if isinstance(error, Forbidden):
        found = _FORBIDDEN_WORDS.search(error.message or "")
        if found:
            verb_said, resource, group = found.groups()
            resource = f"{resource}.{group}" if group else resource
        else:
            verb_said, resource = verb, RESOURCE_NAMES.get(kind, kind)
        return ChangeFailure(
            f"meshui's service account is not allowed to {verb_said} {resource} in namespace "
            f"{namespace} (Kubernetes RBAC). Ask a cluster admin to grant it the "
            f'"{verb_said}" verb on {resource}.{said}',
            status=403,
        )
    if isinstance(error, Unauthorized):
        return ChangeFailure(
            f"The cluster did not accept meshui's credentials (401).{said}", status=401
        )
    if isinstance(error, IstioNotInstalled):
        return ChangeFailure(
            f"This cluster does not serve {kind}: Istio is not installed (or its CRDs are "
            f"missing), so meshui cannot {verb} {target}.",
            status=404,
        )
    if isinstance(error, NotFound):
        if f'namespaces "{namespace}" not found' in (error.message or ""):
            return ChangeFailure(_namespace_missing_words(namespace), status=404)
        if "the server could not find the requested resource" in (error.message or "").lower():
            return ChangeFailure(
                f"This cluster does not serve {kind}: Istio is not installed (or its CRDs are "
                f"missing).{said}",
                status=404,
            )
        return ChangeFailure(f"{target} does not exist (any more).{said}", status=404)
    if isinstance(error, Conflict):
        conflicts = [
            {"field": cause.get("field", ""), "manager": _conflict_manager(cause)}
            for cause in error.causes
            if cause.get("reason") == "FieldManagerConflict"
        ]
        if conflicts:
            owned = "; ".join(f"{c['field']} is owned by {c['manager']}" for c in conflicts)
            return ChangeFailure(
                f"Another tool manages fields of {target}: {owned}. Applying would take them "
                "over, which needs your explicit go-ahead.",
                field_manager_conflicts=conflicts,
                status=409,
            )
        return ChangeFailure(
            f"{target} changed since you looked at it, so meshui did not {verb} it. "
            f"Its current state is shown below; review it and try again.{said}",
            status=409,
        )
    if isinstance(error, Invalid):
        field_errors: dict[str, list[str]] = defaultdict(list)
        for cause in error.causes:
            field_errors[cause.get("field", "")].append(cause.get("message", ""))
        return ChangeFailure(
            f"The cluster rejected {target}.{said}",
            field_errors=dict(field_errors),
            status=error.status or 422,
        )
    if isinstance(error, Unavailable):
        return ChangeFailure(
            f"The cluster did not answer while meshui tried to {verb} {target}; nothing is "
            f"known to have changed. Try again in a moment.{said}",
            status=error.status,
        )
    return ChangeFailure(f"meshui could not {verb} {target}.{said}", status=error.status)


def _conflict_manager(cause: dict) -> str:
    # The API server words it: conflict with "kubectl-client-side-apply" using v1: .spec.mtls.mode
    found = re.search(r'conflict with "([^"]+)"', cause.get("message", ""))
    return found.group(1) if found else cause.get("message", "another field manager")


def plan_verb(plan: ChangePlan) -> str:
    return "delete" if plan.delete else "patch"


def failure_for_plan(
    plan: ChangePlan, error: ClusterError, manifest: dict | None = None
) -> ChangeFailure:
    if plan.delete:
        kind, namespace, name, _rv = plan.delete
    else:
        manifest = manifest or plan.manifests[0]
        kind = manifest["kind"]
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    failure = describe_cluster_error(
        error, verb=plan_verb(plan), kind=kind, namespace=namespace, name=name
    )
    if isinstance(error, Conflict) and not failure.field_manager_conflicts:
        failure.current_object = current_or_none(kind, namespace, name)
        failure.current_resource_version = (
            (failure.current_object or {}).get("metadata") or {}
        ).get("resourceVersion", "")
    return failure


def current_or_none(kind: str, namespace: str, name: str) -> dict | None:
    try:
        current = cluster.object_get(kind, namespace, name)
    except ClusterError:
        return None
    (current.get("metadata") or {}).pop("managedFields", None)
    return current


def _namespace_missing_words(namespace: str) -> str:
    """A namespace the cluster does not have: deleted since meshui saw it, or never there."""
    seen = namespace_last_seen(namespace)
    if seen is None:
        return (
            f"Namespace {namespace} does not exist in the cluster, and meshui has never seen "
            "it: check the name, or create the namespace first."
        )
    return (
        f"Namespace {namespace} no longer exists in the cluster: meshui last saw it in the "
        f"snapshot of {seen:%Y-%m-%d %H:%M} UTC, so it was deleted since."
    )
