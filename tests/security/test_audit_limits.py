"""Every audit field is capped before it is written: one request cannot grow the log by
megabytes, and an over-long or unstorable field is refused on the form or cut in the entry,
never a server error with nothing audited (PostgreSQL enforces column lengths and refuses NUL
characters; SQLite would store anything)."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import AuditEntry
from policies.services.audit import AuditAction
from policies.services.exemptions import exemption_create
from tests.factories import audit_entry

TWO_MEGABYTES = "x" * 2_000_000


def stored(entry: AuditEntry) -> AuditEntry:
    return AuditEntry.objects.get(pk=entry.pk)


def test_a_two_megabyte_reason_is_cut_and_says_how_long_it_was(db):
    entry = stored(audit_entry(None, reason=TWO_MEGABYTES))
    assert len(entry.reason) <= 5000
    assert entry.reason.startswith("xxxx")
    assert entry.reason.endswith("[cut: 2000000 characters in all]")


def test_the_longest_reasons_the_forms_accept_are_kept_whole(users):
    justification = "j" * 4000  # the exemption form's limit; the change forms take 1000
    now = timezone.now()
    exemption_create(
        user=users["admin"],
        namespace="legacy",
        owner="o" * 150,
        justification=justification,
        expires_at=now + timedelta(days=30),
        now=now,
    )
    assert AuditEntry.objects.get().reason.endswith(justification)


@pytest.mark.parametrize("field", ["error", "dry_run_result"])
def test_long_error_and_dry_run_texts_are_cut(db, field):
    entry = stored(audit_entry(None, **{field: TWO_MEGABYTES}))
    assert 0 < len(getattr(entry, field)) <= 8000


def test_names_longer_than_their_columns_are_cut_to_fit(db):
    entry = stored(
        audit_entry(
            None,
            action="x" * 100,
            target_kind="K" * 100,
            target_namespace="n" * 100,
            target_name="w" * 300,
        )
    )
    assert [len(entry.action), len(entry.target_kind), len(entry.target_namespace)] == [64, 32, 63]
    assert len(entry.target_name) == 253
    assert entry.target_namespace.startswith("nnnn")


def test_nul_characters_are_stored_as_replacement_characters(db):
    entry = stored(audit_entry(None, reason="INC-1\x00", object_sent={"note": "a\x00b"}))
    assert entry.reason == "INC-1\ufffd"
    assert entry.object_sent == {"note": "a\ufffdb"}


@pytest.mark.parametrize("field", ["object_sent", "object_before"])
def test_an_oversize_object_is_replaced_by_a_marker_with_its_size_and_sha256(db, field):
    huge = {"kind": "PeerAuthentication", "spec": {"note": "y" * 300_000}}
    serialized = json.dumps(huge, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    entry = stored(audit_entry(None, **{field: huge}))
    marker = getattr(entry, field)
    assert marker["omitted"] == "too large for the audit log"
    assert marker["bytes"] == len(serialized.encode())
    assert marker["sha256"] == hashlib.sha256(serialized.encode()).hexdigest()
    assert len(json.dumps(marker)) < 300


def test_the_change_page_shows_an_omitted_object_as_its_marker(client, users):
    huge = {"kind": "PeerAuthentication", "spec": {"note": "y" * 300_000}}
    entry = audit_entry(users["oncall"], object_sent=huge)
    client.force_login(users["auditor"])
    response = client.get(f"/changes/{entry.pk}/")
    assert response.status_code == 200
    assert "too large for the audit log" in response.content.decode()


def test_an_ordinary_object_is_kept_whole(db):
    manifest = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "shop"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    assert stored(audit_entry(None, object_sent=[manifest])).object_sent == [manifest]


# --- Over HTTP ------------------------------------------------------------------------------

HOSTILE_TEXTS = {"two megabytes": TWO_MEGABYTES}
NUL_TEXT = "INC-1\x00; DROP"


def change_post(change: str, hostile: str) -> tuple[str, dict]:
    """A change form posted with `hostile` in each free-text field the refusal records (the
    second one shorter: Django itself refuses a body over 2.5 MB, before any view)."""
    in_object = hostile[:200_000]  # still far over the object limit
    return {
        "toggle": ("/namespaces/shop/mode/", {"mode": in_object, "reason": hostile}),
        "create": (
            "/changes/peer-authentication/new/",
            {"scope": "namespace", "namespace": "n" * 100, "name": "w" * 300, "reason": hostile},
        ),
        "delete": (
            "/changes/PeerAuthentication/shop/default/delete/",
            {"resource_version": in_object, "reason": hostile},
        ),
    }[change]


@pytest.mark.parametrize("hostile", sorted(HOSTILE_TEXTS))
@pytest.mark.parametrize("change", ["create", "delete", "toggle"])
def test_a_roleless_users_hostile_post_is_refused_and_audited_never_a_server_error(
    client, kube, users, change, hostile
):
    url, fields = change_post(change, HOSTILE_TEXTS[hostile])
    client.force_login(users["norole"])
    response = client.post(url, {**fields, "confirm": "1"})
    assert response.status_code == 403
    [refused] = AuditEntry.objects.all()
    assert (refused.outcome, refused.username) == ("denied", "nobody")
    sent = json.dumps(refused.object_sent)
    assert len(refused.reason) <= 5000 and len(sent) <= 64 * 1024
    assert "\x00" not in refused.reason + sent and "\\u0000" not in sent
    assert len(refused.target_namespace) <= 63 and len(refused.target_name) <= 253


@pytest.mark.parametrize("change", ["create", "delete", "toggle"])
def test_a_nul_character_is_refused_at_the_door_before_anything_is_attempted(
    client, kube, users, change
):
    # PostgreSQL stores no NUL: the request is answered 400 before any view runs, so there is
    # no attempt to record (tests/security/test_bad_input_web.py holds the page's words).
    url, fields = change_post(change, NUL_TEXT)
    client.force_login(users["norole"])
    response = client.post(url, {**fields, "confirm": "1"})
    assert response.status_code == 400
    assert not AuditEntry.objects.exists()
    assert [r for r in kube.requests if r.method != "GET"] == []


def test_an_over_long_reason_is_a_form_error_for_those_who_may_change(client, kube, users):
    client.force_login(users["oncall"])
    response = client.post(
        "/namespaces/shop/mode/", {"mode": "STRICT", "reason": "x" * 1001, "confirm": "1"}
    )
    assert response.status_code == 400
    assert "Keep the reason to 1000 characters (this one has 1001)" in response.content.decode()
    assert not AuditEntry.objects.exists()  # nothing was attempted: no change, no entry
    assert [r for r in kube.requests if r.method != "GET"] == []


def test_an_over_long_reason_from_a_roleless_user_is_cut_in_the_refusal(client, kube, users):
    client.force_login(users["norole"])
    client.post("/namespaces/shop/mode/", {"mode": "STRICT", "reason": "r" * 6000})
    refused = AuditEntry.objects.get()
    assert refused.reason.startswith("r" * 1000)
    assert refused.reason.endswith("[cut: 6000 characters in all]")
    assert AuditAction(refused.action) == AuditAction.NAMESPACE_MODE_SET
