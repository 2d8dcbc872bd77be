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
from policies.gc_pause import gc_paused
from policies.models import AuditEntry
from policies.selectors.changes import (
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
        outside, outside_total = outside_plaintext_workloads(snapshot, scope)
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
    with gc_paused():  # the engine allocates many small objects that never form cycles
        before = evaluate(before_objects, root_namespace=root)
        after = evaluate(after_objects, root_namespace=root)
    impact = posture_impact(
        before, after, outside_plaintext_workloads=outside, outside_plaintext_total=outside_total
    )
    return impact, ""


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
