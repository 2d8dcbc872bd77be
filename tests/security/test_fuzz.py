"""Fuzzing what strangers can type: manifests for `posture`, and the list pages' filters.

The promise under test is the documented one, not a particular answer: `posture` ends with
exit 0, 1 or 2 and never a traceback; a page answers 200 or 400 and never a 500. The runs are
derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.page_client import logged_in_on_a_small_snapshot
from tests.test_posture_command import run

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text a person or a file may hold: anything but lone surrogates, which no file or URL
# can carry as UTF-8 in the first place.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
HOSTILE = st.sampled_from(
    [
        "²",
        "٨٠٨٠",
        "9" * 5000,
        "-1",
        "0",
        "65536",
        " 8080",
        "\x00",
        "STRICT",
        "UNSET",
        "*",
        "a" * 300,
        "1e309",
        "0001-01-01T00:00+23:59",
        "<script>alert(1)</script>",
    ]
)
BIG_NUMBER = "__a number of 5000 digits__"

# --- posture --manifests ---------------------------------------------------------------

YAML_TOKENS = st.sampled_from(
    [
        "kind: PeerAuthentication\n",
        "apiVersion: security.istio.io/v1\n",
        "metadata: {name: a, namespace: shop}\n",
        "spec:\n  portLevelMtls:\n    ",
        "---\n",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ": ",
        ", ",
        "&a ",
        "*a",
        "<<: ",
        "? ",
        "!!int ",
        "!!python/object ",
        "'",
        '"',
        "#",
        "|\n",
        "\n  ",
        "²",
        "9" * 5000,
        "\x00",
        "\ufeff",
        "kind: [1]\n",
        "items: ",
    ]
)
yamlish_text = st.lists(st.one_of(YAML_TOKENS, TEXT), max_size=40).map("".join)

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    HOSTILE,
    st.just(BIG_NUMBER),
)
value = st.recursive(
    scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(TEXT, HOSTILE), children, max_size=3),
    ),
    max_leaves=8,
)


def maybe(strategy, usual):
    """Mostly the usual, well-formed value; sometimes anything at all."""
    return st.one_of(st.just(usual), st.just(usual), strategy)


peer_authentication = st.fixed_dictionaries(
    {
        "apiVersion": maybe(value, "security.istio.io/v1"),
        "kind": maybe(value, "PeerAuthentication"),
        "metadata": maybe(
            value,
            {"name": "api", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
        ),
        "spec": maybe(
            value,
            {"selector": {"matchLabels": {"app": "api"}}, "mtls": {"mode": "STRICT"}},
        ),
    }
).flatmap(
    lambda policy: st.fixed_dictionaries(
        {
            "policy": st.just(policy),
            "ports": st.dictionaries(st.one_of(TEXT, HOSTILE), maybe(value, {"mode": "DISABLE"})),
            "selector": maybe(value, {"app": "api"}),
            "mode": maybe(value, "STRICT"),
        }
    )
)


def as_manifest(drawn: dict) -> dict:
    policy = dict(drawn["policy"])
    if isinstance(policy["spec"], dict):
        policy["spec"] = {
            **policy["spec"],
            "selector": {"matchLabels": drawn["selector"]},
            "mtls": {"mode": drawn["mode"]},
            "portLevelMtls": drawn["ports"],
        }
    return policy


def posture_exit_code(name: str, content: str | bytes, *args: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        code, _, _ = run("--manifests", str(path), *args)  # anything but CommandError raises
    return code


OUTPUT = st.sampled_from([(), ("--format", "json"), ("--format", "csv", "--fail-on", "error")])


@FUZZ
@given(text=yamlish_text, output=OUTPUT)
def test_posture_on_yaml_soup_exits_0_1_or_2(text, output):
    assert posture_exit_code("soup.yaml", text, *output) in (0, 1, 2)


@FUZZ
@given(data=st.binary(max_size=64))
def test_posture_on_arbitrary_bytes_exits_0_1_or_2(data):
    assert posture_exit_code("bytes.json", data) in (0, 1, 2)


@FUZZ
@given(drawn=peer_authentication, as_json=st.booleans(), output=OUTPUT)
def test_posture_on_hostile_peer_authentications_exits_0_1_or_2(drawn, as_json, output):
    manifest = as_manifest(drawn)
    if as_json:
        text = json.dumps(manifest).replace(json.dumps(BIG_NUMBER), "9" * 5000)
    else:
        text = yaml.safe_dump(manifest, allow_unicode=True).replace(BIG_NUMBER, "9" * 5000)
    assert posture_exit_code("policy.json" if as_json else "policy.yaml", text, *output) in (
        0,
        1,
        2,
    )


# --- GET filters of the list pages ------------------------------------------------------

PAGES = {
    "/namespaces/": ["q", "mode", "source", "sort", "page", "per_page"],
    "/namespaces/shop/": ["page"],
    "/policies/": [
        "kind",
        "namespace",
        "q",
        "mode",
        "scope",
        "status",
        "tls_mode",
        "pa_page",
        "dr_page",
        "per_page",
    ],
    "/findings/": ["code", "severity", "namespace", "page", "per_page"],
    "/audit/": ["user", "namespace", "action", "outcome", "date_from", "date_to", "page"],
    "/reports/": ["at", "since"],
    "/reports/compare/": ["from", "to"],
    "/reports/trends/": ["days"],
    "/sync/status/": ["after"],
}


def moment_text(day, offset_minutes: int) -> str:
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{day.isoformat()}T00:00{sign}{hours:02d}:{minutes:02d}"


# Each parameter gets the hostility that suits its kind, plus anything at all.
DATE_VALUES = st.one_of(
    st.dates().map(str),
    st.builds(moment_text, st.dates(), st.integers(-1439, 1439)),
    st.sampled_from(
        ["0001-01-01", "9999-12-31", "0001-01-01T00:00+23:59", "9999-12-31T23:59-23:59"]
    ),
    TEXT,
)
NUMBER_VALUES = st.one_of(
    st.integers().map(str),
    st.sampled_from(["9" * 5000, "99999999999999999999999", "²", "٨", "-1", "0", "1e3"]),
    TEXT,
)
WORD_VALUES = st.one_of(TEXT, HOSTILE, st.sampled_from(["-name", "name", "STRICT", "shop"]))
VALUES_OF = {
    **dict.fromkeys(["date_from", "date_to", "at", "since", "from", "to"], DATE_VALUES),
    **dict.fromkeys(["page", "per_page", "pa_page", "dr_page", "after", "days"], NUMBER_VALUES),
}


def query_for(path: str):
    """Any of the page's own parameters, an unknown one and a NUL-named one, each with a value
    suited to its kind (dates, numbers, words) or anything at all."""
    names = [*PAGES[path], "unknown", "\x00"]
    return st.fixed_dictionaries(
        {},
        optional={name: VALUES_OF.get(name, WORD_VALUES) for name in names},
    )


@pytest.fixture
def reader(client, users):
    return logged_in_on_a_small_snapshot(client, users["auditor"])


@pytest.mark.parametrize("path", sorted(PAGES))
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_list_page_filters_answer_200_or_400(reader, path, data):
    query = data.draw(query_for(path), label="query")
    response = reader.get(path, query)
    assert response.status_code in (200, 400), (path, query, response.status_code)
