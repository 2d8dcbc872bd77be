"""`manage.py posture --manifests`: hostile files are refused in words and exit 2.

Exit 1 means "findings at or above --fail-on" and must never stand for a crash; a
traceback is never the answer. A malformed value inside a well-formed PeerAuthentication
(a port key that is no port) is a finding, as the API server would refuse it too.
"""

from __future__ import annotations

import json
import resource

import pytest

from tests.test_posture_command import SHOP, cli, run

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]"
            for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "apiVersion: security.istio.io/v1",
        "kind: PeerAuthentication",
        "metadata: {name: lol, namespace: shop}",
        "spec: {selector: {matchLabels: {app: *i}}}",
        "",
    ]
)


def shop_with_port_key(key: str) -> str:
    """The posture command tests' shop, its workload policy's port 8080 replaced by `key`."""
    assert "    8080:\n" in SHOP
    return SHOP.replace("    8080:\n", f"    {key}:\n")


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def limit_memory_to_two_gigabytes():  # runs in the child, before it execs Python
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_billion_laughs_file_is_refused_without_exhausting_memory(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    assert bomb.stat().st_size < 700
    result = cli("--manifests", str(bomb), preexec_fn=limit_memory_to_two_gigabytes)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert f"{bomb}:" in result.stderr
    assert "aliases" in result.stderr


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    (tmp_path / "loop.yaml").write_text("kind: Namespace\nmetadata: {name: x}\nloop: &x [*x]\n")
    code, _, err = run("--manifests", str(tmp_path / "loop.yaml"))
    assert code == 2
    assert "loop.yaml:" in err and "alias" in err


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path):
    (tmp_path / "anchors.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: &labels "
        "{istio-injection: enabled, team: a}}}\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: cart, labels: "
        "{<<: *labels, team: b}}}\n"
    )
    code, out, err = run("--manifests", str(tmp_path), "--format", "json")
    assert code == 0, err
    namespaces = {n["name"]: n for n in json.loads(out)["namespaces"]}
    assert namespaces["cart"]["injection"] == namespaces["shop"]["injection"] == "enabled"


def test_a_file_over_the_size_limit_is_refused_by_name(tmp_path, settings):
    settings.MESHUI_MANIFEST_MAX_BYTES = 1000
    big = tmp_path / "big.yaml"
    big.write_text("kind: Namespace\nmetadata: {name: x}\n" + "# padding\n" * 200)
    code, _, err = run("--manifests", str(tmp_path))
    assert code == 2
    assert str(big) in err
    assert "1,000 bytes" in err and "MESHUI_MANIFEST_MAX_BYTES" in err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.yaml", f"kind: Namespace\nmetadata: {{name: x}}\nvalue: {nested_lists(10_000)}\n"),
        (
            "deep.json",
            f'{{"kind": "Namespace", "metadata": {{"name": "x"}}, '
            f'"value": {nested_lists(10_000)}}}',
        ),
        # Deep enough to break repr() and JSON later on, shallow enough for libyaml.
        ("deeper-than-useful.yaml", f"kind: Namespace\nmetadata:\n  name: {nested_lists(990)}\n"),
        (
            "deeper-than-useful.json",
            json.dumps({"kind": "Namespace", "metadata": {"name": "x"}}).replace(
                '"x"', nested_lists(900)
            ),
        ),
    ],
)
def test_deep_nesting_is_refused_by_name(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    code, _, err = run("--manifests", str(tmp_path / name))
    assert code == 2, err
    assert f"{tmp_path / name}" in err
    assert "nest" in err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("huge.yaml", "kind: Namespace\nmetadata:\n  name: x\n  generation: " + "9" * 5000 + "\n"),
        (
            "huge.json",
            '{"kind": "Namespace", "metadata": {"name": "x", "generation": ' + "9" * 5000 + "}}",
        ),
        # An explicit key (`? KEY`), since YAML caps implicit keys at 1024 characters.
        ("huge-key.yaml", shop_with_port_key("? " + "9" * 5000 + "\n    ")),
    ],
)
def test_a_number_too_large_to_read_is_refused_by_name(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    code, _, err = run("--manifests", str(tmp_path / name))
    assert code == 2, err
    assert f"{tmp_path / name}" in err
    assert "5000 digits" in err


@pytest.mark.parametrize("kind", ["[Namespace]", "{a: 1}", "5", "true"])
def test_a_kind_that_is_not_a_string_is_refused_by_name(tmp_path, kind):
    (tmp_path / "kind.yaml").write_text(f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: x}}\n")
    code, _, err = run("--manifests", str(tmp_path / "kind.yaml"))
    assert code == 2
    assert f"{tmp_path / 'kind.yaml'}:1:" in err
    assert "kind" in err


@pytest.mark.parametrize(
    ("port", "shown"),
    [
        ('"²"', "²"),  # str.isdigit() says yes, int() says no
        ('"٨٠٨٠"', "٨٠٨٠"),  # Arabic-Indic digits: int() reads them, the API server does not
        ('"' + "9" * 5000 + '"', "9" * 20),
        ('"0"', "0"),
        ('"65536"', "65536"),
        ('" 8080"', " 8080"),
    ],
)
def test_a_port_key_that_is_no_port_is_a_finding_not_a_crash(tmp_path, port, shown):
    (tmp_path / "policy.json").write_text(
        json.dumps(
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "PeerAuthentication",
                "metadata": {"name": "api", "namespace": "shop"},
                "spec": {
                    "selector": {"matchLabels": {"app": "api"}},
                    "portLevelMtls": {json.loads(port): {"mode": "DISABLE"}},
                },
            }
        )
    )
    code, out, err = run("--manifests", str(tmp_path), "--format", "json", "--fail-on", "error")
    assert code == 1, err  # the finding is an error, so --fail-on error fails: that is its job
    findings = [f for f in json.loads(out)["findings"] if f["code"] == "INVALID_PORT_LEVEL_MTLS"]
    assert [(f["namespace"], f["name"]) for f in findings] == [("shop", "api")]
    assert shown in findings[0]["message"]


def test_a_yaml_port_key_that_is_no_port_is_a_finding_too(tmp_path):
    (tmp_path / "policy.yaml").write_text(shop_with_port_key("²"))
    code, out, err = run("--manifests", str(tmp_path), "--format", "table")
    assert code == 0, err
    assert "[error] INVALID_PORT_LEVEL_MTLS PeerAuthentication shop/api" in out


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('!!int ""', "'' is not a valid int"),  # PyYAML's own IndexError
        ("!!float x", "'x' is not a valid float"),
        ("!!bool maybe", "'maybe' is not a valid bool"),
        ("!!timestamp soon", "'soon' is not a valid timestamp"),
    ],
)
def test_a_value_its_tag_cannot_read_is_refused_by_name_and_line(tmp_path, value, words):
    (tmp_path / "tagged.yaml").write_text(f"kind: Namespace\nmetadata:\n  name: {value}\n")
    code, _, err = run("--manifests", str(tmp_path / "tagged.yaml"))
    assert code == 2
    assert f"{tmp_path / 'tagged.yaml'}:3:" in err and words in err
