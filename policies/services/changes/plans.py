"""What a change sends, built from the snapshot facts it needs: the objects to apply or
the one to delete, the YAML and the kubectl command a person would type."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta

import yaml
from django.conf import settings

from policies.kinds import DEFAULT_API_VERSIONS, DESTINATION_RULE, PEER_AUTHENTICATION
from policies.models import Snapshot
from policies.selectors.changes import (
    destination_rule_name_for_host,
    namespace_toggle_target_seen,
    policy_manifest_seen,
    services_selecting_workloads,
)
from policies.selectors.sync import snapshot_current
from policies.services.audit import AuditAction

# The form's word for "I saw no namespace-wide policy".
SEEN_ABSENT = "absent"


# The DestinationRule TLS mode that matches a workload policy's mode.
DESTINATION_RULE_TLS = {
    "STRICT": "ISTIO_MUTUAL",
    "PERMISSIVE": "ISTIO_MUTUAL",
    "DISABLE": "DISABLE",
}


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
    # A delete: the object as the snapshot holds it, and what is lost with it, in words.
    deleted_object: dict | None = None
    loss: str = ""

    @property
    def objects_text(self) -> str:
        return manifests_yaml(self.manifests) if self.manifests else ""

    @property
    def deleted_text(self) -> str:
        return manifests_yaml([self.deleted_object]) if self.deleted_object else ""

    @property
    def kubectl(self) -> str:
        if self.delete:
            kind, namespace, name, _rv = self.delete
            return kubectl_delete_command(kind, namespace, name)
        return kubectl_apply_command(self.manifests)


def manifests_yaml(manifests: list[dict]) -> str:
    """The objects as a YAML stream, keys in manifest order (apiVersion, kind, metadata, spec)."""
    return "---\n".join(
        yaml.safe_dump(m, sort_keys=False, default_flow_style=False) for m in manifests
    )


def kubectl_apply_command(manifests: list[dict]) -> str:
    """The guide's `kubectl apply -f - <<'EOF' ... EOF` for the same objects (quoted, so
    nothing in the YAML is expanded or run when pasted into a shell)."""
    return f"kubectl apply -f - <<'EOF'\n{manifests_yaml(manifests)}EOF"


def kubectl_delete_command(kind: str, namespace: str, name: str) -> str:
    return f"kubectl delete {kind.lower()} -n {namespace} {name}"


def api_version(kind: str, snapshot: Snapshot | None) -> str:
    versions = (snapshot.istio_versions if snapshot else None) or {}
    return versions.get(kind) or DEFAULT_API_VERSIONS[kind]


def peer_authentication_manifest(namespace: str, name: str, spec: dict, snapshot) -> dict:
    return {
        "apiVersion": api_version(PEER_AUTHENTICATION, snapshot),
        "kind": PEER_AUTHENTICATION,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def destination_rule_manifest(namespace: str, service: str, tls_mode: str, snapshot) -> dict:
    host = f"{service}.{namespace}.svc.cluster.local"
    name = f"{service}-mtls"
    # One rule per host: apply to the one already there.
    name = destination_rule_name_for_host(namespace, host) or name
    return {
        "apiVersion": api_version(DESTINATION_RULE, snapshot),
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
        manifests=[peer_authentication_manifest(namespace, name, spec, snapshot)],
    )
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    tls_mode = DESTINATION_RULE_TLS.get(spec.get("mtls", {}).get("mode", ""))
    if scope == "workload" and with_destination_rule:
        services = services_selecting_workloads(namespace, selector)
        if not tls_mode:
            plan.notes.append("Mode UNSET inherits; no DestinationRule is needed for it.")
        elif not services:
            plan.notes.append(
                "No Service selects these workloads in the current snapshot, so there is no "
                "host for a DestinationRule; only the PeerAuthentication is applied."
            )
        for service in services if tls_mode else ():
            plan.manifests.append(destination_rule_manifest(namespace, service, tls_mode, snapshot))
    return plan


def namespace_mode_plan(
    *,
    namespace: str,
    mode: str,
    reason: str = "",
    duration: timedelta | None = None,
    current: dict | None = None,
    name: str | None = None,
) -> ChangePlan:
    """The on-call toggle: only the namespace-wide policy, never mesh or workload ones.

    `current` is the live namespace-wide policy when applying (`name` the free name for a new
    one when there is none); a preview uses the snapshot's target.
    """
    snapshot = snapshot_current()
    if current is None and name is None:
        name, current = namespace_toggle_target_seen(namespace)
    if current:
        name = current["metadata"]["name"]
        spec = copy.deepcopy(current.get("spec") or {})
        spec.setdefault("mtls", {})["mode"] = mode
        manifest = peer_authentication_manifest(namespace, name, spec, snapshot)
        if current.get("apiVersion", "").startswith("security.istio.io/"):
            manifest["apiVersion"] = current["apiVersion"]
        resource_version = (current.get("metadata") or {}).get("resourceVersion")
        if resource_version:
            # Server-side precondition: applied only to the version we read, no lost update.
            manifest["metadata"]["resourceVersion"] = resource_version
    else:
        name = name or "default"
        manifest = peer_authentication_manifest(namespace, name, {"mtls": {"mode": mode}}, snapshot)
    until = ""
    if duration:
        previous = ((current or {}).get("spec") or {}).get("mtls", {}).get("mode")
        back = f"back to {previous}" if previous else "the namespace policy removed again"
        until = f" for {duration_words(duration)}, then {back} by meshui"
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
    if current is None:
        current = policy_manifest_seen(PEER_AUTHENTICATION, namespace, name)
    spec = copy.deepcopy((current or {}).get("spec") or {})
    spec.setdefault("mtls", {})["mode"] = mode
    manifest = peer_authentication_manifest(namespace, name, spec, snapshot)
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
    seen = policy_manifest_seen(kind, namespace, name)
    return ChangePlan(
        action=AuditAction.POLICY_DELETE,
        namespace=namespace,
        summary=f"Delete {kind} {namespace}/{name}",
        delete=(kind, namespace, name, resource_version),
        reason=reason,
        target_kind=kind,
        target_name=name,
        deleted_object=seen,
        loss=delete_loss_words(kind, namespace, name, seen),
    )


def delete_loss_words(kind: str, namespace: str, name: str, manifest: dict | None) -> str:
    """What a delete takes away, said before the button: the object's setting and who had it."""
    what = f"{kind} {namespace}/{name}"
    if manifest is None:
        return f"{what} is not in the current snapshot; the cluster decides what is deleted."
    spec = manifest.get("spec") or {}
    if kind == DESTINATION_RULE:
        tls = ((spec.get("trafficPolicy") or {}).get("tls") or {}).get("mode") or "no TLS mode"
        return (
            f"Deleting {what} removes its traffic policy ({tls}) for host "
            f"{spec.get('host', '?')}: clients fall back to another DestinationRule for that "
            "host, or to automatic mTLS."
        )
    mode = (spec.get("mtls") or {}).get("mode") or "UNSET"
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    ports = spec.get("portLevelMtls") or {}
    if labels:
        who = "the workloads it selects (" + ", ".join(f"{k}={v}" for k, v in labels.items()) + ")"
    elif namespace == (snapshot_root_namespace()):
        who = "the whole mesh (it is the mesh-wide policy)"
    else:
        who = f"namespace {namespace} (it is namespace-wide)"
    port_words = (
        " and its per-port modes ("
        + ", ".join(f"{p}={(m or {}).get('mode', 'UNSET')}" for p, m in ports.items())
        + ")"
        if ports
        else ""
    )
    return (
        f"Deleting {what} removes mode {mode}{port_words} for {who}; they fall back to the "
        "level above (What changes lists every one). The audit entry keeps the object as it "
        "was, so it can be applied again."
    )


def snapshot_root_namespace() -> str:
    snapshot = snapshot_current()
    return snapshot.root_namespace if snapshot else settings.MESHUI_ROOT_NAMESPACE


def duration_words(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds < 60:  # the forms offer minutes; services and tests may ask for less
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"
