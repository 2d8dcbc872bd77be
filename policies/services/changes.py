"""Changing posture: plan a change, preview it (impact, YAML, kubectl, server dry run), apply it.

Every change goes to the cluster through the gateway with server-side apply as field manager
"meshui"; meshui's database only records what was attempted (the audit log) and what to undo
later (timed restores). Each public service checks the caller's role itself and writes an
audit entry for every attempt, whatever happens: denied, dry run, conflict, failed, applied.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import zlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import yaml
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from policies import cluster, roles
from policies.cluster_errors import (
    ClusterError,
    Conflict,
    Forbidden,
    Invalid,
    IstioNotInstalled,
    NotFound,
    Unauthorized,
    Unavailable,
)
from policies.models import (
    AuditEntry,
    PolicyRecord,
    ServiceRecord,
    Snapshot,
    TimedRestore,
)
from policies.models import WorkloadPosture as WorkloadRow
from policies.selectors.sync import snapshot_current
from policies.services.audit import AuditAction, audit_entry_record

logger = logging.getLogger(__name__)

PEER_AUTHENTICATION = "PeerAuthentication"
DESTINATION_RULE = "DestinationRule"
DEFAULT_API_VERSIONS = {
    PEER_AUTHENTICATION: "security.istio.io/v1",
    DESTINATION_RULE: "networking.istio.io/v1",
}
RESOURCE_NAMES = {
    PEER_AUTHENTICATION: "peerauthentications.security.istio.io",
    DESTINATION_RULE: "destinationrules.networking.istio.io",
}
# The on-call toggle's two modes (DISABLE and UNSET are admin decisions, made per policy).
TOGGLE_MODES = ("STRICT", "PERMISSIVE")
# TimedRestore.restore_mode when the namespace had no namespace-wide policy before.
ABSENT = "ABSENT"
# The form's word for "I saw no namespace-wide policy".
SEEN_ABSENT = "absent"
# The DestinationRule TLS mode that matches a workload policy's mode.
DESTINATION_RULE_TLS = {
    "STRICT": "ISTIO_MUTUAL",
    "PERMISSIVE": "ISTIO_MUTUAL",
    "DISABLE": "DISABLE",
}

Outcome = AuditEntry.Outcome


# --- Values ---------------------------------------------------------------------------------


@dataclass
class ChangePlan:
    """One user action: the objects to apply (in order) or the one to delete, and why."""

    action: AuditAction
    namespace: str
    summary: str
    manifests: list[dict] = field(default_factory=list)
    delete: tuple[str, str, str, str] | None = None  # kind, namespace, name, resourceVersion
    reason: str = ""
    duration: timedelta | None = None
    notes: list[str] = field(default_factory=list)
    target_kind: str = PEER_AUTHENTICATION
    target_name: str = ""

    @property
    def objects_text(self) -> str:
        return manifests_yaml(self.manifests) if self.manifests else ""

    @property
    def kubectl(self) -> str:
        if self.delete:
            kind, namespace, name, _rv = self.delete
            return kubectl_delete_command(kind, namespace, name)
        return kubectl_apply_command(self.manifests)


@dataclass(eq=False)
class ChangeFailure(Exception):
    """A change the cluster (or meshui) refused, in words, with what the page needs to help."""

    message: str
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    field_manager_conflicts: list[dict] = field(default_factory=list)  # {field, manager}
    current_object: dict | None = None  # the state now, after a 409
    current_resource_version: str = ""
    status: int = 0
    entry: AuditEntry | None = None

    def __str__(self) -> str:
        return self.message

    @property
    def current_yaml(self) -> str:
        return manifests_yaml([self.current_object]) if self.current_object else ""

    @property
    def can_be_forced(self) -> bool:
        return bool(self.field_manager_conflicts)


@dataclass
class ChangePreview:
    plan: ChangePlan
    impact: object | None  # policies.engine.impact.Impact
    impact_note: str
    dry_run_ok: bool
    dry_run_message: str
    failure: ChangeFailure | None
    entry: AuditEntry


@dataclass
class ChangeResult:
    plan: ChangePlan
    entry: AuditEntry
    applied: list[dict]
    restore: TimedRestore | None = None


class PartialChange(ChangeFailure):
    """The first object of a pair was applied, the second was not: retry or roll back."""


# --- Text for people: YAML, kubectl, errors -------------------------------------------------


def manifests_yaml(manifests: list[dict]) -> str:
    """The objects as a YAML stream, keys in manifest order (apiVersion, kind, metadata, spec)."""
    return "---\n".join(
        yaml.safe_dump(m, sort_keys=False, default_flow_style=False) for m in manifests
    )


def kubectl_apply_command(manifests: list[dict]) -> str:
    """The guide's `kubectl apply -f - <<'EOF' ... EOF` for the same objects."""
    return f"kubectl apply -f - <<'EOF'\n{manifests_yaml(manifests)}EOF"


def kubectl_delete_command(kind: str, namespace: str, name: str) -> str:
    return f"kubectl delete {kind.lower()} -n {namespace} {name}"


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
            return ChangeFailure(
                f"Namespace {namespace} no longer exists in the cluster.", status=404
            )
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
                "over; only an admin may force that.",
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


# --- Permissions ----------------------------------------------------------------------------


def _permitted(user, plan: ChangePlan, *, force: bool) -> str:
    """'' when `user` may carry out `plan`, else why not."""
    if plan.action == AuditAction.NAMESPACE_MODE_SET:
        allowed = roles.can_toggle_namespace(user)
        need = "on-call or admin"
    else:
        allowed = roles.can_manage_policies(user)
        need = "admin"
    if not allowed:
        role = roles.user_role(user)
        who = f"the {role} role" if role else "no meshui role"
        return f"This change needs the {need} role; you have {who}."
    if force and not roles.can_force_conflicts(user):
        return "Only an admin may take over fields another manager owns."
    return ""


def change_denied(*, user, plan: ChangePlan, force: bool = False) -> None:
    """Record a refused attempt and raise PermissionDenied (views call it before parsing)."""
    denial = _permitted(user, plan, force=force) or "This change is not allowed for you."
    _audit(user, plan, Outcome.DENIED, error=denial)
    raise PermissionDenied(denial)


def _require(user, plan: ChangePlan, *, force: bool = False, dry_run: bool = False) -> None:
    denial = _permitted(user, plan, force=force)
    if denial:
        _audit(user, plan, Outcome.DENIED, error=denial, dry_run=dry_run)
        raise PermissionDenied(denial)


def _audit(user, plan: ChangePlan, outcome: str, **kwargs) -> AuditEntry:
    dry_run = kwargs.pop("dry_run", False)
    if dry_run and "dry_run_result" not in kwargs and outcome == Outcome.DENIED:
        kwargs["dry_run_result"] = "preview denied"
    sent = kwargs.pop("object_sent", None)
    if sent is None:
        if plan.delete:
            kind, namespace, name, resource_version = plan.delete
            sent = {
                "delete": {
                    "kind": kind,
                    "namespace": namespace,
                    "name": name,
                    "resourceVersion": resource_version,
                }
            }
        elif plan.manifests:
            sent = plan.manifests if len(plan.manifests) > 1 else plan.manifests[0]
    return audit_entry_record(
        user=user,
        action=plan.action,
        outcome=outcome,
        target_kind=plan.target_kind,
        target_namespace=plan.namespace,
        target_name=plan.target_name,
        reason=plan.reason,
        object_sent=sent,
        **kwargs,
    )


# --- Reading the snapshot for plans ---------------------------------------------------------


def _api_version(kind: str, snapshot: Snapshot | None) -> str:
    versions = (snapshot.istio_versions if snapshot else None) or {}
    return versions.get(kind) or DEFAULT_API_VERSIONS[kind]


def root_namespace() -> str:
    snapshot = snapshot_current()
    return snapshot.root_namespace if snapshot else settings.MESHUI_ROOT_NAMESPACE


def namespace_policy_seen(namespace: str) -> PolicyRecord | None:
    """The namespace-wide PeerAuthentication in force in the current snapshot, if any."""
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    records = PolicyRecord.objects.filter(
        snapshot=snapshot, kind=PEER_AUTHENTICATION, namespace=namespace, scope="namespace"
    )
    return records.filter(status="effective").first() or records.first()


def pending_restores(namespace: str) -> list[TimedRestore]:
    return list(_pending_restores(namespace).select_related("change").order_by("restore_at"))


def namespace_current_mode(namespace: str) -> str:
    snapshot = snapshot_current()
    if snapshot is None:
        return ""
    row = snapshot.namespaces.filter(name=namespace).first()
    return row.mode if row else ""


def workload_labels(namespace: str) -> dict[str, dict]:
    """Workload name -> labels, from the current snapshot (the workload form's choices)."""
    snapshot = snapshot_current()
    if snapshot is None:
        return {}
    rows = WorkloadRow.objects.filter(snapshot=snapshot, namespace=namespace)
    return {row.name: row.labels or {} for row in rows}


def _services_selecting(namespace: str, selector: dict) -> list[str]:
    """Services of the namespace that select workloads carrying every label of `selector`."""
    snapshot = snapshot_current()
    if snapshot is None or not selector:
        return []
    workloads = [
        row.labels or {}
        for row in WorkloadRow.objects.filter(snapshot=snapshot, namespace=namespace)
        if all((row.labels or {}).get(key) == value for key, value in selector.items())
    ]
    names = []
    for service in ServiceRecord.objects.filter(snapshot=snapshot, namespace=namespace):
        service_selector = service.selector or {}
        if service_selector and any(
            all(labels.get(key) == value for key, value in service_selector.items())
            for labels in workloads
        ):
            names.append(service.name)
    return names


# --- Plans ----------------------------------------------------------------------------------


def _peer_authentication(namespace: str, name: str, spec: dict, snapshot) -> dict:
    return {
        "apiVersion": _api_version(PEER_AUTHENTICATION, snapshot),
        "kind": PEER_AUTHENTICATION,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _destination_rule(namespace: str, service: str, tls_mode: str, snapshot) -> dict:
    host = f"{service}.{namespace}.svc.cluster.local"
    name = f"{service}-mtls"
    if snapshot is not None:
        existing = PolicyRecord.objects.filter(
            snapshot=snapshot, kind=DESTINATION_RULE, namespace=namespace, host=host
        ).first()
        if existing:
            name = existing.name  # one rule per host: apply to the one already there
    return {
        "apiVersion": _api_version(DESTINATION_RULE, snapshot),
        "kind": DESTINATION_RULE,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"host": host, "trafficPolicy": {"tls": {"mode": tls_mode}}},
    }


def peer_authentication_plan(
    *,
    scope: str,
    namespace: str,
    name: str,
    spec: dict,
    with_destination_rule: bool = False,
    reason: str = "",
) -> ChangePlan:
    """A new (or re-applied) PeerAuthentication at mesh, namespace or workload level."""
    snapshot = snapshot_current()
    if scope == "mesh":
        namespace = snapshot.root_namespace if snapshot else settings.MESHUI_ROOT_NAMESPACE
    plan = ChangePlan(
        action=AuditAction.PEER_AUTHENTICATION_APPLY,
        namespace=namespace,
        summary=f"Apply {scope} PeerAuthentication {namespace}/{name} with mode "
        f"{spec.get('mtls', {}).get('mode', 'UNSET')}",
        reason=reason,
        target_name=name,
        manifests=[_peer_authentication(namespace, name, spec, snapshot)],
    )
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    tls_mode = DESTINATION_RULE_TLS.get(spec.get("mtls", {}).get("mode", ""))
    if scope == "workload" and with_destination_rule:
        services = _services_selecting(namespace, selector)
        if not tls_mode:
            plan.notes.append("Mode UNSET inherits; no DestinationRule is needed for it.")
        elif not services:
            plan.notes.append(
                "No Service selects these workloads in the current snapshot, so there is no "
                "host for a DestinationRule; only the PeerAuthentication is applied."
            )
        for service in services if tls_mode else ():
            plan.manifests.append(_destination_rule(namespace, service, tls_mode, snapshot))
    return plan


def namespace_mode_plan(
    *,
    namespace: str,
    mode: str,
    reason: str = "",
    duration: timedelta | None = None,
    current: dict | None = None,
) -> ChangePlan:
    """The on-call toggle: only the namespace-wide policy, never mesh or workload ones.

    `current` is the live namespace-wide policy (from object_get) when applying; a preview
    uses the snapshot's copy.
    """
    snapshot = snapshot_current()
    if current is None:
        seen = namespace_policy_seen(namespace)
        current = seen.manifest if seen else None
    if current:
        name = current["metadata"]["name"]
        spec = copy.deepcopy(current.get("spec") or {})
        spec.setdefault("mtls", {})["mode"] = mode
        manifest = _peer_authentication(namespace, name, spec, snapshot)
        if current.get("apiVersion", "").startswith("security.istio.io/"):
            manifest["apiVersion"] = current["apiVersion"]
        resource_version = (current.get("metadata") or {}).get("resourceVersion")
        if resource_version:
            # Server-side precondition: applied only to the version we read, no lost update.
            manifest["metadata"]["resourceVersion"] = resource_version
    else:
        name = "default"
        manifest = _peer_authentication(namespace, name, {"mtls": {"mode": mode}}, snapshot)
    until = ""
    if duration:
        previous = ((current or {}).get("spec") or {}).get("mtls", {}).get("mode")
        back = f"back to {previous}" if previous else "the namespace policy removed again"
        until = f" for {_duration_words(duration)}, then {back} by meshui"
    return ChangePlan(
        action=AuditAction.NAMESPACE_MODE_SET,
        namespace=namespace,
        summary=f"Set namespace {namespace} to {mode}{until}",
        manifests=[manifest],
        reason=reason,
        duration=duration,
        target_name=name,
    )


def policy_mode_plan(
    *,
    namespace: str,
    name: str,
    mode: str,
    resource_version: str,
    reason: str = "",
    current: dict | None = None,
) -> ChangePlan:
    """Edit the mode of an existing PeerAuthentication, keeping the rest of its spec."""
    snapshot = snapshot_current()
    if current is None and snapshot is not None:
        record = PolicyRecord.objects.filter(
            snapshot=snapshot, kind=PEER_AUTHENTICATION, namespace=namespace, name=name
        ).first()
        current = record.manifest if record else None
    spec = copy.deepcopy((current or {}).get("spec") or {})
    spec.setdefault("mtls", {})["mode"] = mode
    manifest = _peer_authentication(namespace, name, spec, snapshot)
    if current and current.get("apiVersion", "").startswith("security.istio.io/"):
        manifest["apiVersion"] = current["apiVersion"]
    manifest["metadata"]["resourceVersion"] = resource_version
    return ChangePlan(
        action=AuditAction.PEER_AUTHENTICATION_MODE_UPDATE,
        namespace=namespace,
        summary=f"Set the mode of PeerAuthentication {namespace}/{name} to {mode}",
        manifests=[manifest],
        reason=reason,
        target_name=name,
    )


def policy_delete_plan(
    *, kind: str, namespace: str, name: str, resource_version: str, reason: str = ""
) -> ChangePlan:
    return ChangePlan(
        action=AuditAction.POLICY_DELETE,
        namespace=namespace,
        summary=f"Delete {kind} {namespace}/{name}",
        delete=(kind, namespace, name, resource_version),
        reason=reason,
        target_kind=kind,
        target_name=name,
    )


def _duration_words(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


# --- Preview --------------------------------------------------------------------------------


def _outside_plaintext_workloads(snapshot: Snapshot, namespaces: set[str]):
    from policies.engine.impact import PLAINTEXT_CALLERS_SHOWN, WorkloadRef

    rows = WorkloadRow.objects.filter(snapshot=snapshot, has_sidecar=False, ambient=False).exclude(
        namespace__in=namespaces
    )
    shown = [
        WorkloadRef(namespace, name, kind)
        for namespace, name, kind in rows.order_by("namespace", "name").values_list(
            "namespace", "name", "kind"
        )[:PLAINTEXT_CALLERS_SHOWN]
    ]
    return shown, rows.count()


def _impact_of(plan: ChangePlan):
    """(Impact, note): the engine on the current snapshot, with and without the change.

    A change inside one namespace can only move that namespace, so only it and the root
    namespace are evaluated; a change in the root namespace (mesh-wide) evaluates the mesh.
    """
    snapshot = snapshot_current()
    if snapshot is None:
        return None, "No snapshot yet: meshui cannot tell what this changes until it syncs."
    from policies.engine import evaluate
    from policies.engine.impact import objects_with_applied, objects_with_deleted, posture_impact
    from policies.snapshot_objects import snapshot_objects

    root = snapshot.root_namespace
    if plan.namespace and plan.namespace != root:
        scope = {plan.namespace, root}
        before_objects = snapshot_objects(snapshot, namespaces=scope)
        outside, outside_total = _outside_plaintext_workloads(snapshot, scope)
    else:
        before_objects = snapshot_objects(snapshot)
        outside, outside_total = [], 0
    after_objects = list(before_objects)
    if plan.delete:
        kind, namespace, name, _rv = plan.delete
        after_objects = objects_with_deleted(after_objects, kind, namespace, name)
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    for manifest in plan.manifests:
        candidate = copy.deepcopy(manifest)
        # A new object is the newest of its level; an existing one keeps its age.
        candidate["metadata"].setdefault("creationTimestamp", now)
        candidate["metadata"].pop("resourceVersion", None)
        after_objects = objects_with_applied(after_objects, candidate)
    before = evaluate(before_objects, root_namespace=root)
    after = evaluate(after_objects, root_namespace=root)
    impact = posture_impact(
        before, after, outside_plaintext_workloads=outside, outside_plaintext_total=outside_total
    )
    return impact, ""


def _verb(plan: ChangePlan) -> str:
    return "delete" if plan.delete else "patch"


def _dry_run(plan: ChangePlan, *, force: bool) -> str:
    """Ask the cluster to validate and admit the change without persisting it."""
    if plan.delete:
        kind, namespace, name, resource_version = plan.delete
        cluster.object_delete(
            kind, namespace, name, resource_version=resource_version, dry_run=True
        )
        return f"The cluster would delete {kind} {namespace}/{name}."
    for manifest in plan.manifests:
        cluster.object_apply(manifest, dry_run=True, force=force)
    return "The cluster accepted the change in a dry run (schema, CEL rules and admission)."


def change_preview(*, user, plan: ChangePlan, force: bool = False) -> ChangePreview:
    """Impact, the exact objects, the kubectl command and the cluster's dry run; audited."""
    _require(user, plan, force=force, dry_run=True)
    impact, note = _impact_of(plan)
    failure = None
    try:
        message = _dry_run(plan, force=force)
        ok = True
    except ClusterError as error:
        failure = _failure_for(plan, error)
        ok, message = False, failure.message
    entry = _audit(user, plan, Outcome.DRY_RUN, dry_run_result=message, error="" if ok else message)
    return ChangePreview(plan, impact, note, ok, message, failure, entry)


def _failure_for(
    plan: ChangePlan, error: ClusterError, manifest: dict | None = None
) -> ChangeFailure:
    if plan.delete:
        kind, namespace, name, _rv = plan.delete
    else:
        manifest = manifest or plan.manifests[0]
        kind = manifest["kind"]
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    failure = describe_cluster_error(
        error, verb=_verb(plan), kind=kind, namespace=namespace, name=name
    )
    if isinstance(error, Conflict) and not failure.field_manager_conflicts:
        failure.current_object = _current_or_none(kind, namespace, name)
        failure.current_resource_version = (
            (failure.current_object or {}).get("metadata") or {}
        ).get("resourceVersion", "")
    return failure


def _current_or_none(kind: str, namespace: str, name: str) -> dict | None:
    try:
        current = cluster.object_get(kind, namespace, name)
    except ClusterError:
        return None
    (current.get("metadata") or {}).pop("managedFields", None)
    return current


# --- Apply ----------------------------------------------------------------------------------

_process_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
_process_locks_guard = threading.Lock()


@contextmanager
def namespace_change_lock(namespace: str):
    """One change of a namespace's posture at a time, across threads and (on PostgreSQL)
    across processes: the read-compare-apply of a toggle must not interleave."""
    with _process_locks_guard:
        lock = _process_locks[namespace]
    with lock:
        if connection.vendor == "postgresql":
            key = zlib.crc32(f"meshui-namespace:{namespace}".encode())
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
                yield
        else:
            yield


def _sync_soon(namespace: str) -> None:
    """Ask for a sync right after the change commits, so the page shows it in seconds.

    (The sync reads the whole cluster; it is coalesced with any sync already running.)
    """
    from policies.services.sync import sync_request

    sync_request(trigger="change")


def _apply_all(user, plan: ChangePlan, *, force: bool, object_before: dict | None) -> ChangeResult:
    applied: list[dict] = []
    for index, manifest in enumerate(plan.manifests):
        try:
            applied.append(cluster.object_apply(manifest, force=force))
        except ClusterError as error:
            failure = _failure_for(plan, error, manifest)
            if index == 0:
                outcome = Outcome.CONFLICT if isinstance(error, Conflict) else Outcome.FAILED
                failure.entry = _audit(
                    user, plan, outcome, error=failure.message, object_before=object_before
                )
                raise failure from error
            done = ", ".join(
                f"{m['kind']} {m['metadata']['namespace']}/{m['metadata']['name']}"
                for m in plan.manifests[:index]
            )
            partial = PartialChange(
                f"Half done: {done} was applied and is in force now, but "
                f"{manifest['kind']} {manifest['metadata']['name']} was not: {failure.message} "
                "Retry the missing part, or roll back what was applied.",
                status=failure.status,
                field_errors=failure.field_errors,
                field_manager_conflicts=failure.field_manager_conflicts,
            )
            partial.entry = _audit(
                user, plan, Outcome.FAILED, error=partial.message, object_before=object_before
            )
            _sync_soon(plan.namespace)
            raise partial from error
    entry = _audit(user, plan, Outcome.APPLIED, object_before=object_before)
    _sync_soon(plan.namespace)
    return ChangeResult(plan, entry, applied)


def _live_or_none(kind: str, namespace: str, name: str) -> dict | None:
    try:
        return cluster.object_get(kind, namespace, name)
    except NotFound:
        return None


def _strip(obj: dict | None) -> dict | None:
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def peer_authentication_apply(*, user, plan: ChangePlan, force: bool = False) -> ChangeResult:
    """Apply a planned PeerAuthentication (and its DestinationRules) as one user action."""
    _require(user, plan, force=force)
    first = plan.manifests[0]["metadata"]
    try:
        before = _live_or_none(plan.manifests[0]["kind"], first["namespace"], first["name"])
    except ClusterError as error:
        failure = _failure_for(plan, error)
        failure.entry = _audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    return _apply_all(user, plan, force=force, object_before=_strip(before))


def peer_authentication_mode_update(
    *,
    user,
    namespace: str,
    name: str,
    mode: str,
    resource_version: str,
    reason: str = "",
    force: bool = False,
) -> ChangeResult:
    """Edit one policy's mode, only if it is still the version the user saw."""
    plan = policy_mode_plan(
        namespace=namespace, name=name, mode=mode, resource_version=resource_version, reason=reason
    )
    _require(user, plan, force=force)
    try:
        current = cluster.object_get(PEER_AUTHENTICATION, namespace, name)
    except ClusterError as error:
        failure = _failure_for(plan, error)
        failure.entry = _audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    plan = policy_mode_plan(
        namespace=namespace,
        name=name,
        mode=mode,
        resource_version=resource_version,
        reason=reason,
        current=current,
    )
    return _apply_all(user, plan, force=force, object_before=_strip(current))


def policy_delete(
    *, user, kind: str, namespace: str, name: str, resource_version: str, reason: str = ""
) -> ChangeResult:
    """Delete a PeerAuthentication or DestinationRule if it is still the version the user saw."""
    plan = policy_delete_plan(
        kind=kind, namespace=namespace, name=name, resource_version=resource_version, reason=reason
    )
    _require(user, plan)
    before = None
    try:
        before = _strip(_live_or_none(kind, namespace, name))
        cluster.object_delete(kind, namespace, name, resource_version=resource_version)
    except ClusterError as error:
        failure = _failure_for(plan, error)
        outcome = Outcome.CONFLICT if isinstance(error, Conflict) else Outcome.FAILED
        failure.entry = _audit(user, plan, outcome, error=failure.message, object_before=before)
        raise failure from error
    entry = _audit(
        user,
        plan,
        Outcome.APPLIED,
        object_before=before,
        dry_run_result="" if before else "It was already gone.",
    )
    _sync_soon(namespace)
    return ChangeResult(plan, entry, [])


def namespace_mode_set(
    *,
    user,
    namespace: str,
    mode: str,
    reason: str,
    duration: timedelta | None = None,
    seen_resource_version: str | None = None,
    force: bool = False,
) -> ChangeResult:
    """The on-call toggle: set the namespace-wide policy's mode, maybe for a while.

    Only the namespace-wide PeerAuthentication is touched. `seen_resource_version` is what the
    user saw ("absent" for no policy): if the cluster has moved on, nothing is applied and the
    user is shown the new state. With `duration`, meshui restores the previous mode later.
    """
    plan = namespace_mode_plan(namespace=namespace, mode=mode, reason=reason, duration=duration)
    _require(user, plan, force=force)
    if not reason.strip():
        entry = _audit(user, plan, Outcome.FAILED, error="A reason is required.")
        raise ChangeFailure(
            "Say why the namespace changes mode.",
            field_errors={"reason": ["A reason is required."]},
            entry=entry,
        )
    if mode not in TOGGLE_MODES:
        message = f"The namespace toggle switches between STRICT and PERMISSIVE, not {mode}."
        entry = _audit(user, plan, Outcome.FAILED, error=message)
        raise ChangeFailure(message, field_errors={"mode": [message]}, entry=entry)
    failure = None
    with namespace_change_lock(namespace):
        # Failures are caught inside the lock so their audit entries commit with it.
        try:
            result, previous_mode = _namespace_mode_apply_locked(
                user,
                plan,
                mode=mode,
                duration=duration,
                seen_resource_version=seen_resource_version,
                force=force,
            )
        except ChangeFailure as error:
            failure = error
    if failure is not None:
        raise failure
    if duration:
        result.restore = _timed_restore_schedule(
            namespace=namespace,
            previous_mode=previous_mode,
            duration=duration,
            change=result.entry,
        )
    else:
        _pending_restores(namespace).update(
            status=TimedRestore.Status.CANCELLED, error=f"Superseded by change #{result.entry.pk}."
        )
    return result


def _namespace_mode_apply_locked(
    user, plan: ChangePlan, *, mode: str, duration, seen_resource_version, force: bool
) -> tuple[ChangeResult, str]:
    namespace = plan.namespace
    try:
        live = _namespace_policy_live(namespace, plan.target_name)
    except ClusterError as error:
        failure = _failure_for(plan, error)
        failure.entry = _audit(user, plan, Outcome.FAILED, error=failure.message)
        raise failure from error
    plan = namespace_mode_plan(
        namespace=namespace, mode=mode, reason=plan.reason, duration=duration, current=live or {}
    )
    live_version = ((live or {}).get("metadata") or {}).get("resourceVersion", "")
    if seen_resource_version and seen_resource_version != (live_version or SEEN_ABSENT):
        failure = ChangeFailure(
            f"The namespace-wide policy of {namespace} changed since you looked "
            f"({_version_words(seen_resource_version)} then, "
            f"{_version_words(live_version or SEEN_ABSENT)} now), so meshui applied "
            "nothing. Review its current state and confirm again.",
            current_object=_strip(live),
            current_resource_version=live_version or SEEN_ABSENT,
            status=409,
        )
        failure.entry = _audit(
            user, plan, Outcome.CONFLICT, error=failure.message, object_before=_strip(live)
        )
        raise failure
    previous_mode = ((live or {}).get("spec") or {}).get("mtls", {}).get("mode") or (
        "UNSET" if live else ABSENT
    )
    return _apply_all(user, plan, force=force, object_before=_strip(live)), previous_mode


def _version_words(resource_version: str) -> str:
    return "no policy" if resource_version == SEEN_ABSENT else f"version {resource_version}"


def _namespace_policy_live(namespace: str, fallback_name: str) -> dict | None:
    """The live namespace-wide policy: the one the snapshot knows, or `fallback_name`."""
    seen = namespace_policy_seen(namespace)
    return _live_or_none(PEER_AUTHENTICATION, namespace, seen.name if seen else fallback_name)


# --- Timed restores -------------------------------------------------------------------------


def _pending_restores(namespace: str):
    return TimedRestore.objects.filter(namespace=namespace, status=TimedRestore.Status.PENDING)


def _timed_restore_schedule(
    *, namespace: str, previous_mode: str, duration: timedelta, change: AuditEntry
) -> TimedRestore:
    # A second timed change before the first restore keeps the original mode to go back to.
    pending = _pending_restores(namespace).order_by("restore_at").first()
    restore_mode = pending.restore_mode if pending else previous_mode
    _pending_restores(namespace).update(
        status=TimedRestore.Status.CANCELLED, error=f"Replaced by change #{change.pk}."
    )
    restore = TimedRestore.objects.create(
        namespace=namespace,
        restore_mode=restore_mode,
        restore_at=timezone.now() + duration,
        change=change,
    )
    _restore_schedule(restore)
    return restore


def _restore_schedule(restore: TimedRestore) -> None:
    """Queue the restore for its time; beat's sweep catches it if the broker loses it."""
    from celery import current_app

    if current_app.conf.task_always_eager:
        return  # in-process tasks ignore eta: the sweep does it on time instead
    try:
        from policies.tasks import restore_namespace_mode
    except ImportError:
        return
    restore_id, eta = restore.pk, restore.restore_at

    def enqueue():
        try:
            restore_namespace_mode.apply_async(kwargs={"restore_id": restore_id}, eta=eta)
        except Exception:  # noqa: BLE001 - the beat sweep restores it anyway
            logger.warning("could not queue timed restore %s", restore_id, exc_info=True)

    transaction.on_commit(enqueue)


def timed_restores_due(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        TimedRestore.objects.filter(status=TimedRestore.Status.PENDING, restore_at__lte=now)
        .order_by("restore_at")
        .values_list("pk", flat=True)
    )


def timed_restore_run(*, restore_id: int, now=None) -> TimedRestore:
    """Put a namespace back to its mode before a timed change. Idempotent: a restore that
    already ran (or was cancelled, or is not due) does nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        restore = (
            TimedRestore.objects.select_for_update().select_related("change").get(pk=restore_id)
        )
        if restore.status != TimedRestore.Status.PENDING or restore.restore_at > now:
            return restore
        # Claim the row before touching the cluster, so a second delivery does nothing; if
        # this process dies mid-way the restore shows as failed, never runs twice.
        restore.status = TimedRestore.Status.FAILED
        restore.error = "The restore was interrupted before it finished; check the namespace."
        restore.save(update_fields=["status", "error"])
    namespace, change = restore.namespace, restore.change
    set_mode = ((change.object_sent or {}).get("spec") or {}).get("mtls", {}).get("mode", "")
    name = change.target_name or "default"
    words = (
        "remove the namespace-wide policy"
        if restore.restore_mode == ABSENT
        else (f"set it back to {restore.restore_mode}")
    )
    plan = ChangePlan(
        action=AuditAction.RESTORE,
        namespace=namespace,
        summary=f"Timed restore of namespace {namespace}: {words}",
        reason=f"Timed restore of change #{change.pk} ({change.reason})",
        target_name=name,
    )
    error_text = ""
    entry = None
    with namespace_change_lock(namespace):
        try:
            live = _live_or_none(PEER_AUTHENTICATION, namespace, name)
            live_mode = ((live or {}).get("spec") or {}).get("mtls", {}).get("mode", "")
            if live is None or (set_mode and live_mode != set_mode):
                now_words = "gone" if live is None else f"{live_mode}"
                restore.status = TimedRestore.Status.CANCELLED
                restore.error = (
                    f"Not restored: the policy is {now_words} now, not the {set_mode} meshui set; "
                    "someone changed it since, and meshui does not undo their change."
                )
                entry = audit_entry_record(
                    user=None,
                    action=AuditAction.RESTORE,
                    outcome=Outcome.CONFLICT,
                    target_kind=PEER_AUTHENTICATION,
                    target_namespace=namespace,
                    target_name=name,
                    reason=plan.reason,
                    error=restore.error,
                    object_before=_strip(live),
                    restore_of=change,
                )
            elif restore.restore_mode == ABSENT:
                resource_version = live["metadata"].get("resourceVersion", "")
                plan.delete = (PEER_AUTHENTICATION, namespace, name, resource_version)
                cluster.object_delete(
                    PEER_AUTHENTICATION, namespace, name, resource_version=resource_version
                )
            else:
                plan.manifests = [
                    namespace_mode_plan(
                        namespace=namespace, mode=restore.restore_mode, current=live
                    ).manifests[0]
                ]
                cluster.object_apply(plan.manifests[0])
        except ClusterError as error:
            error_text = (
                _failure_for(plan, error).message
                if (plan.delete or plan.manifests)
                else describe_cluster_error(
                    error, verb="get", kind=PEER_AUTHENTICATION, namespace=namespace, name=name
                ).message
            )
    if entry is None:
        outcome = Outcome.FAILED if error_text else Outcome.APPLIED
        entry = _audit(None, plan, outcome, error=error_text, object_before=None, restore_of=change)
        restore.status = TimedRestore.Status.FAILED if error_text else TimedRestore.Status.DONE
        restore.error = error_text
        if not error_text:
            _sync_soon(namespace)
    restore.restore_entry = entry
    restore.save(update_fields=["status", "error", "restore_entry"])
    return restore


# --- Retry and rollback of a half-done pair -------------------------------------------------


def change_retry(*, user, entry_id: int, force: bool = False) -> ChangeResult:
    """Apply again every object a failed change sent (server-side apply is idempotent)."""
    original = AuditEntry.objects.get(pk=entry_id)
    sent = original.object_sent
    manifests = sent if isinstance(sent, list) else [sent] if sent else []
    manifests = [m for m in manifests if isinstance(m, dict) and "kind" in m]
    if not manifests:
        raise ChangeFailure("That change sent no object meshui can apply again.")
    plan = ChangePlan(
        action=AuditAction(original.action),
        namespace=original.target_namespace,
        summary=f"Retry of change #{original.pk}",
        manifests=manifests,
        reason=original.reason,
        target_kind=original.target_kind,
        target_name=original.target_name,
    )
    _require(user, plan, force=force)
    return _apply_all(user, plan, force=force, object_before=original.object_before)


def change_rollback(*, user, entry_id: int) -> ChangeResult:
    """Undo the applied part of a change: the first object back to how it was, or removed."""
    original = AuditEntry.objects.get(pk=entry_id)
    sent = original.object_sent
    first = sent[0] if isinstance(sent, list) and sent else sent
    if not isinstance(first, dict) or "kind" not in first:
        raise ChangeFailure("That change sent no object meshui can roll back.")
    kind = first["kind"]
    namespace, name = first["metadata"]["namespace"], first["metadata"]["name"]
    plan = ChangePlan(
        action=AuditAction.ROLLBACK,
        namespace=namespace,
        summary=f"Roll back change #{original.pk}",
        reason=f"Rollback of change #{original.pk}",
        target_kind=kind,
        target_name=name,
    )
    _require(user, plan)
    before = original.object_before
    live = None
    try:
        live = _live_or_none(kind, namespace, name)
        if before is None:
            resource_version = ((live or {}).get("metadata") or {}).get("resourceVersion", "")
            plan.delete = (kind, namespace, name, resource_version)
            if live is not None:
                cluster.object_delete(kind, namespace, name, resource_version=resource_version)
        else:
            manifest = {
                "apiVersion": before.get("apiVersion") or first["apiVersion"],
                "kind": kind,
                "metadata": {"name": name, "namespace": namespace},
                "spec": before.get("spec") or {},
            }
            plan.manifests = [manifest]
            cluster.object_apply(manifest, force=roles.can_force_conflicts(user))
    except ClusterError as error:
        failure = (
            _failure_for(plan, error)
            if (plan.delete or plan.manifests)
            else (
                describe_cluster_error(error, verb="get", kind=kind, namespace=namespace, name=name)
            )
        )
        failure.entry = _audit(
            user,
            plan,
            Outcome.FAILED,
            error=failure.message,
            object_before=_strip(live),
            restore_of=original,
        )
        raise failure from error
    entry = _audit(user, plan, Outcome.ROLLED_BACK, object_before=_strip(live), restore_of=original)
    _sync_soon(namespace)
    return ChangeResult(plan, entry, [])
