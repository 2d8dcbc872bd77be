"""The impact diff: the engine before and after a change, compared (pure, no database)."""

from policies.engine import evaluate
from policies.engine.impact import objects_with_applied, objects_with_deleted, posture_impact
from tests.engine.builders import (
    ROOT,
    deployment,
    destination_rule,
    mesh_policy,
    namespace,
    peer_auth,
    service,
)

SIDECAR = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}


def mesh(*extra):
    return [
        namespace(ROOT),
        namespace("shop"),
        namespace("legacy"),
        deployment("shop", "cart", ports=[8080], annotations=SIDECAR),
        deployment("shop", "batch", ports=[9000]),  # no sidecar
        deployment("legacy", "mainframe", ports=[23]),  # no sidecar
        service("shop", "cart"),
        *extra,
    ]


def impact_of(before_objects, after_objects):
    return posture_impact(
        evaluate(before_objects, root_namespace=ROOT), evaluate(after_objects, root_namespace=ROOT)
    )


def test_namespace_toggle_to_strict_lists_namespace_and_workloads_that_move():
    before = mesh()
    after = objects_with_applied(before, peer_auth("shop", mode="STRICT"))
    impact = impact_of(before, after)
    assert [(c.label, c.before, c.after) for c in impact.namespace_changes] == [
        ("shop", "PERMISSIVE", "STRICT")
    ]
    assert sorted(c.label for c in impact.workload_changes) == ["shop/batch", "shop/cart"]
    assert all(c.after == "STRICT" for c in impact.workload_changes)


def test_strict_without_sidecar_is_called_out():
    before = mesh()
    impact = impact_of(before, objects_with_applied(before, peer_auth("shop", mode="STRICT")))
    assert [c.label for c in impact.strict_without_sidecar] == ["shop/batch"]
    assert any("without a sidecar" in warning for warning in impact.warnings)


def test_potential_plaintext_callers_are_the_meshs_workloads_without_sidecar():
    before = mesh()
    impact = impact_of(before, objects_with_applied(before, peer_auth("shop", mode="STRICT")))
    # meshui has no traffic data: every non-sidecar workload outside what changes may call it.
    assert [str(ref) for ref in impact.plaintext_callers] == ["legacy/mainframe"]
    assert impact.plaintext_callers_total == 1
    assert any("may call" in warning for warning in impact.warnings)


def test_no_plaintext_callers_listed_when_nothing_becomes_strict():
    before = mesh(peer_auth("shop", mode="STRICT"))
    after = objects_with_applied(before, peer_auth("shop", mode="PERMISSIVE"))
    impact = impact_of(before, after)
    assert impact.plaintext_callers == ()
    assert [c.after for c in impact.namespace_changes] == ["PERMISSIVE"]


def test_port_level_exception_shows_as_a_port_change():
    before = mesh(peer_auth("shop", mode="STRICT"))
    after = objects_with_applied(
        before,
        peer_auth(
            "shop", "cart", mode="STRICT", selector={"app": "cart"}, ports={8080: "PERMISSIVE"}
        ),
    )
    impact = impact_of(before, after)
    assert [(c.label, c.before, c.after) for c in impact.port_changes] == [
        ("shop/cart port 8080", "STRICT", "PERMISSIVE")
    ]
    assert impact.workload_changes == ()


def test_destination_rule_conflict_appears_when_namespace_becomes_strict():
    host = "cart.shop.svc.cluster.local"
    before = mesh(destination_rule("shop", "cart-plain", host, "DISABLE"))
    after = objects_with_applied(before, peer_auth("shop", mode="STRICT"))
    impact = impact_of(before, after)
    assert [f.code for f in impact.destination_rule_conflicts] == [
        "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT"
    ]
    assert "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT" in [f.code for f in impact.findings_appearing]


def test_deleting_the_policy_clears_its_findings_and_moves_modes_back():
    before = mesh(mesh_policy("PERMISSIVE"), peer_auth("shop", mode="STRICT"))
    after = objects_with_deleted(before, "PeerAuthentication", "shop", "default")
    impact = impact_of(before, after)
    assert [(c.label, c.after) for c in impact.namespace_changes] == [("shop", "PERMISSIVE")]
    assert "STRICT_WITHOUT_SIDECAR" in [f.code for f in impact.findings_disappearing]


def test_applying_the_same_object_changes_nothing():
    before = mesh(peer_auth("shop", mode="STRICT", created="2024-01-01T00:00:00Z"))
    after = objects_with_applied(before, peer_auth("shop", mode="STRICT"))
    impact = impact_of(before, after)
    assert not impact.changes_anything
    assert impact.warnings == ()


def test_applied_object_keeps_the_creation_time_of_the_one_it_replaces():
    before = [peer_auth("shop", mode="PERMISSIVE", created="2020-01-01T00:00:00Z")]
    after = objects_with_applied(before, peer_auth("shop", mode="STRICT"))
    assert len(after) == 1
    assert after[0]["metadata"]["creationTimestamp"] == "2020-01-01T00:00:00Z"
    assert after[0]["spec"]["mtls"]["mode"] == "STRICT"
