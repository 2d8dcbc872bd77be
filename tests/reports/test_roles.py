"""Auditors read and export everything; only admins write; users without a role see nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import AuditEntry, Exemption
from tests.engine.builders import deployment, namespace
from tests.factories import snapshot_from_manifests
from tests.reports.builders import exemption_build

pytestmark = pytest.mark.django_db

READ_URLS = [
    "/reports/",
    "/reports/?at=2026-11-01",
    "/reports/print.css",
    "/reports/report.json",
    "/reports/namespaces.csv",
    "/reports/namespaces.json",
    "/reports/workloads.csv",
    "/reports/workloads.json",
    "/reports/findings.csv",
    "/reports/findings.json",
    "/reports/audit.csv",
    "/reports/audit.json",
    "/reports/compare/?from=2026-11-01",
    "/reports/trends/",
    "/exemptions/",
]
ROLES = ["admin_user", "oncall_user", "auditor_user"]


@pytest.fixture
def data():
    snapshot_from_manifests(
        [namespace("legacy"), deployment("legacy", "batch")],
        taken_at=timezone.now() - timedelta(days=60),
    )
    return exemption_build(
        namespace="legacy",
        created_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(days=5),
    )


@pytest.mark.parametrize("url", READ_URLS)
@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_and_exports(request, client_as, data, role, url):
    response = client_as(request.getfixturevalue(role)).get(url)

    assert response.status_code == 200


@pytest.mark.parametrize("url", READ_URLS)
def test_a_user_without_a_role_is_refused(client_as, roleless_user, data, url):
    assert client_as(roleless_user).get(url).status_code == 403


@pytest.mark.parametrize("url", ["/reports/", "/reports/namespaces.csv", "/exemptions/"])
def test_anonymous_visitors_are_sent_to_the_login(client, data, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def write_requests(exemption):
    expires = (timezone.now() + timedelta(days=9)).date().isoformat()
    return {
        "create": (
            "/exemptions/new/",
            {
                "namespace": "legacy",
                "workload": "batch",
                "owner": "x",
                "justification": "y",
                "expires_on": expires,
            },
        ),
        "revoke": (f"/exemptions/{exemption.pk}/revoke/", {"reason": "INC-4"}),
        "renew": (
            f"/exemptions/{exemption.pk}/renew/",
            {"reason": "INC-4", "expires_on": (timezone.now() + timedelta(days=60)).date()},
        ),
    }


@pytest.mark.parametrize("action", ["create", "revoke", "renew"])
@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin_user", True),
        ("oncall_user", False),
        ("auditor_user", False),
        ("roleless_user", False),
    ],
)
def test_write_endpoints_by_role(request, client_as, data, action, role, allowed):
    url, payload = write_requests(data)[action]
    response = client_as(request.getfixturevalue(role)).post(url, payload)

    data.refresh_from_db()
    changed = Exemption.objects.count() == 2 if action != "revoke" else data.revoked_at is not None
    if allowed:
        assert response.status_code == 302
        assert changed
        assert AuditEntry.objects.filter(outcome="applied").count() == 1
    else:
        assert response.status_code == 403
        assert not changed
        assert not AuditEntry.objects.filter(outcome="applied").exists()
        if role != "roleless_user":  # no role: turned away before any service is asked
            refusal = AuditEntry.objects.get(outcome="denied")
            assert (refusal.action, refusal.target_namespace) == (f"exemption_{action}", "legacy")


def test_read_pages_refuse_post(client_as, admin_user, data):
    assert client_as(admin_user).post("/reports/").status_code == 405
