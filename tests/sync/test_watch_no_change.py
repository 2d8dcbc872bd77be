"""The cheap no-change sync: watch every kind from the last lists instead of listing again.

Over real HTTP against the API server double: an unchanged cluster is recognised from the
watches alone (no list call), a change of any kind the sync reads, a compacted history
(410 Gone) or a failing watch all fall back to the full read.
"""

from __future__ import annotations

import pytest

from policies import cluster
from policies.models import SyncRun
from policies.services.sync import cluster_sync

from .builders import mesh_config, peer_auth, small_mesh

pytestmark = pytest.mark.django_db

# Requests a watch-based check may make besides the watches: discovery and the root
# namespace's ConfigMap (both a sync reads too).
DISCOVERY_PATHS = ("/apis", "/api/v1/namespaces/istio-system/configmaps/istio")


def list_calls(requests) -> list[str]:
    """The collection reads among `requests` that were lists, not watches."""
    return [
        request.path
        for request in requests
        if request.method == "GET"
        and (request.param("watch") or "").lower() != "true"
        and request.path not in DISCOVERY_PATHS
    ]


def watched_paths(requests) -> set[str]:
    return {
        request.path for request in requests if (request.param("watch") or "").lower() == "true"
    }


@pytest.fixture
def synced(kube):
    """A cluster synced once (a full read); the request log starts empty after it."""
    kube.seed(small_mesh())
    first = cluster_sync(trigger="manual")
    assert first.status == SyncRun.Status.SUCCEEDED
    assert first.list_resource_versions  # where the next sync may watch from
    kube.clear_requests()
    return first


def test_an_unchanged_cluster_is_a_no_change_run_without_listing_anything(kube, synced):
    run = cluster_sync(trigger="schedule")

    assert run.status == SyncRun.Status.NO_CHANGE
    assert run.snapshot == synced.snapshot
    assert list_calls(kube.requests) == []
    watched = watched_paths(kube.requests)
    assert "/api/v1/pods" in watched
    assert "/apis/apps/v1/deployments" in watched
    assert "/apis/security.istio.io/v1/peerauthentications" in watched
    assert len(watched) == 11  # every kind the sync lists
    watch = next(r for r in kube.requests if r.path == "/api/v1/pods")
    assert watch.param("resourceVersion") == synced.list_resource_versions["Pod"]
    assert watch.param("allowWatchBookmarks") in ("true", "True")
    assert int(watch.param("timeoutSeconds")) >= 1


def test_writes_to_kinds_a_sync_does_not_read_leave_it_a_no_change(kube, synced):
    kube.seed([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"}}])

    run = cluster_sync(trigger="schedule")

    assert run.status == SyncRun.Status.NO_CHANGE
    assert list_calls(kube.requests) == []
    # The bookmarks moved every kind on to now: the next watch starts after that write.
    assert run.list_resource_versions["Pod"] == kube.resource_version
    assert int(kube.resource_version) > int(synced.list_resource_versions["Pod"])


def test_no_change_twice_in_a_row_still_needs_no_list(kube, synced):
    assert cluster_sync(trigger="schedule").status == SyncRun.Status.NO_CHANGE
    kube.clear_requests()
    run = cluster_sync(trigger="schedule")
    assert run.status == SyncRun.Status.NO_CHANGE
    assert list_calls(kube.requests) == []


def _minimal(kind: str, api_version: str, name: str, spec: dict | None = None) -> dict:
    body = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"namespace": "shop", "name": name},
    }
    if spec is not None:
        body["spec"] = spec
    return body


POD_TEMPLATE = {
    "metadata": {"labels": {"app": "x"}},
    "spec": {"containers": [{"name": "app", "image": "x"}]},
}
NEW_OBJECTS = {
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new-ns"}},
    "Pod": _minimal("Pod", "v1", "lonely", {"containers": [{"name": "app", "image": "x"}]}),
    "Service": _minimal("Service", "v1", "extra", {"ports": [{"port": 80}]}),
    "Deployment": _minimal("Deployment", "apps/v1", "extra", {"template": POD_TEMPLATE}),
    "StatefulSet": _minimal("StatefulSet", "apps/v1", "db", {"template": POD_TEMPLATE}),
    "DaemonSet": _minimal("DaemonSet", "apps/v1", "agent", {"template": POD_TEMPLATE}),
    "ReplicaSet": _minimal("ReplicaSet", "apps/v1", "extra-1", {"template": POD_TEMPLATE}),
    "Job": _minimal("Job", "batch/v1", "once", {"template": POD_TEMPLATE}),
    "CronJob": _minimal(
        "CronJob", "batch/v1", "nightly", {"jobTemplate": {"spec": {"template": POD_TEMPLATE}}}
    ),
    "PeerAuthentication": peer_auth("shop", "cart-only", mode="STRICT", selector={"app": "cart"}),
    "DestinationRule": _minimal(
        "DestinationRule",
        "networking.istio.io/v1",
        "cart",
        {"host": "cart.shop.svc.cluster.local"},
    ),
}


@pytest.mark.parametrize("kind", sorted(NEW_OBJECTS))
def test_a_new_object_of_any_kind_the_sync_reads_means_a_full_read(kube, synced, kind):
    kube.seed([NEW_OBJECTS[kind]], validate=False)

    run = cluster_sync(trigger="schedule")

    assert list_calls(kube.requests), f"a new {kind} should make the sync list again"
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.snapshot != synced.snapshot
    assert run.snapshot.object_counts[kind] == synced.snapshot.object_counts.get(kind, 0) + 1


def test_a_modified_policy_means_a_full_read_and_a_new_posture(kube, synced):
    cluster.object_apply(peer_auth("shop", mode="STRICT"), force=True)
    kube.clear_requests()

    run = cluster_sync(trigger="schedule")

    assert list_calls(kube.requests)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.snapshot.namespaces.get(name="shop").mode == "STRICT"


def test_a_deleted_policy_means_a_full_read_and_a_new_posture(kube, synced):
    policy = kube.get("PeerAuthentication", "shop", "default")
    cluster.object_delete(
        "PeerAuthentication",
        "shop",
        "default",
        resource_version=policy["metadata"]["resourceVersion"],
    )
    kube.clear_requests()

    run = cluster_sync(trigger="schedule")

    assert list_calls(kube.requests)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.snapshot.namespaces.get(name="shop").mode == "STRICT"  # inherits the mesh's


def test_a_compacted_history_410_gone_means_a_full_read(kube, synced):
    kube.compact()
    kube.seed([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
    kube.compact()  # the lists' resourceVersion is now older than the oldest kept

    run = cluster_sync(trigger="schedule")

    assert list_calls(kube.requests)
    assert run.status == SyncRun.Status.NO_CHANGE  # the full read found nothing new
    assert run.list_resource_versions["Pod"] != synced.list_resource_versions["Pod"]


def test_the_watch_check_reports_410_gone_as_unknown_in_words(kube, synced):
    kube.seed([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
    kube.compact()
    check = cluster.cluster_watch_changes(synced.list_resource_versions, seconds=1)
    assert not check.unchanged
    # Every kind's history is gone; the first to say so ends the others' watches.
    gone = [reason for reason in check.unknown.values() if "410" in reason]
    assert gone
    assert all("too old resource version" in reason for reason in gone)


def test_a_failing_watch_means_a_full_read_not_a_failed_sync(kube, synced):
    kube.inject_fault(403, verb="watch", resource="pods")

    run = cluster_sync(trigger="schedule")

    assert list_calls(kube.requests)
    assert run.status == SyncRun.Status.NO_CHANGE


def test_a_changed_mesh_root_namespace_means_a_full_read(kube, synced):
    kube.seed([mesh_config("shop")])

    run = cluster_sync(trigger="schedule")

    assert list_calls(kube.requests)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.snapshot.root_namespace == "shop"


def test_a_full_read_that_finds_no_change_still_leaves_where_to_watch_from(kube, synced):
    kube.seed([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
    kube.compact()
    assert cluster_sync(trigger="schedule").status == SyncRun.Status.NO_CHANGE  # listed
    kube.clear_requests()

    run = cluster_sync(trigger="schedule")

    assert run.status == SyncRun.Status.NO_CHANGE
    assert list_calls(kube.requests) == []


def test_the_first_change_ends_the_other_kinds_watches_without_waiting_for_them(kube, synced):
    kube.seed([peer_auth("shop", "cart-only", mode="STRICT", selector={"app": "cart"})])

    # Quiet kinds would each hold their watch for 30 s; the change decides the answer.
    check = cluster.cluster_watch_changes(synced.list_resource_versions, seconds=30)

    assert check.changed == {"PeerAuthentication": "ADDED shop/cart-only"}
    assert set(check.unknown) == set(synced.list_resource_versions) - {"PeerAuthentication"}
    assert set(check.unknown.values()) == {"not watched to the end: another kind changed"}
