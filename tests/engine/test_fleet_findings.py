"""Cross-cluster findings (policies/engine/fleet.py), each case naming Istio's rule.

Namespace sameness: Istio treats namespace N in every cluster of a multi-cluster mesh as one
namespace, and a Service's endpoints in each cluster as one set of endpoints; but each
cluster's istiod programs its proxies from that cluster's PeerAuthentications.
"""

from __future__ import annotations

import pytest

from policies.engine import Severity
from policies.engine.fleet import (
    MESH_MODE_DIFFERS_ACROSS_CLUSTERS,
    NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS,
    SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS,
    ClusterPosture,
    fleet_findings,
)


def cluster(name: str, *, mesh="STRICT", root="istio-system", services=None, **namespaces):
    return ClusterPosture(
        cluster=name,
        root_namespace=root,
        mesh_mode=mesh,
        mesh_policy=f"{root}/default",
        namespaces={key.replace("_", "-"): value for key, value in namespaces.items()},
        services=services or {},
    )


CASES = [
    pytest.param(
        [cluster("a", payments="STRICT"), cluster("b", payments="PERMISSIVE")],
        [(NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS, "payments", Severity.WARNING)],
        id="sameness: one namespace, two modes, plaintext fails only on the STRICT side",
    ),
    pytest.param(
        [cluster("a", payments="STRICT"), cluster("b", payments="DISABLE")],
        [(NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS, "payments", Severity.ERROR)],
        id="STRICT and DISABLE: every client fails somewhere (an error)",
    ),
    pytest.param(
        [cluster("a", payments="STRICT"), cluster("b", payments="STRICT")],
        [],
        id="the same mode everywhere: nothing to say",
    ),
    pytest.param(
        [cluster("a", payments="STRICT"), cluster("b", shop="PERMISSIVE")],
        [],
        id="a namespace in one cluster only is nobody's twin",
    ),
    pytest.param(
        [cluster("a", payments="STRICT")],
        [],
        id="one cluster: nothing to compare",
    ),
    pytest.param(
        [cluster("a", mesh="STRICT"), cluster("b", mesh="PERMISSIVE")],
        [(MESH_MODE_DIFFERS_ACROSS_CLUSTERS, "", Severity.WARNING)],
        id="the mesh-wide modes differ",
    ),
    pytest.param(
        [
            cluster("a", root="istio-system", istio_system="STRICT", istio_config="PERMISSIVE"),
            cluster("b", root="istio-config", istio_system="STRICT", istio_config="STRICT"),
        ],
        [(NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS, "istio-config", Severity.WARNING)],
        id="each cluster's own root namespace (its istio ConfigMap) is left to the mesh finding",
    ),
    pytest.param(
        [
            cluster("a", payments="STRICT", services={("payments", "api"): ("STRICT",)}),
            cluster("b", payments="STRICT", services={("payments", "api"): ("PERMISSIVE",)}),
        ],
        [(SERVICE_MODE_DIFFERS_ACROSS_CLUSTERS, "payments", Severity.WARNING)],
        id="a Service's workloads differ although the namespaces agree (a workload policy)",
    ),
    pytest.param(
        [
            cluster("a", payments="STRICT", services={("payments", "api"): ("STRICT",)}),
            cluster("b", payments="PERMISSIVE", services={("payments", "api"): ("PERMISSIVE",)}),
        ],
        [(NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS, "payments", Severity.WARNING)],
        id="the namespace finding already says what the Service's would",
    ),
]


@pytest.mark.parametrize(("clusters", "expected"), CASES)
def test_fleet_findings(clusters, expected):
    found = [(f.code, f.namespace, f.severity) for f in fleet_findings(clusters)]
    assert found == expected


def test_namespace_finding_names_each_cluster_and_its_mode():
    (finding,) = fleet_findings(
        [cluster("east", payments="STRICT"), cluster("west", payments="PERMISSIVE")]
    )
    assert "STRICT in east, PERMISSIVE in west" in finding.message
    assert finding.kind == "Namespace" and finding.name == "payments"


def test_mesh_finding_names_each_clusters_root_namespace():
    (finding,) = fleet_findings(
        [cluster("east", mesh="STRICT"), cluster("west", mesh="DISABLE", root="istio-config")]
    )
    assert "root namespace istio-config" in finding.message
    assert finding.severity == Severity.ERROR
