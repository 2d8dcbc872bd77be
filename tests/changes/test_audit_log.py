"""The audit log: append-only entries, the filtered page, the CSV export, a namespace's panel."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from policies.models import AuditEntry, TimedRestore
from policies.services.audit import AuditAction
from tests.factories import audit_entry as entry
from tests.factories import snapshot_with, user_with_role


@pytest.fixture
def people(db):
    return {
        "alice": user_with_role("admin", username="alice"),
        "olga": user_with_role("oncall", username="olga"),
        "aud": user_with_role("auditor", username="aud"),
    }


def test_entry_records_who_in_which_role(people):
    recorded = entry(people["olga"])
    assert (recorded.username, recorded.role, recorded.user) == ("olga", "oncall", people["olga"])


def test_entry_by_meshui_itself_is_named_meshui(db):
    recorded = entry(None, action=AuditAction.RESTORE)
    assert (recorded.username, recorded.role, recorded.user) == ("meshui", "", None)


def test_audit_page_filters_by_user_namespace_action_and_date(client, people):
    entry(people["olga"], reason="olga in shop")
    entry(
        people["alice"],
        target_namespace="pay",
        action=AuditAction.POLICY_DELETE,
        reason="alice in pay",
    )
    entry(people["alice"], reason="last month", now=timezone.now() - timedelta(days=40))
    client.force_login(people["aud"])

    page = client.get("/audit/?user=olga").content.decode()
    assert "olga in shop" in page and "alice in pay" not in page
    page = client.get("/audit/?namespace=pay").content.decode()
    assert "alice in pay" in page and "olga in shop" not in page
    page = client.get("/audit/?action=policy_delete").content.decode()
    assert "alice in pay" in page and "olga in shop" not in page
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    page = client.get(f"/audit/?date_from={since}").content.decode()
    assert "last month" not in page and "olga in shop" in page


def test_audit_page_says_why_a_bad_filter_is_refused(client, people):
    client.force_login(people["aud"])
    response = client.get("/audit/?date_from=2026-02-01&date_to=2026-01-01")
    assert response.status_code == 400
    assert "before the start date" in response.content.decode()


def test_htmx_filter_swaps_only_the_table(client, people):
    entry(people["olga"])
    client.force_login(people["aud"])
    response = client.get("/audit/?user=olga", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="audit-table")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="audit-table"')
    assert "<html" not in body


def test_csv_export_has_stable_columns_and_defuses_formulas(client, people):
    entry(people["olga"], reason='=HYPERLINK("http://evil")')
    client.force_login(people["aud"])
    response = client.get("/audit/export.csv?namespace=shop")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["id", "created_at", "username", "role", "action", "target_kind"]
    assert rows[1][rows[0].index("reason")] == '\'=HYPERLINK("http://evil")'
    assert rows[1][rows[0].index("username")] == "olga"


def test_csv_export_times_match_the_report_export_rfc3339_utc_seconds(client, people):
    written = datetime(2026, 10, 20, 10, 0, 7, 654321, tzinfo=UTC)
    recorded = entry(people["olga"], now=written)
    snapshot_with(namespaces=["shop"], taken_at=datetime(2026, 10, 1, tzinfo=UTC))
    client.force_login(people["aud"])

    def created_at_cell(url):
        text = b"".join(client.get(url).streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        return [row["created_at"] for row in rows if row["id"] == str(recorded.pk)]

    # As kubectl prints creationTimestamp: UTC, a Z, whole seconds (no +00:00, no micros).
    assert created_at_cell("/audit/export.csv") == ["2026-10-20T10:00:07Z"]
    report = "/reports/audit.csv?since=2026-10-01&at=2026-11-01"
    assert created_at_cell(report) == ["2026-10-20T10:00:07Z"]


def test_nobody_can_edit_or_delete_entries_through_meshui(client, people):
    recorded = entry(people["olga"])
    client.force_login(people["alice"])
    for name in ("audit-delete", "audit-update", "audit-edit"):
        with pytest.raises(NoReverseMatch):
            reverse(f"policies:{name}", args=[recorded.pk])
    assert client.post(f"/audit/{recorded.pk}/delete/").status_code == 404
    assert client.post("/audit/", {"id": recorded.pk}).status_code == 405
    assert client.delete(f"/changes/{recorded.pk}/").status_code == 405
    assert AuditEntry.objects.filter(pk=recorded.pk).exists()


def test_namespace_panel_lists_recent_changes_and_pending_restore(client, people):
    change = entry(people["olga"], reason="INC-7 rollback window")
    TimedRestore.objects.create(
        namespace="shop",
        restore_mode="STRICT",
        restore_at=timezone.now() + timedelta(hours=2),
        change=change,
    )
    entry(people["olga"], target_namespace="pay", reason="elsewhere")
    client.force_login(people["aud"])
    page = client.get("/namespaces/shop/changes/").content.decode()
    assert "Pending" in page and "back to STRICT" in page
    assert f"change #{change.pk}" in page
    assert "olga" in page and "elsewhere" not in page


def test_change_detail_shows_the_object_sent_as_yaml(client, people):
    recorded = entry(
        people["olga"],
        object_sent={
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "shop"},
            "spec": {"mtls": {"mode": "STRICT"}},
        },
    )
    client.force_login(people["aud"])
    page = client.get(f"/changes/{recorded.pk}/").content.decode()
    assert "kind: PeerAuthentication" in page
    assert "mode: STRICT" in page


def test_actions_other_features_record_can_be_filtered_too(client, people):
    entry(people["alice"], action="quota_raise", reason="more room")
    entry(people["olga"], reason="toggle")
    client.force_login(people["aud"])
    response = client.get("/audit/?action=quota_raise")
    page = response.content.decode()
    assert response.status_code == 200
    assert "more room" in page and "toggle" not in page
    assert "Quota raise" in page


@pytest.mark.parametrize(
    ("action", "label"),
    [("exemption_create", "Exemption recorded"), ("exemption_revoke", "Exemption revoked")],
)
def test_exemption_actions_are_offered_in_the_filter_and_named_in_words(
    client, people, action, label
):
    entry(people["alice"], action=action, reason="legacy batch jobs")
    entry(people["olga"], reason="toggle")
    client.force_login(people["aud"])
    # Offered before any such entry exists in the filtered view: the filter knows them.
    empty = client.get("/audit/?user=nobody").content.decode()
    assert f'<option value="{action}">{label}</option>' in empty
    response = client.get(f"/audit/?action={action}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "legacy batch jobs" in page and "toggle" not in page
    assert f"<td>{label}</td>" in page
