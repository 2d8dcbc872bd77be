"""A malformed object in the cluster costs a finding, never every sync.

An API server with validation off (a CRD without a schema, a webhook that let it through)
can hold objects whose fields have the wrong types. The double stores such objects when
seeded with `validate=False`; the sync must read everything else as before.
"""

from __future__ import annotations

import pytest

from policies.engine import evaluate
from policies.models import SyncRun
from policies.services.sync import cluster_sync
from tests.sync.builders import deployment, peer_auth, small_mesh

pytestmark = pytest.mark.django_db


def shop_policy(name: str, spec) -> dict:
    return {**peer_auth("shop", name), "spec": spec}


def cart_with_spec(spec) -> dict:
    return {**deployment("shop", "broken"), "spec": spec}


MALFORMED = {
    "a port key that only str.isdigit() calls a number": shop_policy(
        "odd-port",
        {"selector": {"matchLabels": {"app": "cart"}}, "portLevelMtls": {"²": {"mode": "STRICT"}}},
    ),
    "a port key of 5,000 digits": shop_policy(
        "huge-port",
        {
            "selector": {"matchLabels": {"app": "cart"}},
            "portLevelMtls": {"9" * 5000: {"mode": "STRICT"}},
        },
    ),
    "a spec that is a string": shop_policy("string-spec", "STRICT"),
    "a spec that is a list": shop_policy("list-spec", [{"mtls": {"mode": "STRICT"}}]),
    "a Deployment whose spec is a string": cart_with_spec("replicas: 3"),
    "a Deployment whose pod spec is a string": cart_with_spec(
        {"template": {"metadata": 5, "spec": "containers"}}
    ),
    "a Deployment whose containers are not objects": cart_with_spec(
        {"template": {"spec": {"containers": [1, "istio-proxy", None, {"ports": "8080"}]}}}
    ),
    "a Deployment whose labels are a list": {
        **deployment("shop", "broken"),
        "metadata": {"namespace": "shop", "name": "broken", "labels": ["app"], "annotations": 1},
    },
    "a CronJob whose jobTemplate is a string": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"namespace": "shop", "name": "nightly"},
        "spec": {"jobTemplate": "every night"},
    },
    "a CronJob whose job spec is a string": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"namespace": "shop", "name": "nightly"},
        "spec": {"jobTemplate": {"spec": "run"}},
    },
    "a Pod whose containers and status are not objects": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": "shop", "name": "stray"},
        "spec": {"containers": [5]},
        "status": "Running",
    },
}


def posture_rows(snapshot) -> dict:
    return {
        "namespaces": dict(snapshot.namespaces.values_list("name", "mode")),
        "workloads": {
            (namespace, name): mode
            for namespace, name, mode in snapshot.workloads.filter(
                name__in=["cart", "ledger"]
            ).values_list("namespace", "name", "mode")
        },
    }


@pytest.mark.parametrize("label", list(MALFORMED))
def test_a_malformed_object_leaves_every_other_object_synced(kube, label):
    kube.seed(small_mesh())
    healthy = cluster_sync(trigger="manual").snapshot
    kube.seed([MALFORMED[label]], validate=False)

    run = cluster_sync(trigger="manual")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert posture_rows(run.snapshot) == posture_rows(healthy)


@pytest.mark.parametrize("spec", ["STRICT", [{"mtls": {"mode": "STRICT"}}]], ids=["string", "list"])
def test_a_policy_whose_spec_is_no_object_is_skipped_with_a_finding_not_read_as_empty(kube, spec):
    # Istio cannot decode it and ignores it; read as an empty spec, this older policy would
    # win shop's namespace-wide competition and turn PERMISSIVE into the mesh's STRICT.
    older = {
        **shop_policy("aaa-older", spec),
        "metadata": {
            "namespace": "shop",
            "name": "aaa-older",
            "creationTimestamp": "2001-01-01T00:00:00Z",
        },
    }
    kube.seed(small_mesh())
    kube.seed([older], validate=False)
    snapshot = cluster_sync(trigger="manual").snapshot
    assert snapshot.namespaces.get(name="shop").mode == "PERMISSIVE"
    [finding] = snapshot.findings.filter(code="MALFORMED_OBJECT")
    assert (finding.namespace, finding.name, finding.kind, finding.severity) == (
        "shop",
        "aaa-older",
        "PeerAuthentication",
        "error",
    )
    assert "`spec` is a " in finding.message and "not an object" in finding.message
    assert not snapshot.findings.filter(code="DUPLICATE_NAMESPACE_POLICY").exists()


@pytest.mark.parametrize("label", ["a port key that only str.isdigit() calls a number"])
def test_a_port_key_that_is_no_port_is_reported_on_its_policy(kube, label):
    kube.seed(small_mesh())
    kube.seed([MALFORMED[label]], validate=False)
    snapshot = cluster_sync(trigger="manual").snapshot
    finding = snapshot.findings.get(code="INVALID_PORT_LEVEL_MTLS")
    assert (finding.namespace, finding.name, finding.kind) == (
        "shop",
        "odd-port",
        "PeerAuthentication",
    )
    assert "(²)" in finding.message


def test_an_object_the_engine_cannot_read_is_skipped_with_a_finding_naming_it():
    # Python hands the engine what no JSON decoder would: a number too long to print.
    objects = [
        *small_mesh(),
        {
            **peer_auth("shop", "unreadable"),
            "metadata": {"namespace": "shop", "name": "unreadable", "uid": 10**5000},
        },
        deployment("shop", "odd", labels={"app": 10**5000}),
    ]
    posture = evaluate(objects, root_namespace="istio-system")
    reference = evaluate(small_mesh(), root_namespace="istio-system")
    malformed = [f for f in posture.findings if f.code == "MALFORMED_OBJECT"]
    assert [(f.namespace, f.name, f.kind, str(f.severity)) for f in malformed] == [
        ("shop", "odd", "Deployment", "error"),
        ("shop", "unreadable", "PeerAuthentication", "error"),
    ]
    assert "left out" in malformed[0].message
    assert "4300 digits" in malformed[0].message
    assert posture.namespaces == reference.namespaces
    assert posture.workloads == reference.workloads
