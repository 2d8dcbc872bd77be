"""Lists (order, selectors, paging from a snapshot, 410) and watches."""

from __future__ import annotations

import json

import pytest
from kubernetes import watch
from kubernetes.client import ApiException

from .builders import PA_GROUP, PA_PLURAL, failure, namespace, peer_auth, pod


def test_lists_have_the_list_kind_and_resource_version_and_namespace_name_order(custom, devcluster):
    devcluster.seed(
        [peer_auth("b", "z"), peer_auth("a", "y"), peer_auth("b", "a"), peer_auth("a", "x")]
    )
    listed = custom.list_cluster_custom_object(PA_GROUP, "v1", PA_PLURAL)
    assert listed["kind"] == "PeerAuthenticationList"
    assert listed["metadata"]["resourceVersion"] == devcluster.resource_version
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("a", "x"),
        ("a", "y"),
        ("b", "a"),
        ("b", "z"),
    ]


def test_built_in_list_items_carry_no_kind_like_the_apiserver(core, api_client):
    core.create_namespaced_pod("default", pod("default", "web"))
    response = core.list_namespaced_pod("default", _preload_content=False)
    (item,) = json.loads(response.data)["items"]
    assert "kind" not in item and "apiVersion" not in item


def test_namespaced_list_sees_only_its_namespace(core, devcluster):
    devcluster.seed([pod("a", "one"), pod("b", "two"), pod("ab", "three")])
    assert [p.metadata.name for p in core.list_namespaced_pod("a").items] == ["one"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web-1", "web-2"]),
        ("app==web", ["web-1", "web-2"]),
        ("app!=web", ["api", "bare"]),
        ("app in (web,api)", ["api", "web-1", "web-2"]),
        ("app notin (web)", ["api", "bare"]),
        ("app", ["api", "web-1", "web-2"]),
        ("!app", ["bare"]),
        ("app=web,tier=front", ["web-1"]),
    ],
)
def test_label_selectors(core, devcluster, selector, expected):
    devcluster.seed(
        [
            pod("default", "web-1", app="web", tier="front"),
            pod("default", "web-2", app="web"),
            pod("default", "api", app="api"),
            pod("default", "bare"),
        ]
    )
    names = [
        p.metadata.name for p in core.list_namespaced_pod("default", label_selector=selector).items
    ]
    assert names == expected


def test_a_malformed_label_selector_is_400(core):
    status, body = failure(core.list_namespaced_pod, "default", label_selector="app in (web")
    assert status == 400
    assert body["message"].startswith("unable to parse requirement")


def test_field_selectors_on_name_and_namespace(core, devcluster):
    devcluster.seed([pod("a", "web"), pod("b", "web"), pod("b", "api")])
    by_name = core.list_pod_for_all_namespaces(field_selector="metadata.name=web").items
    assert [(p.metadata.namespace, p.metadata.name) for p in by_name] == [
        ("a", "web"),
        ("b", "web"),
    ]
    not_b = core.list_pod_for_all_namespaces(field_selector="metadata.namespace!=b").items
    assert [p.metadata.name for p in not_b] == ["web"]
    status, body = failure(core.list_pod_for_all_namespaces, field_selector="spec.foo=x")
    assert status == 400 and body["message"] == "field label not supported: spec.foo"


def test_paging_serves_later_pages_from_the_first_pages_snapshot(core, devcluster):
    devcluster.seed([pod("default", f"p{n:02}") for n in range(5)])
    first = core.list_namespaced_pod("default", limit=2)
    assert [p.metadata.name for p in first.items] == ["p00", "p01"]
    assert first.metadata.remaining_item_count == 3
    devcluster.seed([pod("default", "p015")])  # lands between pages
    core.delete_namespaced_pod("p03", "default")
    second = core.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
    third = core.list_namespaced_pod("default", limit=2, _continue=second.metadata._continue)
    assert [p.metadata.name for p in second.items + third.items] == ["p02", "p03", "p04"]
    assert third.metadata._continue is None
    assert second.metadata.resource_version == first.metadata.resource_version


def test_a_stale_continue_token_is_410_expired_with_a_resume_token(core, devcluster):
    devcluster.seed([pod("default", f"p{n}") for n in range(3)])
    first = core.list_namespaced_pod("default", limit=1)
    devcluster.compact()
    status, body = failure(
        core.list_namespaced_pod, "default", limit=1, _continue=first.metadata._continue
    )
    assert status == 410
    assert body["reason"] == "Expired"
    assert body["message"].startswith(
        "The provided continue parameter is too old to display a consistent list result."
    )
    resumed = core.list_namespaced_pod("default", limit=5, _continue=body["metadata"]["continue"])
    assert [p.metadata.name for p in resumed.items] == ["p1", "p2"]


def test_an_unknown_continue_token_is_410(core):
    unknown = "eyJzIjoiMDAwMDAwMDAwMDAwIiwiayI6WyJhIiwiYiJdLCJydiI6MX0="
    status, body = failure(core.list_namespaced_pod, "default", limit=1, _continue=unknown)
    assert status == 410 and body["reason"] == "Expired"


def test_a_malformed_continue_token_is_400(core):
    status, body = failure(core.list_namespaced_pod, "default", limit=1, _continue="%%%")
    assert status == 400
    assert body["message"].startswith("continue key is not valid")


def test_watch_without_a_resource_version_starts_with_the_current_state(core, devcluster):
    devcluster.seed([pod("default", "a"), pod("default", "b")])
    events = list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_watch_from_a_resource_version_sends_later_changes_in_order(core, devcluster):
    listed = core.list_namespaced_pod("default")
    core.create_namespaced_pod("default", pod("default", "a", app="web"))
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"app": "api"}}})
    core.delete_namespaced_pod("a", "default")
    events = list(
        watch.Watch().stream(
            core.list_namespaced_pod,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions)


def test_watch_honours_label_and_field_selectors(core, devcluster):
    start = core.list_namespaced_pod("default").metadata.resource_version
    devcluster.seed(
        [
            pod("default", "web", app="web"),
            pod("default", "api", app="api"),
            pod("other", "web", app="web"),
        ]
    )
    labelled = watch.Watch().stream(
        core.list_pod_for_all_namespaces,
        label_selector="app=web",
        field_selector="metadata.namespace=default",
        resource_version=start,
        timeout_seconds=1,
    )
    assert [(e["object"].metadata.namespace, e["object"].metadata.name) for e in labelled] == [
        ("default", "web")
    ]


def test_watch_delivers_changes_made_while_it_waits(custom, devcluster):
    import threading

    start = custom.list_cluster_custom_object(PA_GROUP, "v1", PA_PLURAL)["metadata"][
        "resourceVersion"
    ]
    timer = threading.Timer(0.3, lambda: devcluster.seed([peer_auth("default")]))
    timer.start()
    stream = watch.Watch().stream(
        custom.list_cluster_custom_object,
        PA_GROUP,
        "v1",
        PA_PLURAL,
        resource_version=start,
        timeout_seconds=5,
    )
    event = next(stream)
    stream.close()
    timer.join()
    assert event["type"] == "ADDED"
    assert event["object"]["metadata"]["name"] == "default"


def test_watch_from_a_compacted_resource_version_is_410(core, devcluster):
    old = core.list_namespaced_pod("default").metadata.resource_version
    devcluster.seed([pod("default", "a")])
    devcluster.compact()
    with pytest.raises(ApiException) as raised:
        list(
            watch.Watch().stream(
                core.list_namespaced_pod, "default", resource_version=old, timeout_seconds=1
            )
        )
    assert raised.value.status == 410


def test_watch_timeout_seconds_closes_the_stream(core):
    response = core.list_namespaced_pod(
        "default", watch=True, timeout_seconds=1, _preload_content=False
    )
    assert response.data == b""


def test_deleting_a_namespace_removes_what_it_held(core, devcluster):
    devcluster.seed([namespace("shop"), pod("shop", "web"), peer_auth("shop")])
    core.delete_namespace("shop")
    assert devcluster.objects(namespace="shop") == []
    assert devcluster.get("Namespace", None, "shop") is None


def test_watch_ends_with_a_bookmark_when_asked(core, devcluster):
    devcluster.seed([pod("default", "a")])
    response = core.list_namespaced_pod(
        "default",
        watch=True,
        timeout_seconds=1,
        allow_watch_bookmarks=True,
        _preload_content=False,
    )
    events = [json.loads(line) for line in response.data.splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[-1]["object"]["metadata"]["resourceVersion"] == devcluster.resource_version


def test_a_watch_longer_than_two_seconds_gets_a_bookmark_before_its_timeout(core, devcluster):
    # kube-apiserver bookmarks 2 s before the deadline: a client that stops at the first
    # bookmark knows it is up to date without waiting the watch out.
    devcluster.seed([pod("default", "a")])
    since = devcluster.resource_version
    devcluster.seed([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
    response = core.list_namespaced_pod(
        "default",
        watch=True,
        resource_version=since,
        timeout_seconds=3,
        allow_watch_bookmarks=True,
        _preload_content=False,
    )
    events = [json.loads(line) for line in response.data.splitlines()]
    assert [e["type"] for e in events] == ["BOOKMARK", "BOOKMARK"]  # before and at the end
    assert events[0]["object"]["metadata"]["resourceVersion"] == devcluster.resource_version


def test_a_watch_of_two_seconds_or_less_is_bookmarked_only_at_its_end(core, devcluster):
    response = core.list_namespaced_pod(
        "default",
        watch=True,
        resource_version=devcluster.resource_version,
        timeout_seconds=2,
        allow_watch_bookmarks=True,
        _preload_content=False,
    )
    assert [json.loads(line)["type"] for line in response.data.splitlines()] == ["BOOKMARK"]


def test_a_quiet_watch_answers_its_headers_at_once(core):
    # A client read timeout shorter than the wait for the first event must not fire.
    response = core.list_namespaced_pod(
        "default", watch=True, timeout_seconds=5, _preload_content=False, _request_timeout=2
    )
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    response.release_conn()


def test_paging_with_a_selector_returns_every_match_once(core, devcluster):
    devcluster.seed([pod("default", f"p{n}", app="web" if n % 2 else "api") for n in range(10)])
    names, token = [], None
    while True:
        page = core.list_namespaced_pod(
            "default", label_selector="app=web", limit=2, _continue=token
        )
        names += [p.metadata.name for p in page.items]
        assert page.metadata.remaining_item_count is None  # kube omits it with selectors
        token = page.metadata._continue
        if not token:
            break
    assert names == ["p1", "p3", "p5", "p7", "p9"]


@pytest.mark.parametrize(
    "query", ["limit=abc", "watch=true&timeoutSeconds=abc", "watch=true&resourceVersion=abc"]
)
def test_malformed_query_parameters_are_400(devcluster, query):
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{devcluster.url}/api/v1/namespaces/default/pods?{query}")  # noqa: S310
    assert raised.value.code == 400
    assert json.loads(raised.value.read())["reason"] == "BadRequest"
