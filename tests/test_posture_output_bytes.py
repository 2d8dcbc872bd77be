"""`posture`'s output is byte-identical to what it printed before the speed work of issue 13
§5 (lazy imports, no django.setup() for the offline check, the collector's last pass skipped,
faster reading and evaluation): the SHA-256 of stdout for every conformance case and for two
generated meshes (bench/engine.py's, as JSON and YAML files), recorded from main's code at
23bda5c, in every format, through manage.py as a user runs it; and the error messages and
exit codes of bad input."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.posture_command import write_mesh

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "engine" / "conformance_cases"

# "case format sha256" per line: stdout as recorded before the change.
RECORDED = {
    (case, output_format): sha256
    for case, output_format, sha256 in (
        line.split() for line in (Path(__file__).parent / "posture_output_sha256.txt").open()
    )
}


def posture(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "posture", *args],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )


def digest(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return hashlib.sha256(result.stdout).hexdigest()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    meshes = {}
    for name, scale, file_format in (("mesh", 0.01, "json"), ("meshy", 0.005, "yaml")):
        directory = tmp_path_factory.mktemp(name)
        write_mesh(directory, scale, file_format)
        meshes[name] = directory
    return meshes


@pytest.mark.parametrize("output_format", ["json", "table", "csv"])
@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_posture_output_is_byte_identical_for_conformance_cases(case, output_format):
    result = posture("--manifests", str(CASES / case / "manifests"), "--format", output_format)
    assert digest(result) == RECORDED[(case, output_format)]


@pytest.mark.parametrize("output_format", ["json", "table", "csv"])
@pytest.mark.parametrize("mesh", ["mesh", "meshy"])
def test_posture_output_is_byte_identical_for_generated_meshes(generated, mesh, output_format):
    result = posture("--manifests", str(generated[mesh]), "--format", output_format)
    assert digest(result) == RECORDED[(mesh, output_format)]


def test_posture_bad_input_keeps_its_messages_and_exit_codes(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: b\n c: d\n")
    cases = [
        (
            ["--manifests", str(tmp_path)],
            2,
            f"CommandError: {tmp_path}/bad.yaml:2: invalid YAML: mapping values are not "
            "allowed in this context (column 3)\n",
        ),
        (
            ["--manifests", str(tmp_path / "nothing")],
            2,
            f"CommandError: {tmp_path}/nothing: no such file or directory\n",
        ),
        (
            [],
            2,
            "CommandError: say what to evaluate: --manifests PATH (a file or directory) or "
            "--kubeconfig PATH\n",
        ),
        (
            ["--context", "a", "--context", "b", "--manifests", "."],
            2,
            "CommandError: several --context values need --kubeconfig (and no --manifests)\n",
        ),
    ]
    for args, code, message in cases:
        result = posture(*args)
        assert (result.returncode, result.stderr.decode(), result.stdout) == (code, message, b"")
    usage = posture("--manifests", ".", "--format", "xml")
    assert usage.returncode == 2
    assert usage.stderr.decode().startswith("usage: manage.py posture [-h] [--manifests PATH]")
    assert "invalid choice: 'xml'" in usage.stderr.decode()


def test_posture_fail_on_still_exits_1_after_printing(generated):
    result = posture("--manifests", str(generated["mesh"]), "--fail-on", "warning")
    assert result.returncode == 1
    assert hashlib.sha256(result.stdout).hexdigest() == RECORDED[("mesh", "table")]
    assert result.stderr.decode() == "CommandError: 437 finding(s) at or above warning\n"
