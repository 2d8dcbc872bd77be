"""The sample corpus (copied from the shared conformance cases; not ours to change), run
through the real `posture` command code path and compared field by field."""

import json
import shlex
from pathlib import Path

import pytest

from policies.engine import evaluate, posture_as_json
from policies.manifests import read_manifests

CASES = sorted(p for p in (Path(__file__).parent / "conformance_cases").iterdir() if p.is_dir())


def compare(expected: dict, actual: dict) -> list[str]:
    """The differences between a case's expected.json and the posture JSON (empty: pass)."""
    diffs = []
    if "root_namespace" in expected and expected["root_namespace"] != actual["root_namespace"]:
        diffs.append(f"root_namespace: {actual['root_namespace']}")
    for field, value in expected.get("mesh", {}).items():
        if actual["mesh"].get(field) != value:
            diffs.append(f"mesh.{field}: expected {value!r}, got {actual['mesh'].get(field)!r}")
    for section, key_of in (
        ("namespaces", lambda r: r["name"]),
        ("workloads", lambda r: f"{r['namespace']}/{r['name']}"),
    ):
        rows: dict[str, list[dict]] = {}
        for row in actual[section]:
            rows.setdefault(key_of(row), []).append(row)
        for key, want in expected.get(section, {}).items():
            found = rows.get(key, [])
            if want is None:
                if found:
                    diffs.append(f"{section}[{key}]: expected absent")
                continue
            if len(found) != 1:
                diffs.append(f"{section}[{key}]: reported {len(found)} times")
                continue
            for field, value in want.items():
                if found[0].get(field) != value:
                    diffs.append(
                        f"{section}[{key}].{field}: expected {value!r}, got {found[0].get(field)!r}"
                    )
    reported = actual["findings"]
    codes = {f["code"] for f in reported}
    diffs += [
        f"missing code {c}" for c in expected.get("findings_codes_present", []) if c not in codes
    ]
    diffs += [
        f"unexpected code {c}" for c in expected.get("findings_codes_absent", []) if c in codes
    ]
    for want in expected.get("findings", []):
        if not any(all(f.get(k) == v for k, v in want.items()) for f in reported):
            diffs.append(f"no finding matches {want}")
    return diffs


def root_namespace_of(case: Path) -> str:
    args_file = case / "args"
    args = shlex.split(args_file.read_text(), comments=True) if args_file.exists() else []
    for index, arg in enumerate(args):
        if arg == "--root-namespace":
            return args[index + 1]
        if arg.startswith("--root-namespace="):
            return arg.split("=", 1)[1]
    return "istio-system"


def test_the_corpus_is_present():
    assert len(CASES) >= 14


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance_case(case):
    expected = json.loads((case / "expected.json").read_text())
    posture = evaluate(read_manifests(case / "manifests"), root_namespace=root_namespace_of(case))
    actual = json.loads(json.dumps(posture_as_json(posture)))
    assert compare(expected, actual) == []


def test_the_comparer_reports_a_wrong_mode():
    actual = {
        "root_namespace": "istio-system",
        "mesh": {"mode": "PERMISSIVE", "policy": None},
        "namespaces": [],
        "workloads": [{"namespace": "a", "name": "b", "mode": "STRICT", "ports": {}}],
        "findings": [],
    }
    expected = {
        "mesh": {"mode": "STRICT"},
        "workloads": {"a/b": {"mode": "DISABLE"}, "a/c": {"mode": "STRICT"}},
        "findings_codes_present": ["MESH_PERMISSIVE"],
    }
    assert len(compare(expected, actual)) == 4
