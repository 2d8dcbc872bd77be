"""`/metrics`: refuses without the token or an allowed network; gauges read the database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import SyncRun
from tests.reports.builders import exemption_build, moment, snapshot_build

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def posture():
    snapshot = snapshot_build(
        taken_at=moment("2026-11-01 09:00"),
        namespaces={"shop": "STRICT", "legacy": "PERMISSIVE", "old": "DISABLE"},
        workloads=[
            {"namespace": "shop", "name": "api", "mode": "STRICT"},
            {"namespace": "legacy", "name": "batch", "mode": "PERMISSIVE", "has_sidecar": False},
        ],
        findings=[
            {"code": "STRICT_WITHOUT_SIDECAR", "severity": "warning", "namespace": "legacy"},
            {"code": "PORT_LEVEL_WITHOUT_SELECTOR", "severity": "error", "namespace": "old"},
            {"code": "STRICT_WITHOUT_SIDECAR", "severity": "warning", "namespace": "x"},
        ],
    )
    started = moment("2026-11-01 08:59")
    SyncRun.objects.create(
        started_at=started,
        finished_at=started + timedelta(seconds=2),
        duration_ms=2500,
        status=SyncRun.Status.SUCCEEDED,
        snapshot=snapshot,
    )
    SyncRun.objects.create(
        started_at=moment("2026-11-01 10:00"), status=SyncRun.Status.FAILED, error="timeout"
    )
    exemption_build(
        namespace="legacy",
        created_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return snapshot


def test_metrics_are_closed_when_nothing_is_configured(client, settings, posture):
    settings.MESHUI_METRICS_TOKEN = ""
    settings.MESHUI_METRICS_NETWORKS = []
    response = client.get("/metrics")

    assert response.status_code == 401
    assert "disabled" in response.content.decode()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"])
def test_metrics_refuse_a_request_without_the_token(client, settings, posture, authorization):
    settings.MESHUI_METRICS_TOKEN = TOKEN
    settings.MESHUI_METRICS_NETWORKS = []
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "meshui_namespaces" not in response.content.decode()


def test_metrics_with_the_token_need_no_login(client, settings, posture):
    settings.MESHUI_METRICS_TOKEN = TOKEN
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert 'meshui_namespaces{mode="STRICT"} 1.0' in text
    assert 'meshui_namespaces{mode="PERMISSIVE"} 1.0' in text
    assert 'meshui_namespaces{mode="DISABLE"} 1.0' in text
    assert 'meshui_workloads{mode="PERMISSIVE"} 1.0' in text
    assert "meshui_workloads_with_sidecar 1.0" in text
    assert 'meshui_findings{code="STRICT_WITHOUT_SIDECAR",severity="warning"} 2.0' in text
    assert 'meshui_findings{code="PORT_LEVEL_WITHOUT_SELECTOR",severity="error"} 1.0' in text
    assert 'meshui_exemptions{state="valid"} 1.0' in text
    assert "meshui_last_sync_duration_seconds 2.5" in text
    assert "meshui_sync_consecutive_failures 1.0" in text
    assert "meshui_sync_failures 1.0" in text


def test_metrics_report_the_last_success_time(client, settings, posture):
    settings.MESHUI_METRICS_TOKEN = TOKEN
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    line = next(
        line for line in text.splitlines() if line.startswith("meshui_last_sync_success_timestamp")
    )

    assert float(line.split()[1]) == moment("2026-11-01 08:59:02").timestamp()


@pytest.mark.parametrize(
    ("address", "status"), [("10.1.2.3", 200), ("192.168.0.9", 401), ("::1", 401)]
)
def test_metrics_limited_to_networks(client, settings, posture, address, status):
    settings.MESHUI_METRICS_TOKEN = ""
    settings.MESHUI_METRICS_NETWORKS = ["10.0.0.0/8", "not-a-network"]
    response = client.get("/metrics", REMOTE_ADDR=address)

    assert response.status_code == status


def test_a_forwarded_header_does_not_open_the_network_check(client, settings, posture):
    settings.MESHUI_METRICS_TOKEN = ""
    settings.MESHUI_METRICS_NETWORKS = ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.0.0.1")

    assert response.status_code == 401


def test_metrics_on_an_empty_database_report_zeroes(client, settings, db):
    settings.MESHUI_METRICS_TOKEN = TOKEN
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()

    assert 'meshui_namespaces{mode="STRICT"} 0.0' in text
    assert "meshui_last_sync_success_timestamp_seconds" not in text
