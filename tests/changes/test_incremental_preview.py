"""The preview service's fast path (snapshot_inputs, inputs_with_object, the kept mesh-wide
input) gives exactly the impact of evaluating the snapshot's objects in full, before and
after the change, on randomized meshes stored by the sync's own writer (issue 13 §5)."""

from dataclasses import replace

import pytest

from policies.engine import WorkloadRef, evaluate
from policies.engine.impact import objects_with_applied, objects_with_deleted, posture_impact
from policies.engine.inputs import parse_objects
from policies.engine.resolve import resolve
from policies.services.audit import AuditAction
from policies.services.changes import impact_of
from policies.services.changes.plans import ChangePlan
from policies.services.changes.preview import can_evaluate_one_namespace
from policies.snapshot_objects import snapshot_inputs, snapshot_objects
from tests.engine.builders import ROOT
from tests.engine.random_mesh import random_change, random_mesh
from tests.factories import snapshot_from_manifests

pytestmark = pytest.mark.django_db

SEEDS = range(60)


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_inputs_equal_the_parsed_snapshot_objects(seed):
    snapshot = snapshot_from_manifests(random_mesh(seed))
    full = evaluate(snapshot_objects(snapshot), ROOT)
    assert resolve(snapshot_inputs(snapshot), ROOT) == full
    scope = {"ns-0", ROOT}
    assert resolve(snapshot_inputs(snapshot, namespaces=scope), ROOT) == evaluate(
        snapshot_objects(snapshot, namespaces=scope), ROOT
    )
    assert parse_objects(snapshot_objects(snapshot), ROOT).object_counts == (
        snapshot_inputs(snapshot).object_counts
    )


def plan_for(change) -> ChangePlan:
    action, detail = change
    if action == "delete":
        kind, namespace, name = detail
        return ChangePlan(
            AuditAction.POLICY_DELETE,
            namespace,
            "delete",
            delete=(kind, namespace, name, "1"),
        )
    namespace = detail["metadata"]["namespace"]
    return ChangePlan(AuditAction.PEER_AUTHENTICATION_APPLY, namespace, "apply", manifests=[detail])


@pytest.mark.parametrize("seed", SEEDS)
def test_preview_impact_equals_the_full_evaluation(seed):
    snapshot = snapshot_from_manifests(random_mesh(seed))
    change = random_change(seed, random_mesh(seed))
    plan = plan_for(change)
    fast, _note = impact_of(plan)
    again, _note = impact_of(plan)  # the kept mesh-wide input, reused
    objects = snapshot_objects(snapshot)
    if change[0] == "delete":
        changed = objects_with_deleted(objects, *change[1])
    else:
        changed = objects_with_applied(objects, change[1])
    full = posture_impact(evaluate(objects, ROOT), evaluate(changed, ROOT))
    if can_evaluate_one_namespace(snapshot, plan):
        # One namespace evaluated; the mesh's other plaintext callers are named from the
        # database, in its order: the same ones, counted the same.
        assert replace(fast, plaintext_callers=()) == replace(full, plaintext_callers=())
        assert set(fast.plaintext_callers) <= set(full.plaintext_callers) | set(
            WorkloadRef(w.namespace, w.name, w.kind) for w in evaluate(changed, ROOT).workloads
        )
    else:
        assert fast == full
    assert again == fast
