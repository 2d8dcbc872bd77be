"""Readiness on the pages: namespace list, overview, traffic panels, and the off state."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from policies.services.traffic import traffic_read
from tests.factories import snapshot_with, user_with_role
from tests.traffic import meshes

pytestmark = pytest.mark.django_db

NAMESPACES = [
    "shop",
    "legacy",
    "ambient-shop",
    "ambient-ready",
    "newbie",
    "gone-quiet",
    {"name": "vault", "mode": "STRICT", "source": "namespace", "policy": "vault/default"},
]
WORKLOADS = [
    {"namespace": "shop", "name": "cart"},
    {"namespace": "legacy", "name": "ledger"},
    {"namespace": "vault", "name": "secrets", "mode": "STRICT"},
]


@pytest.fixture
def reader(client):
    client.force_login(user_with_role("auditor", username="traffic-reader"))
    return client


@pytest.fixture
def mesh_with_traffic(traffic_settings, mesh_prometheus):
    traffic_settings.MESHUI_PROMETHEUS_URL = mesh_prometheus.url
    snapshot = snapshot_with(namespaces=NAMESPACES, workloads=WORKLOADS)
    read = traffic_read(now=meshes.END_AT)
    assert read.status == "succeeded", read.error
    return snapshot


def readiness_cells(html: str) -> dict[str, str]:
    import re

    rows = re.findall(
        r'<th scope="row"><a href="/namespaces/([\w-]+)/">.*?<span class="badge badge-(\w+)">',
        html,
        re.S,
    )
    return dict(rows)


def test_namespace_list_shows_each_namespace_readiness(reader, mesh_with_traffic):
    html = reader.get(reverse("policies:namespace-list")).content.decode()
    assert readiness_cells(html) == {
        "ambient-ready": "ready",
        "ambient-shop": "not_ready",
        "gone-quiet": "no_traffic",
        "legacy": "not_ready",
        "newbie": "not_ready",
        "shop": "ready",
        "vault": "already_strict",
    }


def test_permissive_and_ready_is_the_oncall_work_list(reader, mesh_with_traffic):
    html = reader.get(
        reverse("policies:namespace-list") + "?mode=PERMISSIVE&readiness=ready&sort=name"
    ).content.decode()
    assert list(readiness_cells(html)) == ["ambient-ready", "shop"]


def test_namespace_list_sorts_by_readiness(reader, mesh_with_traffic):
    html = reader.get(reverse("policies:namespace-list") + "?sort=readiness").content.decode()
    order = list(readiness_cells(html).values())
    assert order == sorted(
        order,
        key=["ready", "not_ready", "not_enough_history", "no_traffic", "already_strict"].index,
    )


def test_readiness_headers_link_to_their_sorts(reader, mesh_with_traffic):
    html = reader.get(reverse("policies:namespace-list")).content.decode()
    assert 'href="?sort=readiness"' in html
    assert 'href="?sort=-plaintext"' in html


def test_bad_readiness_filter_is_a_clear_400(reader, mesh_with_traffic):
    answer = reader.get(reverse("policies:namespace-list") + "?readiness=maybe")
    assert answer.status_code == 400
    assert b"Select a valid choice" in answer.content


def test_overview_counts_permissive_namespaces_ready_to_enforce(reader, mesh_with_traffic):
    html = reader.get(reverse("policies:overview")).content.decode()
    assert "<strong>2</strong> of 6 PERMISSIVE namespaces</a> ready to enforce STRICT" in html


def test_namespace_panel_lists_plaintext_callers_and_the_promql(reader, mesh_with_traffic):
    html = reader.get(reverse("policies:namespace-detail", args=["legacy"])).content.decode()
    assert "Not ready: 2 plaintext callers over the last 7 d" in html
    assert "unknown caller (no sidecar or outside the mesh)" in html
    assert "batch/nightly" in html
    assert "spiffe://cluster.local/ns/batch/sa/nightly" in html
    assert "destination_workload_namespace=~&quot;legacy&quot;" in html


def test_strict_namespace_panel_says_what_metrics_cannot_show(reader, mesh_with_traffic):
    html = reader.get(reverse("policies:namespace-detail", args=["vault"])).content.decode()
    assert "Already STRICT: 0.0% of what was accepted over the last 7 d was plaintext." in html
    assert "no destination-side series" in html


def test_workload_panel_shows_only_its_callers(reader, mesh_with_traffic):
    url = reverse("policies:workload-detail", args=["legacy", "Deployment", "ledger"])
    html = reader.get(url).content.decode()
    assert "unknown caller (no sidecar or outside the mesh)" in html
    assert "batch/nightly" not in html  # it calls legacy/reports


def test_prometheus_down_keeps_the_last_read_and_says_what_failed(
    reader, mesh_with_traffic, traffic_settings
):
    traffic_settings.MESHUI_PROMETHEUS_URL = "http://127.0.0.1:9"
    failed = traffic_read(now=meshes.END_AT)
    assert failed.status == "failed"
    assert failed.error.startswith("Prometheus unreachable")
    html = reader.get(reverse("policies:namespace-detail", args=["legacy"])).content.decode()
    assert "failed: Prometheus unreachable" in html
    assert "Showing the last good read." in html
    assert "Not ready: 2 plaintext callers" in html


def test_without_prometheus_pages_work_and_say_where_readiness_would_appear(reader, settings):
    settings.MESHUI_PROMETHEUS_URL = ""
    snapshot_with(namespaces=NAMESPACES, workloads=WORKLOADS)
    for url in (
        reverse("policies:overview"),
        reverse("policies:namespace-list"),
        reverse("policies:namespace-detail", args=["legacy"]),
    ):
        html = reader.get(url).content.decode()
        assert html.count("Traffic data is off: set MESHUI_PROMETHEUS_URL") == 1, url
    html = reader.get(reverse("policies:namespace-list")).content.decode()
    assert "Ready for STRICT" not in html


def test_exports_append_readiness_and_plaintext_share(reader, mesh_with_traffic):
    import csv
    import io

    body = b"".join(reader.get("/reports/namespaces.csv").streaming_content).decode()
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(body))}
    # Appended after reason_chain (issue 14), before the coverage columns added after them.
    columns = list(rows["legacy"])
    assert columns[columns.index("reason_chain") + 1 :][:2] == ["readiness", "plaintext_share"]
    assert rows["legacy"]["readiness"] == "not_ready"
    assert rows["shop"]["readiness"] == "ready"
    assert rows["shop"]["plaintext_share"] == "0.0"
    assert rows["vault"]["readiness"] == "already_strict"
    workloads = b"".join(reader.get("/reports/workloads.csv").streaming_content).decode()
    by_name = {row["name"]: row for row in csv.DictReader(io.StringIO(workloads))}
    assert by_name["ledger"]["readiness"] == "not_ready"


def test_report_page_shows_readiness(reader, mesh_with_traffic):
    html = reader.get("/reports/").content.decode()
    assert '<span class="badge badge-not_ready">Not ready</span>' in html


def test_metrics_count_namespaces_per_readiness(client, mesh_with_traffic, settings):
    settings.MESHUI_METRICS_TOKEN = "scrape-me"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    assert 'meshui_namespaces_readiness{mode="PERMISSIVE",readiness="ready"} 2.0' in text
    assert 'meshui_namespaces_readiness{mode="STRICT",readiness="already_strict"} 1.0' in text
    assert "meshui_traffic_read_failing 0.0" in text


def test_sorting_by_readiness_without_traffic_data_still_answers(reader, settings):
    settings.MESHUI_PROMETHEUS_URL = ""
    snapshot_with(namespaces=NAMESPACES)
    for query in ("?sort=readiness", "?sort=-plaintext", "?readiness=ready"):
        assert reader.get(reverse("policies:namespace-list") + query).status_code == 200


@pytest.mark.django_db
def test_a_registered_clusters_pages_never_show_the_configured_clusters_traffic(settings):
    # Prometheus' series name namespaces, not clusters: shown for demo-west, the configured
    # cluster's traffic would be another cluster's evidence under the same namespace names.
    from policies.cluster_scope import ClusterScope, cluster_scope_active
    from policies.selectors.traffic import traffic_status, traffic_status_at

    settings.MESHUI_PROMETHEUS_URL = "http://127.0.0.1:9"
    assert traffic_status().enabled
    with cluster_scope_active(ClusterScope(cluster_id=7, name="demo-west")):
        for status in (traffic_status(), traffic_status_at(at=timezone.now())):
            assert not status.enabled and not status.available
            assert "configured cluster only" in status.sentence
            assert "demo-west" in status.sentence
