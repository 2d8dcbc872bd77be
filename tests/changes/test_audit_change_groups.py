"""The audit log shows a change as one entry with its previews folded under it, names every
outcome as people say it, shows the mode moved from and to, and answers an invalid filter
with the error, never with the unfiltered log."""

import csv
import io
import re

import pytest

from policies.audit_integrity import audit_entry_hash
from policies.models import AuditEntry
from policies.selectors.audit import audit_chain_check
from policies.services.audit import AuditAction, audit_change, change_id_new
from tests.factories import audit_entry

TOGGLE = "/namespaces/shop/mode/"
STRICT = {"mode": "STRICT", "reason": "INC-7", "seen_resource_version": "absent"}


def change_id_in(page: str) -> str:
    return re.search(r'name="change_id" value="([0-9a-f]{32})"', page).group(1)


def text(response) -> str:
    html = response.content.decode().replace("<wbr>", "")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def preview_twice_then_confirm(client) -> str:
    first = client.post(TOGGLE, STRICT).content.decode()
    change_id = change_id_in(first)
    second = client.post(TOGGLE, {**STRICT, "change_id": change_id}).content.decode()
    assert change_id_in(second) == change_id  # previewing again stays in the change
    confirmed = client.post(TOGGLE, {**STRICT, "change_id": change_id, "confirm": "1"})
    assert confirmed.status_code == 302
    return change_id


def test_a_change_is_one_entry_with_its_previews_folded_under_it(client, mesh, users):
    client.force_login(users["oncall"])
    change_id = preview_twice_then_confirm(client)

    entries = AuditEntry.objects.order_by("id")
    assert [e.outcome for e in entries] == ["dry_run", "dry_run", "applied"]  # all kept
    assert {e.change_id for e in entries} == {change_id}

    client.force_login(users["auditor"])
    response = client.get("/audit/")
    page = response.content.decode()
    assert page.count('<tbody class="audit-change">') == 1
    assert "Showing changes 1–1 of 1" in text(response)
    assert "2 more attempts: 2 previewed" in text(response)
    lead = page.split('<tr class="folded">')[0]
    assert ">Applied</span>" in lead


def test_audit_csv_keeps_every_attempt_with_its_change_id(client, mesh, users):
    client.force_login(users["oncall"])
    change_id = preview_twice_then_confirm(client)
    client.force_login(users["auditor"])
    rows = csv_rows(client.get("/audit/export.csv"))
    assert [row["outcome"] for row in rows] == ["applied", "dry_run", "dry_run"]
    assert {row["change_id"] for row in rows} == {change_id}
    assert {(row["mode_from"], row["mode_to"]) for row in rows} == {
        ("none", "STRICT"),  # the confirm read the cluster: there was no namespace policy
        ("", "STRICT"),  # previews read nothing before
    }


def test_separate_changes_stay_separate_entries(client, mesh, users):
    client.force_login(users["oncall"])
    client.post(TOGGLE, STRICT)
    client.post(TOGGLE, STRICT)  # a new preview without the id: a new change
    client.force_login(users["auditor"])
    assert client.get("/audit/").content.decode().count('<tbody class="audit-change">') == 2


def test_an_id_from_someone_elses_change_is_not_joined(client, mesh, users):
    client.force_login(users["oncall"])
    theirs = change_id_in(client.post(TOGGLE, STRICT).content.decode())
    client.force_login(users["admin"])
    client.post(TOGGLE, {**STRICT, "change_id": theirs})
    olga, alice = AuditEntry.objects.order_by("id")
    assert olga.change_id == theirs
    assert alice.change_id not in ("", theirs)


def test_refused_attempts_read_refused_never_dry_run(client, mesh, users):
    client.force_login(users["auditor"])
    assert client.post(TOGGLE, STRICT).status_code == 403
    refused = AuditEntry.objects.get()
    assert refused.outcome == "denied"
    listing = text(client.get("/audit/")).split("Export every matching attempt")[1]
    detail = text(client.get(f"/changes/{refused.pk}/"))
    for page in (listing, detail):
        assert "Refused" in page
        assert "Dry Run" not in page and "Dry run" not in page and "Previewed" not in page


@pytest.mark.parametrize(
    ("action", "outcome", "label"),
    [
        (AuditAction.NAMESPACE_MODE_SET, "denied", "Refused"),
        (AuditAction.NAMESPACE_MODE_SET, "dry_run", "Previewed"),
        (AuditAction.NAMESPACE_MODE_SET, "applied", "Applied"),
        (AuditAction.NAMESPACE_MODE_SET, "failed", "Failed"),
        (AuditAction.RESTORE, "applied", "Restored"),
        (AuditAction.ROLLBACK, "rolled_back", "Restored (rolled back)"),
        (AuditAction.PEER_AUTHENTICATION_APPLY, "partial", "Half done"),
        (AuditAction.NAMESPACE_MODE_SET, "unknown", "Unknown: no answer"),
    ],
)
def test_outcomes_are_named_as_people_say_them(client, users, action, outcome, label):
    audit_entry(users["admin"], action=action, outcome=outcome)
    client.force_login(users["auditor"])
    assert f">{label}</span>" in client.get("/audit/").content.decode()


def test_mode_column_shows_from_and_to(client, users):
    before = {"kind": "PeerAuthentication", "spec": {"mtls": {"mode": "PERMISSIVE"}}}
    sent = {"kind": "PeerAuthentication", "spec": {"mtls": {"mode": "STRICT"}}}
    audit_entry(users["admin"], object_before=before, object_sent=sent, reason="tighten")
    deleted = {"delete": {"kind": "PeerAuthentication", "namespace": "shop", "name": "default"}}
    audit_entry(
        users["admin"],
        action=AuditAction.POLICY_DELETE,
        object_before=sent,
        object_sent=deleted,
        reason="drop",
    )
    client.force_login(users["auditor"])
    page = text(client.get("/audit/"))
    assert "PERMISSIVE → STRICT" in page
    assert "STRICT → deleted" in page


@pytest.mark.parametrize(
    "query",
    ["from=notadate", "date_from=notadate", "to=2026-13-40", "page=two", "outcom=applied"],
)
def test_invalid_audit_filters_answer_400_and_show_nothing_unfiltered(client, users, query):
    audit_entry(users["admin"], reason="should not be listed")
    client.force_login(users["auditor"])
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 400
    page = text(response)
    assert "These filters cannot be applied, so nothing is shown." in page
    assert "should not be listed" not in page
    export = client.get(f"/audit/export.csv?{query}")
    assert export.status_code == 400
    assert "text/html" in export["Content-Type"]
    assert "should not be listed" not in text(export)


def test_the_cluster_switcher_lands_on_the_audit_log_not_on_a_refusal(client, users):
    # The switcher sends every page to ?cluster=NAME, which meshui reads for every page: the
    # audit log's own filters must not refuse it as a misspelt filter of theirs.
    audit_entry(users["admin"], reason="still listed")
    client.force_login(users["auditor"])
    for path in ("/audit/?cluster=all", "/audit/?cluster=all&outcome=applied"):
        response = client.get(path)
        assert response.status_code == 200
        assert "is not a filter" not in text(response)
    assert "still listed" in text(client.get("/audit/?cluster=all"))
    assert client.get("/audit/export.csv?cluster=all").status_code == 200


def test_from_and_to_are_read_as_the_date_filters(client, users):
    audit_entry(users["admin"], reason="made today")
    client.force_login(users["auditor"])
    assert "made today" not in text(client.get("/audit/?from=2099-01-01"))
    assert "made today" in text(client.get("/audit/?from=2000-01-01&to=2099-01-01"))


def test_change_ids_are_in_the_hash_chain_and_old_entries_still_verify(users):
    # An entry written before change ids (no value) keeps its old hash.
    old = audit_entry(users["admin"])
    content = {field.attname: getattr(old, field.attname) for field in AuditEntry._meta.fields}
    content_without = {k: v for k, v in content.items() if k != "change_id"}
    assert old.entry_hash == audit_entry_hash(content_without, old.previous_hash)
    with audit_change(change_id_new()):
        grouped = audit_entry(users["admin"])
    assert grouped.change_id
    assert audit_chain_check().problem == ""
    # A change id is covered: blanking or changing it breaks the entry's hash.
    content = {field.attname: getattr(grouped, field.attname) for field in AuditEntry._meta.fields}
    assert grouped.entry_hash == audit_entry_hash(content, grouped.previous_hash)
    assert grouped.entry_hash != audit_entry_hash(
        {**content, "change_id": ""}, grouped.previous_hash
    )


def test_change_page_lists_every_attempt_of_its_change(client, mesh, users):
    client.force_login(users["oncall"])
    preview_twice_then_confirm(client)
    applied = AuditEntry.objects.get(outcome="applied")
    page = text(client.get(f"/changes/{applied.pk}/"))
    assert "Every attempt of this change" in page
    assert page.count("Previewed") == 2
    assert f"Change #{applied.pk}: Namespace mode set" in page


def test_titles_and_headings_never_show_internal_action_names(client, users):
    for action in AuditAction:
        audit_entry(users["admin"], action=action)
    client.force_login(users["auditor"])
    pages = [client.get("/audit/")] + [
        client.get(f"/changes/{entry.pk}/") for entry in AuditEntry.objects.all()
    ]
    for response in pages:
        html = response.content.decode()
        shown = " ".join(re.findall(r"<(?:title|h1|h2)[^>]*>(.*?)</(?:title|h1|h2)>", html, re.S))
        shown += " ".join(re.findall(r"<td>([^<]*)</td>", html))
        for action in AuditAction:
            if "_" in action.value:  # "restore" is a word; "restore_now" is not
                assert action.value not in shown, (action.value, shown)


def test_audit_page_query_count_does_not_grow_with_the_log(client, users):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/audit/?outcome=").status_code == 200
        return len(queries)

    client.force_login(users["auditor"])
    for _ in range(3):
        with audit_change(change_id_new()):
            audit_entry(users["admin"], outcome="dry_run")
            audit_entry(users["admin"])
    small = count()
    for _ in range(30):
        with audit_change(change_id_new()):
            audit_entry(users["admin"], outcome="dry_run")
            audit_entry(users["admin"], outcome="dry_run")
            audit_entry(users["admin"])
    assert count() == small
