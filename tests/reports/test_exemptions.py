"""Exemptions: only admins record and revoke them, audited; expired ones become findings."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from policies.models import AuditEntry, Exemption
from policies.selectors.reports import exemptions_at
from policies.services.exemptions import exemption_create, exemption_findings, exemption_revoke
from tests.engine import builders as manifests
from tests.factories import snapshot_from_manifests
from tests.reports.builders import exemption_build, moment

pytestmark = pytest.mark.django_db


@pytest.fixture
def current_snapshot():
    return snapshot_from_manifests(
        [
            manifests.namespace("legacy"),
            manifests.namespace("shop"),
            manifests.peer_auth("shop", mode="STRICT"),
            manifests.deployment("legacy", "batch"),
        ],
        taken_at=timezone.now() - timedelta(hours=1),
    )


def form_data(**overrides):
    data = {
        "namespace": "legacy",
        "workload": "",
        "owner": "team-legacy",
        "justification": "Mainframe bridge cannot speak mTLS until Q1.",
        "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat(),
    }
    data.update(overrides)
    return data


def test_an_admin_records_an_exemption_and_the_audit_log_says_so(
    client_as, admin_user, current_snapshot
):
    response = client_as(admin_user).post("/exemptions/new/", form_data(), follow=True)

    assert response.status_code == 200
    assert "Exemption recorded for legacy until" in response.content.decode()
    exemption = Exemption.objects.get()
    assert (exemption.namespace, exemption.owner, exemption.created_by) == (
        "legacy",
        "team-legacy",
        "ada",
    )
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome, entry.username, entry.target_namespace) == (
        "exemption_create",
        "applied",
        "ada",
        "legacy",
    )
    assert "Mainframe bridge" in entry.reason


def test_an_exemption_can_cover_one_workload(client_as, admin_user, current_snapshot):
    client_as(admin_user).post("/exemptions/new/", form_data(workload="batch"))

    assert Exemption.objects.get().workload == "batch"
    assert AuditEntry.objects.get().target_kind == "Workload"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"namespace": "nope"}, "There is no namespace &#x27;nope&#x27; in the current snapshot."),
        ({"workload": "ghost"}, "There is no workload &#x27;ghost&#x27; in namespace"),
        ({"namespace": "Bad_Name"}, "A namespace name is lower-case letters"),
        ({"expires_on": "2020-01-01"}, "The expiry must be in the future."),
        ({"expires_on": "2099-01-01"}, "An exemption may run for at most a year"),
        ({"owner": "   "}, "This field is required."),
    ],
)
def test_an_invalid_exemption_is_refused_on_the_form(
    client_as, admin_user, current_snapshot, overrides, message
):
    response = client_as(admin_user).post("/exemptions/new/", form_data(**overrides))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Exemption.objects.exists()


def test_a_second_exemption_for_the_same_target_is_refused_while_one_is_valid(
    client_as, admin_user, current_snapshot
):
    client_as(admin_user).post("/exemptions/new/", form_data())
    response = client_as(admin_user).post("/exemptions/new/", form_data())

    assert response.status_code == 400
    assert "legacy already has an exemption until" in response.content.decode()
    assert Exemption.objects.count() == 1


def test_an_admin_revokes_an_exemption_once(client_as, admin_user, current_snapshot):
    exemption = exemption_build(
        namespace="legacy",
        created_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(days=1),
    )
    client = client_as(admin_user)
    client.post(f"/exemptions/{exemption.pk}/revoke/", {"reason": "INC-4 migrated"})
    client.post(f"/exemptions/{exemption.pk}/revoke/", {"reason": "INC-4 migrated"})

    exemption.refresh_from_db()
    assert exemption.revoked_at is not None
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["exemption_revoke"]
    page = client.get("/exemptions/").content.decode()
    assert "Revoked" in page


def test_revoking_an_unknown_exemption_is_404(client_as, admin_user):
    assert client_as(admin_user).post("/exemptions/999/revoke/").status_code == 404


@pytest.mark.parametrize("role_user", ["oncall_user", "auditor_user"])
def test_the_service_refuses_non_admins_and_records_the_refusal(
    request, role_user, current_snapshot
):
    user = request.getfixturevalue(role_user)
    with pytest.raises(PermissionDenied):
        exemption_create(
            user=user,
            namespace="legacy",
            owner="me",
            justification="because",
            expires_at=timezone.now() + timedelta(days=3),
            now=timezone.now(),
        )

    assert not Exemption.objects.exists()
    assert AuditEntry.objects.get().outcome == "denied"


def test_the_revoke_service_refuses_an_auditor(auditor_user):
    exemption = exemption_build(
        namespace="legacy", created_at=timezone.now(), expires_at=timezone.now() + timedelta(days=1)
    )
    with pytest.raises(PermissionDenied):
        exemption_revoke(
            user=auditor_user, exemption_id=exemption.pk, reason="x", now=timezone.now()
        )

    exemption.refresh_from_db()
    assert exemption.revoked_at is None


def test_the_service_checks_the_expiry_itself(admin_user, current_snapshot):
    with pytest.raises(ValidationError):
        exemption_create(
            user=admin_user,
            namespace="legacy",
            owner="me",
            justification="because",
            expires_at=timezone.now() - timedelta(seconds=1),
            now=timezone.now(),
        )


def test_expired_exemptions_become_findings_until_revoked_or_renewed():
    now = moment("2026-11-20 00:00")
    expired = exemption_build(
        namespace="legacy",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-11-01 00:00"),
    )
    exemption_build(
        namespace="shop",
        workload="api",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-11-02 00:00"),
    )
    exemption_build(  # renewed: the newer one is valid
        namespace="shop",
        workload="api",
        created_at=moment("2026-11-02 00:00"),
        expires_at=moment("2026-12-31 00:00"),
    )
    exemption_build(  # revoked before it expired: not a finding
        namespace="old",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-11-01 00:00"),
        revoked_at=moment("2026-10-15 00:00"),
    )

    findings = exemption_findings(now)

    assert [(f.code, f.severity, f.namespace, f.name, f.kind) for f in findings] == [
        ("EXEMPTION_EXPIRED", "warning", "legacy", "legacy", "Namespace")
    ]
    assert "expired on 2026-11-01 00:00 UTC" in findings[0].message
    assert exemption_findings(moment("2026-10-31 00:00")) == []
    expired.revoked_at = now
    expired.save()
    assert exemption_findings(now + timedelta(seconds=1)) == []


def test_the_exemption_list_shows_state_and_hides_forms_from_auditors(
    client_as, auditor_user, current_snapshot
):
    exemption_build(
        namespace="legacy",
        created_at=timezone.now() - timedelta(days=40),
        expires_at=timezone.now() - timedelta(days=10),
        owner="<b>team</b>",
    )
    page = client_as(auditor_user).get("/exemptions/").content.decode()

    assert "Expired" in page
    assert "&lt;b&gt;team&lt;/b&gt;" in page
    assert "Record an exemption" not in page
    assert '/revoke/"' not in page  # no Revoke… action (the state filter names "Revoked")


def test_exemptions_at_narrowed_to_namespaces_and_in_force_keeps_the_same_answers(db):
    now = moment("2026-11-10 00:00")
    for namespace, expires in (("legacy", "2026-12-01 00:00"), ("old", "2026-11-01 00:00")):
        exemption_build(
            namespace=namespace, created_at=moment("2026-10-01 00:00"), expires_at=moment(expires)
        )
    exemption_build(
        namespace="shop",
        workload="cart",
        created_at=moment("2026-10-01 00:00"),
        expires_at=moment("2026-12-01 00:00"),
    )

    narrowed = exemptions_at(at=now, namespaces=["legacy", "old"], in_force_only=True)

    assert set(narrowed.in_force) == {("legacy", "")}
    assert narrowed.expired == []  # "old" expired: not read when only valid ones are asked for
    assert narrowed.for_workload("shop", "cart") is None  # shop was not asked for
    whole = exemptions_at(at=now)
    assert set(whole.in_force) == {("legacy", ""), ("shop", "cart")}
    assert [expired.namespace for expired in whole.expired] == ["old"]
