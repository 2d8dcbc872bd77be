"""Exemptions (issue 15): the form answers GET, revoking asks why and confirms, renewing
extends in one audited step with no gap, and reports at past dates stay true."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from policies.models import AuditEntry, Exemption
from policies.reasons import REASON_REQUIRED
from policies.selectors.reports import exemption_state, exemptions_at
from policies.services.exemptions import exemption_renew, exemption_revoke
from tests.reports.builders import exemption_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def exemption():
    now = timezone.now()
    return exemption_build(
        namespace="legacy", created_at=now - timedelta(days=10), expires_at=now + timedelta(days=5)
    )


def test_get_exemptions_new_shows_the_form_prefilled(client_as, admin_user):
    response = client_as(admin_user).get("/exemptions/new/?namespace=legacy&workload=batch")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Record an exemption</h1>" in page
    assert 'name="namespace" value="legacy"' in page
    assert 'name="justification"' in page


def test_get_exemptions_new_refuses_an_auditor_in_words(client_as, auditor_user):
    response = client_as(auditor_user).get("/exemptions/new/")
    assert response.status_code == 403


def test_revoke_asks_for_a_reason_and_says_what_is_lost_before_anything_happens(
    client_as, admin_user, exemption
):
    client = client_as(admin_user)
    page = client.get(f"/exemptions/{exemption.pk}/revoke/").content.decode()
    assert 'id="revoke-loss"' in page
    assert "count against the coverage score again" in page
    assert '<button type="submit" class="danger">Revoke the exemption for legacy</button>' in page
    refused = client.post(f"/exemptions/{exemption.pk}/revoke/", {"reason": "  "})
    assert refused.status_code == 400
    assert REASON_REQUIRED in refused.content.decode()
    exemption.refresh_from_db()
    assert exemption.revoked_at is None
    assert AuditEntry.objects.get().outcome == "failed"  # the refusal is on the record


def test_revoke_records_the_users_reason(client_as, admin_user, exemption):
    response = client_as(admin_user).post(
        f"/exemptions/{exemption.pk}/revoke/", {"reason": "INC-8 the bridge speaks mTLS now"}
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(outcome="applied")
    assert entry.action == "exemption_revoke"
    assert entry.reason.startswith("INC-8 the bridge speaks mTLS now (exemption: owner ")


def test_renew_extends_in_one_audited_step_without_a_gap(admin_user, exemption):
    now = timezone.now()
    later = now + timedelta(days=90)
    renewed = exemption_renew(
        user=admin_user, exemption_id=exemption.pk, expires_at=later, reason="INC-9 Q2", now=now
    )
    exemption.refresh_from_db()
    assert exemption.revoked_at == now and renewed.renewed_from == exemption
    assert (renewed.owner, renewed.justification) == (exemption.owner, exemption.justification)
    [entry] = AuditEntry.objects.all()
    assert (entry.action, entry.outcome) == ("exemption_renew", "applied")
    assert entry.reason.startswith("INC-9 Q2")
    assert "renewed as" in entry.dry_run_result
    # Never without an exemption: just before, at and after the renewal.
    for moment in (now - timedelta(seconds=1), now, now + timedelta(days=30)):
        assert exemptions_at(at=moment).for_namespace("legacy") is not None
    assert exemption_state(exemption, now=now) == "renewed"
    assert exemption_state(renewed, now=now) == "valid"


def test_renewing_an_expired_exemption_clears_its_finding_but_not_the_past(admin_user):
    now = timezone.now()
    expired = exemption_build(
        namespace="legacy", created_at=now - timedelta(days=40), expires_at=now - timedelta(days=5)
    )
    exemption_renew(
        user=admin_user,
        exemption_id=expired.pk,
        expires_at=now + timedelta(days=30),
        reason="INC-10",
        now=now,
    )
    assert exemptions_at(at=now).expired == []
    # A report as at three days ago still shows it expired then.
    past = exemptions_at(at=now - timedelta(days=3))
    assert past.for_namespace("legacy") is None
    assert [e.exemption.pk for e in past.expired] == [expired.pk]


@pytest.mark.parametrize(
    ("days", "words"),
    [(2, "later than the current expiry"), (400, "at most a year")],
)
def test_renew_refuses_an_expiry_not_later_or_too_far(admin_user, exemption, days, words):
    with pytest.raises(ValidationError) as refused:
        exemption_renew(
            user=admin_user,
            exemption_id=exemption.pk,
            expires_at=timezone.now() + timedelta(days=days),
            reason="x",
            now=timezone.now(),
        )
    assert words in str(refused.value)
    assert Exemption.objects.count() == 1


def test_renew_refuses_a_blank_reason_and_a_non_admin(admin_user, oncall_user, exemption):
    later = timezone.now() + timedelta(days=30)
    with pytest.raises(ValidationError):
        exemption_renew(
            user=admin_user, exemption_id=exemption.pk, expires_at=later, reason=" ", now=later
        )
    with pytest.raises(PermissionDenied):
        exemption_renew(
            user=oncall_user, exemption_id=exemption.pk, expires_at=later, reason="x", now=later
        )
    assert Exemption.objects.count() == 1
    assert sorted(AuditEntry.objects.values_list("outcome", flat=True)) == ["denied", "failed"]


def test_a_revoked_exemption_cannot_be_renewed(admin_user, exemption):
    now = timezone.now()
    exemption_revoke(user=admin_user, exemption_id=exemption.pk, reason="done", now=now)
    with pytest.raises(ValidationError):
        exemption_renew(
            user=admin_user,
            exemption_id=exemption.pk,
            expires_at=now + timedelta(days=30),
            reason="x",
            now=now,
        )


def test_renew_page_offers_a_later_date_and_the_list_links_both_actions(
    client_as, admin_user, exemption
):
    client = client_as(admin_user)
    listing = client.get("/exemptions/").content.decode()
    assert f'href="/exemptions/{exemption.pk}/renew/"' in listing
    assert f'class="button danger-outline" href="/exemptions/{exemption.pk}/revoke/"' in listing
    page = client.get(f"/exemptions/{exemption.pk}/renew/").content.decode()
    assert 'name="expires_on"' in page and 'name="reason"' in page
    response = client.post(
        f"/exemptions/{exemption.pk}/renew/",
        {"expires_on": (timezone.now() + timedelta(days=60)).date(), "reason": "INC-11"},
        follow=True,
    )
    assert "renewed until" in response.content.decode()
    assert Exemption.objects.filter(renewed_from=exemption).exists()
