"""Reading manifests from disk: files, directories, multi-document YAML, Lists, JSON, and
bad input that names the file and line."""

import json

import pytest

from policies.manifests import ManifestError, read_manifests

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
"""


def names(objects):
    return [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]


def test_directory_is_read_recursively_in_order(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.yaml").write_text(DEPLOYMENT)
    (tmp_path / "b.yml").write_text(DEPLOYMENT.replace("api", "web"))
    (tmp_path / "c.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    )
    (tmp_path / "notes.txt").write_text("not: [a manifest")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("broken: [")
    assert names(read_manifests(tmp_path)) == [
        ("Deployment", "shop", "api"),
        ("Deployment", "shop", "web"),
        ("Namespace", None, "shop"),
    ]


def test_multi_document_yaml_with_empty_and_comment_documents(tmp_path):
    path = tmp_path / "bundle.yaml"
    path.write_text(
        "# header\n---\n"
        + DEPLOYMENT
        + "---\n---\n# only a comment\n---\n"
        + DEPLOYMENT.replace("api", "web")
        + "---\n"
    )
    assert names(read_manifests(path)) == [
        ("Deployment", "shop", "api"),
        ("Deployment", "shop", "web"),
    ]


def test_kind_list_is_expanded(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": "a", "namespace": "x"},
                    },
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}},
                ],
            }
        )
    )
    assert names(read_manifests(path)) == [("Service", "x", "a"), ("Service", "default", "b")]


def test_objects_without_namespace_go_to_default_but_namespaces_stay_cluster_scoped(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        DEPLOYMENT.replace("  namespace: shop\n", "")
        + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
    )
    assert names(read_manifests(path)) == [
        ("Deployment", "default", "api"),
        ("Namespace", None, "shop"),
    ]


def test_unquoted_timestamps_stay_rfc3339_text(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        DEPLOYMENT.replace("metadata:\n", "metadata:\n  creationTimestamp: 2024-01-15T12:00:00Z\n")
    )
    assert read_manifests(path)[0]["metadata"]["creationTimestamp"] == "2024-01-15T12:00:00Z"


def test_documents_without_kind_are_skipped(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("replicas: 3\nimage: x\n")
    assert read_manifests(path) == []


BAD = [
    (
        "invalid YAML names the line and where the construct began",
        "ok.yaml",
        DEPLOYMENT + "  labels: [a, b\n",
        "while parsing a flow sequence that starts on line 6",
        7,
    ),
    ("bad indentation", "x.yaml", "kind: Service\n metadata: x\n", "invalid YAML", 2),
    (
        "invalid JSON names the line",
        "x.json",
        '{\n  "kind": "Service",\n  oops\n}',
        "invalid JSON",
        3,
    ),
    (
        "a document that is a list",
        "x.yaml",
        DEPLOYMENT + "---\n- a\n- b\n",
        "not a Kubernetes object",
        7,
    ),
    ("an object without metadata", "x.yaml", "kind: Service\nmetadata: 3\n", "no metadata", 1),
]


@pytest.mark.parametrize(
    ("label", "filename", "text", "words", "line"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_input_names_file_and_line(tmp_path, label, filename, text, words, line):
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(ManifestError) as raised:
        read_manifests(tmp_path)
    assert raised.value.path == str(path)
    assert raised.value.line == line
    assert words in str(raised.value)
    assert str(raised.value).startswith(f"{path}:{line}: ")


def test_missing_path(tmp_path):
    with pytest.raises(ManifestError, match="no such file or directory"):
        read_manifests(tmp_path / "nope")


def test_non_utf8_file(tmp_path):
    (tmp_path / "x.yaml").write_bytes(b"kind: \xff\xfe\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifests(tmp_path)


# --- The fast JSON path (orjson) reads exactly what the standard reader reads ----------------


def _nested(depth: int) -> str:
    return "[" * (depth - 1) + "1" + "]" * (depth - 1)


@pytest.mark.parametrize(
    "value",
    [
        '"a string with } and ] and { inside"',
        '"escaped \\" quote \\\\ and a backslash then a bracket ]"',
        '"ends with a backslash \\\\"',
        '"\\\\\\" still inside [ the string"',
        '{"deep": ' + _nested(90) + "}",
        "12345678901234567890123456789",  # beyond 64 bits: orjson would read a float
        '"ünïcödé ✓"',
        "1.5e300",
        "[1, 12345678901234567890123, -98765432109876543210987]",
        '{"n": -12345678901234567890123}',
        "[12345678901234567890123]",
        '"sha256:4a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef"',
        '"12345678901234567890123 only in a string"',
        "0.12345678901234567890123",
    ],
    ids=[
        "brackets in strings",
        "escapes",
        "trailing backslash",
        "escaped backslashes then an escaped quote",
        "90 deep",
        "big int",
        "utf-8",
        "float",
        "big ints in a list",
        "negative big int",
        "big int first in a list",
        "digits between letters",
        "long digit run in a string",
        "long fraction",
    ],
)
def test_fast_json_reader_reads_what_the_standard_reader_reads(tmp_path, value):
    from policies.manifests import _json_documents, read_manifest_file

    text = (
        '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap",'
        f' "metadata": {{"name": "x", "namespace": "shop"}}, "data": {{"v": {value}}}}}]}}'
    )
    path = tmp_path / "objects.json"
    path.write_text(text, encoding="utf-8")
    standard: list = []
    for number, document in _json_documents(path, text):
        from policies.manifests import _collect

        _collect(path, number, document, standard)
    assert read_manifest_file(path) == standard


@pytest.mark.parametrize(
    ("depth", "refused"), [(99, False), (100, False), (101, True), (102, True)]
)
def test_fast_json_reader_keeps_the_nesting_limit_at_the_boundary(tmp_path, depth, refused):
    import json

    from policies.manifests import (
        ManifestError,
        _deeper_than,
        _json_nests_deeper_than,
        read_manifest_file,
    )

    # `depth` objects and arrays in all: the document, and depth - 1 arrays in `value`.
    text = '{"kind": "ConfigMap", "metadata": {"name": "x"}, "value": ' + _nested(depth) + "}"
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    assert _deeper_than(json.loads(text), 100) is refused  # the standard reader's judgement
    assert _json_nests_deeper_than(text.encode(), 100) is refused
    if refused:
        with pytest.raises(ManifestError, match="nest more than 100 levels"):
            read_manifest_file(path)
    else:
        assert read_manifest_file(path)[0]["metadata"]["name"] == "x"


@pytest.mark.parametrize(
    ("depth", "refused"), [(99, False), (100, False), (101, True), (102, True)]
)
@pytest.mark.parametrize(
    "strings",
    [
        '"", "plain", "x\\"y"',  # no bracket in any string: the one-replace path
        '"[[[", "}}", "{\\"[\\"}", "", "]"',  # brackets and escaped quotes inside strings
    ],
)
def test_nesting_check_ignores_brackets_inside_strings(depth, refused, strings):
    import json

    from policies.manifests import _deeper_than, _json_nests_deeper_than

    text = '{"kind": "ConfigMap", "s": [' + strings + '], "value": ' + _nested(depth) + "}"
    assert _deeper_than(json.loads(text), 100) is refused
    assert _json_nests_deeper_than(text.encode(), 100) is refused


@pytest.mark.parametrize(
    ("depth", "refused"), [(99, False), (100, False), (101, True), (102, True)]
)
def test_nesting_check_counts_objects_and_arrays_alike(depth, refused):
    """The check reads `[]` as `{}` (valid JSON closes each bracket with its own kind)."""
    import json

    from policies.manifests import _deeper_than, _json_nests_deeper_than

    opened = ['{"a": ', "["] * depth
    value = "".join(opened[: depth - 1]) + "1"
    for bracket in reversed(opened[: depth - 1]):
        value += "}" if bracket.startswith("{") else "]"
    text = '{"kind": "ConfigMap", "mixed": [[], {}, [{}]], "value": ' + value + "}"
    assert _deeper_than(json.loads(text), 100) is refused
    assert _json_nests_deeper_than(text.encode(), 100) is refused


def test_list_items_are_placed_alike_on_every_path(tmp_path):
    """A List's common items are placed without a call; the others take the general path."""
    import json

    from policies.manifests import ManifestError, read_manifest_file

    items = [
        {"kind": "ConfigMap", "metadata": {"name": "placed", "namespace": "shop"}},
        {"kind": "ConfigMap", "metadata": {"name": "defaulted"}},
        {"kind": "ConfigMap", "metadata": {"name": "emptied", "namespace": ""}},
        {"kind": "Namespace", "metadata": {"name": "shop"}},
        {"metadata": {"name": "no-kind"}},
        {"kind": "PodList", "items": [{"kind": "Pod", "metadata": {"name": "inner"}}]},
    ]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"kind": "List", "items": items}))
    assert [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in (read_manifest_file(path))
    ] == [
        ("ConfigMap", "shop", "placed"),
        ("ConfigMap", "default", "defaulted"),
        ("ConfigMap", "default", "emptied"),
        ("Namespace", None, "shop"),
        ("Pod", "default", "inner"),
    ]
    path.write_text(json.dumps({"kind": "List", "items": [*items, {"kind": "Pod"}]}))
    with pytest.raises(ManifestError, match=r"document 1 \(Pod\) has no metadata mapping"):
        read_manifest_file(path)
