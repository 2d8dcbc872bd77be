"""The demo cluster's policies look as a real cluster's do: their managedFields and
last-applied annotations are what the API server and kubectl record for whoever made them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from devcluster import kubectl_last_applied

DEMO = Path(__file__).resolve().parents[2] / "devcluster" / "seeds" / "demo"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def demo_objects() -> list[dict]:
    return [
        doc
        for path in sorted(DEMO.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


RECORDED = [obj for obj in demo_objects() if obj["metadata"].get("managedFields")]


def ids(obj: dict) -> str:
    return f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"


def test_every_demo_policy_says_who_made_it():
    policies = [o for o in demo_objects() if o["kind"] in ("PeerAuthentication", "DestinationRule")]
    assert policies and all(obj in RECORDED for obj in policies)
    managers = {entry["manager"] for obj in RECORDED for entry in obj["metadata"]["managedFields"]}
    assert {"kubectl-client-side-apply", "argocd-controller", "meshui", "helm"} <= managers


@pytest.mark.parametrize("obj", RECORDED, ids=ids)
def test_demo_managed_fields_are_what_the_api_server_records(devcluster, obj):
    (entry,) = obj["metadata"]["managedFields"]
    made = copy.deepcopy(obj)
    del made["metadata"]["managedFields"]
    (stored,) = devcluster.seed(
        [made], manager=entry["manager"], operation=entry["operation"], time=entry["time"]
    )
    assert stored["metadata"]["managedFields"] == [entry]


@pytest.mark.parametrize(
    "obj", [o for o in RECORDED if LAST_APPLIED in o["metadata"].get("annotations", {})], ids=ids
)
def test_demo_last_applied_annotations_are_what_kubectl_apply_writes(obj):
    applied = copy.deepcopy(obj)
    metadata = applied["metadata"]
    for server_field in ("managedFields", "creationTimestamp"):
        del metadata[server_field]
    del metadata["annotations"][LAST_APPLIED]
    expected = kubectl_last_applied(applied)["metadata"]["annotations"][LAST_APPLIED]
    assert obj["metadata"]["annotations"][LAST_APPLIED] == expected
