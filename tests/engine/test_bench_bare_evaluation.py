"""bench/engine.py's bare_evaluation() is the yardstick the README measures evaluate() against:
it must read the same workloads, with the same facts, in the same order as the engine does,
or its figure says nothing about the engine."""

from __future__ import annotations

from operator import attrgetter

from bench.engine import bare_evaluation, synthetic_mesh
from policies.engine import evaluate

FACTS = attrgetter("namespace", "name", "kind", "labels", "container_ports", "host_network")


def test_bare_evaluation_reads_what_evaluate_reads_in_its_order():
    objects = synthetic_mesh(0.01)
    bare = bare_evaluation(objects)
    engine = evaluate(objects).workloads
    assert len(bare) == len(engine) > 100
    assert [FACTS(posture) for posture in bare] == [FACTS(posture) for posture in engine]
