"""The impact preview names the real plaintext callers a change would refuse (issue 14)."""

from __future__ import annotations

import pytest

from policies.services.sync import cluster_sync
from policies.services.traffic import traffic_read
from tests.changes.conftest import SIDECAR, kube  # noqa: F401 (the fixture)
from tests.engine.builders import deployment, namespace
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db


def traffic_mesh() -> list[dict]:
    return [
        namespace("istio-system"),
        namespace("legacy"),
        namespace("shop"),
        namespace("ambient-shop"),
        namespace("batch"),
        deployment("batch", "nightly", ports=[8000]),  # no sidecar
        deployment("legacy", "ledger", ports=[8080], annotations=SIDECAR),
        deployment("legacy", "reports", ports=[9000], annotations=SIDECAR),
        deployment("shop", "cart", ports=[8080], annotations=SIDECAR),
        deployment("ambient-shop", "orders", ports=[8080], annotations=SIDECAR),
    ]


@pytest.fixture
def oncall(client, kube, traffic_settings, live_mesh_prometheus):  # noqa: F811
    traffic_settings.MESHUI_PROMETHEUS_URL = live_mesh_prometheus.url
    kube.seed(traffic_mesh())
    cluster_sync(trigger="test")
    assert traffic_read().status == "succeeded"
    client.force_login(user_with_role("oncall", username="olga"))
    return client


def preview(client, namespace: str, mode: str = "STRICT") -> str:
    response = client.post(
        f"/namespaces/{namespace}/mode/",
        {"mode": mode, "reason": "INC-14", "seen_resource_version": "absent"},
    )
    assert response.status_code == 200
    return response.content.decode()


def refused_rows(page: str) -> list[str]:
    import re

    section = page.split('id="refused-callers"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr><th scope="row">([^<]+)</th>', section)


def test_preview_names_exactly_the_plaintext_callers_of_the_changed_namespace(oncall):
    page = preview(oncall, "legacy")
    assert sorted(refused_rows(page)) == [
        "batch/nightly",
        "unknown caller (no sidecar or outside the mesh)",
    ]
    assert "STRICT would refuse 2 plaintext callers seen over the last 7d" in page
    assert "Asked Prometheus just now" in page
    # The guess about every sidecar-less workload in the mesh is gone.
    assert "may call what becomes STRICT" not in page


def test_preview_of_an_all_mutual_tls_namespace_refuses_nobody(oncall):
    page = preview(oncall, "shop")
    assert "No plaintext caller of what becomes STRICT was seen in the window." in page
    assert "STRICT would refuse" not in page


def test_preview_falls_back_to_the_stored_read_when_prometheus_does_not_answer(
    oncall, traffic_settings
):
    traffic_settings.MESHUI_PROMETHEUS_URL = "http://127.0.0.1:9"
    page = preview(oncall, "legacy")
    assert sorted(refused_rows(page)) == [
        "batch/nightly",
        "unknown caller (no sidecar or outside the mesh)",
    ]
    assert "Prometheus did not answer the preview&#x27;s query (Prometheus unreachable" in page
    assert "these are from the traffic read" in page


def test_preview_keeps_the_old_wording_when_traffic_data_is_off(oncall, settings):
    settings.MESHUI_PROMETHEUS_URL = ""
    page = preview(oncall, "legacy")
    assert 'id="refused-callers"' not in page
    assert "meshui has no traffic data" in page


def test_preview_of_an_ambient_namespace_names_ztunnels_plaintext_caller(oncall):
    page = preview(oncall, "ambient-shop")
    assert refused_rows(page) == ["unknown caller (no sidecar or outside the mesh)"]


def test_a_change_to_too_many_namespaces_uses_the_stored_read(oncall, monkeypatch):
    monkeypatch.setattr("policies.services.traffic.FRESH_QUERY_NAMESPACES_MAX", 0)
    page = preview(oncall, "legacy")
    assert "1 namespaces change, too many for the preview&#x27;s own query" in page
    assert sorted(refused_rows(page)) == [
        "batch/nightly",
        "unknown caller (no sidecar or outside the mesh)",
    ]
