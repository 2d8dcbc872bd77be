"""`make run`'s demo comes with traffic when Debian's prometheus is there, and says so when not."""

from __future__ import annotations

import pytest

from policies.models import Snapshot, TrafficNamespace, TrafficRead
from tests.sync.test_commands import run


@pytest.fixture
def demo_settings(settings, monkeypatch):
    monkeypatch.setenv("MESHUI_KUBECONFIG", "")
    monkeypatch.setenv("MESHUI_DEMO_CLUSTER", "")
    monkeypatch.delenv("MESHUI_PROMETHEUS_URL", raising=False)
    settings.MESHUI_KUBECONFIG = ""
    settings.MESHUI_CLUSTER_NAME = ""
    settings.MESHUI_PROMETHEUS_URL = ""
    settings.MESHUI_TRAFFIC_WINDOW_SECONDS = 7 * 86400
    settings.REDIS_URL = ""
    return settings


@pytest.mark.django_db(transaction=True)
def test_demo_starts_a_loopback_prometheus_with_the_demo_meshs_traffic(demo_settings):
    output = run("serve", "--no-runserver", "--no-demo-history")
    assert "DEMO TRAFFIC from a Prometheus at http://127.0.0.1:" in output
    read = TrafficRead.objects.get()
    assert read.status == "succeeded", read.error
    rows = {row.namespace: row.readiness for row in TrafficNamespace.objects.filter(read=read)}
    assert rows["shop"] == "ready"
    assert rows["reviews"] == "ready"  # and STRICT already: the page says so
    assert rows["legacy"] == "not_ready"
    assert "inventory" not in rows  # no sidecars there: no proxy reports its traffic
    assert Snapshot.objects.get().namespaces.get(name="shop").mode == "PERMISSIVE"


@pytest.mark.django_db(transaction=True)
def test_demo_history_leaves_the_namespaces_as_the_traffic_demo_tells_them(demo_settings):
    # The month of history ends where the demo mesh starts: the readiness the demo's traffic
    # shows (shop PERMISSIVE and ready, legacy not ready) still describes today's modes.
    run("serve", "--no-runserver")
    latest = Snapshot.objects.latest("taken_at").namespaces
    assert latest.get(name="shop").mode == "PERMISSIVE"
    assert latest.get(name="legacy").mode != "STRICT"
    assert demo_settings.MESHUI_PROMETHEUS_URL == ""  # put back when serve ends


@pytest.mark.django_db(transaction=True)
def test_demo_without_prometheus_says_traffic_data_is_off(demo_settings, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_BIN", "/nonexistent/prometheus")
    output = run("serve", "--no-runserver")
    assert "traffic data is off in this demo" in output
    assert not TrafficRead.objects.exists()
