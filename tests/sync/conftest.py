"""Fixtures for sync tests: the Kubernetes API server double, reached over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies import cluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kube(devcluster, settings):
    """The API server double (reset), with meshui's settings pointing at it."""
    settings.MESHUI_KUBECONFIG = str(devcluster.kubeconfig)
    settings.MESHUI_KUBE_CONTEXT = ""
    settings.MESHUI_CLUSTER_NAME = "test-cluster"
    settings.MESHUI_ROOT_NAMESPACE = "istio-system"
    settings.MESHUI_KUBE_TIMEOUT_SECONDS = 5
    settings.MESHUI_KUBE_PAGE_SIZE = 500
    settings.REDIS_URL = ""
    cluster.forget_clients()
    yield devcluster
    cluster.forget_clients()
    devcluster.reset()  # a test may have swapped the CRDs


def crd_files_serving(tmp_path: Path, **versions: tuple[str, ...]) -> list[Path]:
    """Copies of Istio's CRDs serving only the given versions: PeerAuthentication=("v1beta1",)."""
    files = []
    for source in sorted((ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(source.read_text())
        kind = crd["spec"]["names"]["kind"]
        wanted = versions.get(kind)
        if wanted is not None:
            kept = [v for v in crd["spec"]["versions"] if v["name"] in wanted]
            for version in kept:
                version["storage"] = False
            kept[0]["storage"] = True
            crd["spec"]["versions"] = kept
        target = tmp_path / source.name
        target.write_text(yaml.safe_dump(crd))
        files.append(target)
    return files
