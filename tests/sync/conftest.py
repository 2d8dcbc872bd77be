"""Helpers for sync tests; `kube`, the API server double over real HTTP, is tests/conftest.py's."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
