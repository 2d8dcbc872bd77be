"""Refused attempts are recorded up to MESHUI_AUDIT_DENIED_PER_MINUTE per user and minute,
then once more as a summary, then not until the minute has passed: a script hammering a form
cannot flood the log. The user is refused every time all the same."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import AuditEntry
from policies.services.audit import AuditAction
from tests.factories import audit_entry

DENIED = AuditEntry.Outcome.DENIED


@pytest.fixture
def three_a_minute(settings):
    settings.MESHUI_AUDIT_DENIED_PER_MINUTE = 3


def refusal(user, *, at, reason="try"):
    return audit_entry(user, outcome=DENIED, reason=reason, now=at)


def test_a_flood_of_refusals_leaves_the_limit_and_one_summary_and_every_post_is_refused(
    client, kube, users, three_a_minute
):
    client.force_login(users["norole"])
    statuses = [
        client.post("/namespaces/shop/mode/", {"mode": "STRICT", "reason": f"try {n}"}).status_code
        for n in range(6)
    ]
    assert statuses == [403] * 6
    recorded = AuditEntry.objects.order_by("id")
    assert [(entry.action, entry.reason) for entry in recorded] == [
        ("namespace_mode_set", "try 0"),
        ("namespace_mode_set", "try 1"),
        ("namespace_mode_set", "try 2"),
        ("refusals_rate_limited", "try 3"),
    ]
    summary = recorded.last()
    assert (summary.outcome, summary.username) == ("denied", "nobody")
    assert "more than 3 times within a minute" in summary.error


def test_refusals_are_recorded_again_once_the_minute_has_passed(users, three_a_minute):
    start = timezone.now()
    written = [refusal(users["norole"], at=start + timedelta(seconds=s)) for s in range(5)]
    assert [entry is not None for entry in written] == [True, True, True, True, False]
    assert written[3].action == AuditAction.REFUSALS_RATE_LIMITED
    assert refusal(users["norole"], at=start + timedelta(seconds=62)) is None
    again = refusal(users["norole"], at=start + timedelta(seconds=64))
    assert (again.action, again.outcome) == ("namespace_mode_set", "denied")


def test_one_users_flood_does_not_silence_anothers_refusals(users, three_a_minute):
    now = timezone.now()
    for _ in range(5):
        refusal(users["norole"], at=now)
    assert refusal(users["auditor"], at=now).username == "aud"


def test_outcomes_other_than_refusals_are_never_limited(users, three_a_minute):
    now = timezone.now()
    for _ in range(5):
        audit_entry(users["oncall"], outcome=AuditEntry.Outcome.DRY_RUN, now=now)
    assert AuditEntry.objects.filter(username="olga").count() == 5
