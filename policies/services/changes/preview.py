"""A change before it is applied: its impact on the engine's posture and the cluster's
server-side dry run; audited."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from django.utils import timezone

from policies import cluster
from policies.cluster.errors import (
    ClusterError,
)
from policies.engine.incremental import inputs_with_object
from policies.gc_pause import gc_paused
from policies.kinds import PEER_AUTHENTICATION
from policies.models import AuditEntry
from policies.selectors.changes import (
    destination_rules_with_wildcard_hosts,
    outside_plaintext_workloads,
)
from policies.selectors.sync import snapshot_current
from policies.services.audit import AuditAction
from policies.services.changes.failures import ChangeFailure, failure_for_plan
from policies.services.changes.permissions import require_permitted
from policies.services.changes.plans import ChangePlan
from policies.services.changes.records import Outcome, change_audit
from policies.services.changes.takeover import require_toggle_takeover_for_preview
from policies.services.traffic import RefusedCallers, refused_callers
from policies.snapshot_objects import snapshot_inputs


@dataclass
class ChangePreview:
    plan: ChangePlan
    impact: object | None  # policies.engine.impact.Impact
    impact_note: str
    dry_run_ok: bool
    dry_run_message: str
    failure: ChangeFailure | None
    entry: AuditEntry
    # Issue 14: the real plaintext callers this change would refuse, from Prometheus.
    refused: RefusedCallers | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        if self.impact is None:
            return ()
        if self.refused is not None and self.refused.in_use:
            return self.impact.warnings_with(callers_sentence=self.refused.warning)
        return self.impact.warnings


def impact_of(plan: ChangePlan):
    """(Impact, note): the engine on the current snapshot, with and without the change.

    A PeerAuthentication inside one namespace can only move that namespace, so only it and
    the root namespace are evaluated (see can_evaluate_one_namespace); any other change
    evaluates the mesh.
    Either way the snapshot becomes the engine's input once (`snapshot_inputs`: workloads
    straight from their stored facts), the changed input shares all of it but the changed
    policies (`inputs_with_object`), and only the resolution runs twice. The whole mesh's
    input is kept for the current snapshot, so the next mesh-wide preview reuses it.
    """
    snapshot = snapshot_current()
    if snapshot is None:
        return None, "No snapshot yet: meshui cannot tell what this changes until it syncs."
    from policies.engine.impact import posture_impact
    from policies.engine.resolve import resolve

    root = snapshot.root_namespace
    with gc_paused():  # millions of small objects that never form cycles
        if can_evaluate_one_namespace(snapshot, plan):
            scope = {plan.namespace, root}
            before_inputs = snapshot_inputs(snapshot, namespaces=scope)
            before = resolve(before_inputs, root)
            outside, outside_total = outside_plaintext_workloads(snapshot, scope)
        else:
            before_inputs, before = mesh_before(snapshot)
            outside, outside_total = [], 0
        after = resolve(changed_inputs(before_inputs, plan, root), root)
        impact = posture_impact(
            before,
            after,
            outside_plaintext_workloads=outside,
            outside_plaintext_total=outside_total,
        )
    return impact, ""


def can_evaluate_one_namespace(snapshot, plan: ChangePlan) -> bool:
    """Whether evaluating the plan's namespace (and the root) gives the mesh's very impact.

    Only PeerAuthentications outside the root namespace qualify: a DestinationRule in one
    namespace decides what its clients send to Services anywhere, and a wildcard host
    (`*.local`) makes one finding name STRICT workloads in many namespaces, so either
    needs the whole mesh (tests/changes/test_incremental_preview.py holds both paths to
    the full evaluation on randomized meshes).
    """
    if not plan.namespace or plan.namespace == snapshot.root_namespace:
        return False
    kinds = {manifest.get("kind") for manifest in plan.manifests}
    if plan.delete:
        kinds.add(plan.delete[0])
    if kinds != {PEER_AUTHENTICATION}:
        return False
    return not destination_rules_with_wildcard_hosts(snapshot)


def changed_inputs(inputs, plan: ChangePlan, root: str):
    """The engine's input with the plan's objects applied (or its object deleted), as
    objects_with_applied / objects_with_deleted would leave the objects."""
    from policies.engine.impact import objects_with_applied

    changed = inputs
    if plan.delete:
        kind, namespace, name, _rv = plan.delete
        changed = inputs_with_object(changed, root, replace=(kind, namespace, name), manifest=None)
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    for manifest in plan.manifests:
        candidate = copy.deepcopy(manifest)
        # A new object is the newest of its level; an existing one keeps its age.
        candidate["metadata"].setdefault("creationTimestamp", now)
        candidate["metadata"].pop("resourceVersion", None)
        kind = candidate["kind"]
        namespace = candidate["metadata"].get("namespace", "") or ""
        name = candidate["metadata"].get("name", "")
        existing = [
            item.manifest
            for item in (
                changed.peer_authentications
                if kind == "PeerAuthentication"
                else changed.destination_rules
            )
            if (item.namespace, item.name) == (namespace, name)
        ]
        merged = objects_with_applied(existing, candidate)[-1]
        changed = inputs_with_object(
            changed, root, replace=(kind, namespace, name), manifest=merged
        )
    return changed


# The current snapshot's whole-mesh input and its posture, kept between previews:
# ((snapshot id, taken at), Inputs, Posture). Neither is ever changed in place
# (inputs_with_object copies what it changes), so one kept copy serves every later
# mesh-wide preview until a new snapshot replaces it. The price is their memory in each
# web process that previewed one.
_mesh_kept: tuple | None = None


def mesh_before(snapshot):
    """(Inputs, Posture) of the whole snapshot, computed once per snapshot in this process."""
    from policies.engine.resolve import resolve

    global _mesh_kept
    kept = _mesh_kept
    key = (snapshot.pk, snapshot.taken_at)
    if kept is None or kept[0] != key:
        inputs = snapshot_inputs(snapshot)
        kept = _mesh_kept = (key, inputs, resolve(inputs, snapshot.root_namespace))
    return kept[1], kept[2]


def dry_run(plan: ChangePlan, *, force: bool) -> str:
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
    require_permitted(user, plan, force=force, dry_run=True)
    if plan.action == AuditAction.NAMESPACE_MODE_SET:
        require_toggle_takeover_for_preview(user, plan, force=force)
    impact, note = impact_of(plan)
    failure = None
    try:
        message = dry_run(plan, force=force)
        ok = True
    except ClusterError as error:
        failure = failure_for_plan(plan, error)
        ok, message = False, failure.message
    entry = change_audit(
        user, plan, Outcome.DRY_RUN, dry_run_result=message, error="" if ok else message
    )
    return ChangePreview(
        plan, impact, note, ok, message, failure, entry, refused=refused_callers(impact)
    )
