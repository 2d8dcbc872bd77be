"""The preview's fast path equals the full evaluation, exactly (issue 13 §5).

`inputs_with_object` shares every parsed record but the changed policy; resolving that must
give the very posture that evaluating the changed objects gives, on randomized meshes.
"""

import pytest

from policies.engine import evaluate
from policies.engine.impact import objects_with_applied, objects_with_deleted, posture_impact
from policies.engine.incremental import inputs_with_object
from policies.engine.inputs import parse_objects
from policies.engine.resolve import resolve

from .builders import ROOT
from .random_mesh import random_change, random_mesh

SEEDS = range(60)


def changed_both_ways(objects, change):
    """(the changed objects, the changed inputs) for one change."""
    action, detail = change
    inputs = parse_objects(objects, ROOT)
    if action == "delete":
        kind, namespace, name = detail
        return (
            objects_with_deleted(objects, kind, namespace, name),
            inputs_with_object(inputs, ROOT, replace=detail, manifest=None),
        )
    manifest = detail
    key = (manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"])
    changed_objects = objects_with_applied(objects, manifest)
    existing = [
        obj
        for obj in objects
        if (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) == key
    ]
    merged = objects_with_applied(existing, manifest)[-1]
    return changed_objects, inputs_with_object(inputs, ROOT, replace=key, manifest=merged)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_change_resolved_in_place_equals_the_full_evaluation(seed):
    objects = random_mesh(seed)
    changed_objects, changed_inputs = changed_both_ways(objects, random_change(seed, objects))
    full = evaluate(changed_objects, ROOT)
    fast = resolve(changed_inputs, ROOT)
    assert fast == full
    assert fast.object_counts == full.object_counts
    assert posture_impact(evaluate(objects, ROOT), fast) == posture_impact(
        evaluate(objects, ROOT), full
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_the_unchanged_inputs_are_left_as_they_were(seed):
    objects = random_mesh(seed)
    inputs = parse_objects(objects, ROOT)
    before = resolve(inputs, ROOT)
    changed_both_ways(objects, random_change(seed, objects))
    assert resolve(inputs, ROOT) == before == evaluate(objects, ROOT)
