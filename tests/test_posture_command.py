"""`manage.py posture`: exit codes, the three formats, bad input in words, no database."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent

MESH = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: {mode}
"""
SHOP = """apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio-injection: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
      - name: api
        ports:
        - containerPort: 8080
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: api
  namespace: shop
spec:
  selector:
    matchLabels:
      app: api
  portLevelMtls:
    8080:
      mode: DISABLE
"""


@pytest.fixture
def manifests(tmp_path):
    def write(mode="STRICT", extra=""):
        (tmp_path / "mesh.yaml").write_text(MESH.format(mode=mode))
        (tmp_path / "apps").mkdir(exist_ok=True)
        (tmp_path / "apps" / "shop.yaml").write_text(SHOP + extra)
        return tmp_path

    return write


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("posture", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        code, err = error.returncode, io.StringIO(str(error))
    return code, out.getvalue(), err.getvalue()


def test_json_prints_one_object_with_the_contract_fields(manifests):
    code, out, _ = run("--manifests", str(manifests()), "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert document["mesh"]["mode"] == "STRICT"
    assert document["mesh"]["policy"] == "istio-system/default"
    assert [n["name"] for n in document["namespaces"]] == ["istio-system", "shop"]
    assert document["workloads"] == [document["workloads"][0]]
    api = document["workloads"][0]
    assert (
        api["namespace"],
        api["name"],
        api["kind"],
        api["mode"],
        api["policy"],
        api["ports"],
    ) == ("shop", "api", "Deployment", "STRICT", "istio-system/default", {"8080": "DISABLE"})


def test_table_is_for_people(manifests):
    code, out, _ = run("--manifests", str(manifests(mode="PERMISSIVE")), "--format", "table")
    assert code == 0
    assert "Mesh (istio-system): PERMISSIVE  (istio-system/default)" in out
    assert "NAMESPACES" in out and "WORKLOADS" in out and "FINDINGS" in out
    assert "8080=DISABLE" in out
    assert "[info] MESH_PERMISSIVE" in out


def test_csv_is_one_table_with_a_record_column(manifests):
    code, out, _ = run("--manifests", str(manifests()), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [r["record"] for r in rows[:4]] == ["mesh", "namespace", "namespace", "workload"]
    workload = rows[3]
    assert (workload["name"], workload["mode"], workload["ports"]) == (
        "api",
        "STRICT",
        "8080=DISABLE",
    )
    # Booleans as in the report exports (policies.exports.spreadsheet_safe), not True/False.
    assert (rows[1]["ambient"], workload["ambient"]) == ("false", "false")
    assert workload["has_sidecar"] == "true"  # shop has istio-injection=enabled


def test_csv_cells_never_start_a_formula(tmp_path):
    (tmp_path / "x.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: '=cmd|calc'\n  namespace: shop\n"
    )
    _, out, _ = run("--manifests", str(tmp_path), "--format", "csv")
    assert "'=cmd|calc" in out
    assert ",=cmd" not in out


GHOST_POLICY = (
    "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
    "  name: ghost\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: ghost\n"
)
FAIL_ON = [
    ("no --fail-on: findings do not fail", "STRICT", "", [], 0),
    ("an info finding is below warning", "PERMISSIVE", "", ["--fail-on", "warning"], 0),
    (
        "a warning fails --fail-on warning",
        "STRICT",
        GHOST_POLICY,
        ["--fail-on", "warning"],
        1,
    ),
    (
        "a warning does not fail --fail-on error",
        "STRICT",
        GHOST_POLICY,
        ["--fail-on", "error"],
        0,
    ),
    (
        "an error fails --fail-on error",
        "STRICT",
        "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ns\n"
        "  namespace: shop\nspec:\n  portLevelMtls:\n    80:\n      mode: STRICT\n",
        ["--fail-on", "error"],
        1,
    ),
]


@pytest.mark.parametrize(
    ("label", "mode", "extra", "args", "code"), FAIL_ON, ids=[f[0] for f in FAIL_ON]
)
def test_fail_on_exit_codes(manifests, label, mode, extra, args, code):
    exit_code, out, err = run(
        "--manifests", str(manifests(mode=mode, extra=extra)), "--format", "json", *args
    )
    assert exit_code == code
    json.loads(out)  # the report is printed either way
    if code:
        assert "finding(s) at or above" in err


def test_root_namespace_option(manifests, tmp_path):
    code, out, _ = run(
        "--manifests", str(manifests()), "--format", "json", "--root-namespace", "mesh"
    )
    document = json.loads(out)
    assert document["root_namespace"] == "mesh"
    assert document["mesh"]["policy"] is None  # istio-system/default is namespace-wide now


def test_bad_input_exits_2_naming_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: Service\nmetadata:\n  name: [x\n")
    code, _, err = run("--manifests", str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'bad.yaml'}:" in err and "invalid YAML" in err


def test_missing_path_exits_2(tmp_path):
    code, _, err = run("--manifests", str(tmp_path / "nope"))
    assert (code, "no such file or directory" in err) == (2, True)


def test_unreadable_kubeconfig_exits_2_in_words(tmp_path):
    code, _, err = run("--kubeconfig", str(tmp_path / "missing-kubeconfig"))
    assert code == 2
    assert "missing-kubeconfig" in err


def test_manifests_and_kubeconfig_together_exit_2(tmp_path):
    code, _, err = run("--manifests", str(tmp_path), "--kubeconfig", str(tmp_path / "k"))
    assert (code, "not both" in err) == (2, True)


def test_no_source_exits_2():
    code, _, err = run()
    assert code == 2
    assert "--manifests" in err


def cli(*args, env=None, **options):
    return subprocess.run(
        [sys.executable, "manage.py", "posture", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        **options,
    )


def test_cli_bad_yaml_is_a_message_not_a_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: b\n c: d\n")
    result = cli("--manifests", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'bad.yaml'}:2:" in result.stderr


def test_cli_works_when_the_database_is_unreachable(manifests):
    result = cli(
        "--manifests",
        str(manifests()),
        "--format",
        "json",
        "--fail-on",
        "error",
        env={
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mesh"]["mode"] == "STRICT"


def test_cli_unknown_format_is_a_usage_error():
    result = cli("--manifests", ".", "--format", "xml")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_json_with_shared_reasons_is_the_same_document():
    """`posture --format json` converts each shared reason once; the text must not change."""
    import json as stdlib_json

    from bench.engine import synthetic_mesh
    from policies.engine import evaluate, posture_as_json
    from policies.management.commands.posture import posture_json

    posture = evaluate(synthetic_mesh(0.01))
    assert stdlib_json.loads(posture_json(posture)) == stdlib_json.loads(
        stdlib_json.dumps(posture_as_json(posture))
    )


def test_cli_offline_check_starts_without_django_command_machinery_or_yaml(tmp_path):
    """manage.py runs `posture --manifests` before Django's settings machinery and command
    framework are imported (a tenth of a second of its start), and JSON files need no YAML
    parser: -X importtime lists none of them."""
    mesh_policy = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "istio-system"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    (tmp_path / "mesh.json").write_text(json.dumps({"kind": "List", "items": [mesh_policy]}))
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "manage.py", "posture", "--manifests"]
        + [str(tmp_path), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["mesh"]["mode"] == "STRICT"
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "policies.offline_posture" in imported
    assert not {"django.conf", "django.core.management", "django.db", "yaml"} & imported


def test_cli_offline_check_keeps_the_settings_refusals(manifests):
    served_to_others = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MESHUI_SECRET_KEY", "MESHUI_DEBUG", "MESHUI_HTTPS")
    }
    served_to_others["MESHUI_ALLOWED_HOSTS"] = "meshui.example.com"
    result = subprocess.run(
        [sys.executable, "manage.py", "posture", "--manifests", str(manifests())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=served_to_others,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("meshui: MESHUI_SECRET_KEY is not set")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_cli_help_and_abbreviations_are_djangos(manifests):
    """What the offline path does not parse itself goes to Django's command as before."""
    usage = cli("--help")
    assert usage.returncode == 0
    assert usage.stdout.startswith("usage: manage.py posture [-h] [--manifests PATH]")
    assert "--settings SETTINGS" in usage.stdout
    abbreviated = cli("--manif", str(manifests()), "--form", "json")
    assert abbreviated.returncode == 0, abbreviated.stderr
    assert abbreviated.stdout == cli("--manifests", str(manifests()), "--format", "json").stdout


@pytest.mark.parametrize("per_chunk", [1, 7, 10_000])
def test_json_written_in_chunks_is_the_same_text(monkeypatch, per_chunk):
    """The workloads are converted and written a chunk at a time; the bytes do not change
    with the chunk size, and read back as the engine's document."""
    import json as stdlib_json

    from bench.engine import synthetic_mesh
    from policies import offline_posture
    from policies.engine import evaluate, posture_as_json

    posture = evaluate(synthetic_mesh(0.01))
    assert len(posture.workloads) > 7
    whole = offline_posture.posture_json(posture)
    monkeypatch.setattr(offline_posture, "WORKLOADS_PER_CHUNK", per_chunk)
    assert offline_posture.posture_json(posture) == whole
    assert stdlib_json.loads(whole) == stdlib_json.loads(
        stdlib_json.dumps(posture_as_json(posture))
    )
    assert whole.endswith(b"}\n")


def test_json_of_a_mesh_without_workloads_has_an_empty_list(tmp_path):
    (tmp_path / "mesh.yaml").write_text(MESH.format(mode="STRICT"))
    code, out, _ = run("--manifests", str(tmp_path), "--format", "json")
    assert code == 0
    assert '"workloads": [],' in out
    assert json.loads(out)["workloads"] == []
