"""Pages answer odd input with 400 and a sentence, on SQLite and PostgreSQL alike.

PostgreSQL refuses what SQLite lets by: a NUL byte in any text, a time-zone offset beyond
±15:59, a string longer than its column. Dates at the ends of the calendar overflow Python's
date arithmetic. None of it may become a 500.
"""

from __future__ import annotations

import pytest
from django import forms

from tests.security.page_client import logged_in_on_a_small_snapshot

pytestmark = pytest.mark.django_db

LONG_NAME = "a" * 300
FAR_PAST_OFFSET = "0001-01-01T00:00+23:59"


@pytest.fixture
def admin(client, users):
    return logged_in_on_a_small_snapshot(client, users["admin"])


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/namespaces/a%00b/",
        "/namespaces/shop/workloads/Deployment/a%00b/",
        "/policies/PeerAuthentication/shop/a%00b/",
        "/namespaces/a%00b/changes/",
        "/namespaces/?q=%00",
        "/policies/?namespace=a%00",
        "/findings/?code=%00",
        "/audit/?user=%00",
        "/audit/export.csv?user=%00",
        "/reports/?at=%00",
        "/sync/status/?after=%00",
        "/?anything=%00",
        "/namespaces/?%00=1",
    ],
)
def test_a_nul_byte_in_the_path_or_a_parameter_is_a_bad_request(admin, url):
    response = admin.get(url)
    assert response.status_code == 400
    assert "NUL" in body(response)


def test_a_nul_byte_in_a_posted_field_is_a_bad_request(admin):
    response = admin.post("/exemptions/new/", {"namespace": "shop\x00", "owner": "x"})
    assert response.status_code == 400
    assert "NUL" in body(response)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/audit/?date_from=0001-01-01", "1970-01-01"),
        ("/audit/?date_to=9999-12-31", "2999-12-31"),
        ("/audit/export.csv?date_to=9999-12-31", "2999-12-31"),
        ("/reports/?at=0001-01-01", "1970"),
        (f"/reports/?at={FAR_PAST_OFFSET}", "1970"),
        ("/reports/?at=0001-01-01T00:00-23:59", "1970"),
        (f"/reports/?since={FAR_PAST_OFFSET}", "1970"),
        (f"/reports/compare/?from={FAR_PAST_OFFSET}", "1970"),
        (f"/reports/namespaces.csv?at={FAR_PAST_OFFSET}", "1970"),
        (f"/reports/report.json?since={FAR_PAST_OFFSET}", "1970"),
        ("/reports/?at=9999-12-31", "in the future"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_a_bad_request(admin, url, words):
    response = admin.get(url.replace("+", "%2B"))
    assert response.status_code == 400
    assert words in body(response)


@pytest.mark.parametrize("offset", ["%2B23:59", "-23:59", "%2B16:00"])
def test_a_time_with_an_offset_postgresql_cannot_store_is_read_as_utc(admin, offset):
    response = admin.get(f"/reports/?at=2026-01-01T12:00{offset}")
    assert response.status_code == 200


def test_the_print_stylesheet_falls_back_to_now_for_an_unusable_moment(admin):
    response = admin.get(f"/reports/print.css?at={FAR_PAST_OFFSET.replace('+', '%2B')}")
    assert response.status_code == 200
    assert "@page" in body(response)


@pytest.mark.parametrize(
    "url",
    [
        "/namespaces/?page=99999999999999999999999",
        "/namespaces/shop/?page=99999999999999999999999",
        "/policies/?pa_page=99999999999999999999999&dr_page=99999999999999999999999",
        "/findings/?page=99999999999999999999999",
        "/audit/?page=99999999999999999999999",
        "/sync/status/?after=99999999999999999999999",
        "/namespaces/?page=" + "9" * 5000,
        "/changes/99999999999999999999999/",
    ],
)
def test_numbers_beyond_any_column_are_answered_without_a_500(admin, url):
    assert admin.get(url).status_code in (200, 400, 404)


def new_policy(port_modes: str) -> dict:
    return {
        "scope": "workload",
        "namespace": "shop",
        "name": "cart",
        "mode": "STRICT",
        "match_labels": "app=cart",
        "port_modes": port_modes,
        "reason": "test",
    }


@pytest.mark.parametrize(
    ("port_modes", "words"),
    [
        ("²=STRICT", "Port '²': port must be between 1-65535."),
        ("٨٠٨٠=STRICT", "port must be between 1-65535"),
        ("9" * 1500 + "=STRICT", "Port '99999999999999999999': port must be between 1-65535."),
        ("8080=STRICT\n8080=DISABLE", "Port 8080 is given twice."),
        ("8080=STRICT\n08080=DISABLE", "Port 8080 is given twice."),
    ],
)
def test_port_modes_that_are_no_ports_or_repeat_a_port_are_refused(admin, port_modes, words):
    response = admin.post("/changes/peer-authentication/new/", new_policy(port_modes))
    assert response.status_code == 400
    assert words in body(response).replace("&#x27;", "'")


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_over_long_names_in_a_posted_form_are_refused_not_a_500(client, users, role):
    client.force_login(users[role])
    client.raise_request_exception = False
    data = {**new_policy(""), "scope": "namespace", "namespace": LONG_NAME, "name": LONG_NAME}
    response = client.post("/changes/peer-authentication/new/", data)
    assert response.status_code == (400 if role == "admin" else 403)


@pytest.mark.parametrize(
    ("field", "value"),
    [("match_labels", "app=" + "x" * 5000), ("port_modes", "8080=STRICT\n" * 1000)],
)
def test_every_text_field_of_the_policy_form_has_a_length_limit(admin, field, value):
    response = admin.post("/changes/peer-authentication/new/", {**new_policy(""), field: value})
    assert response.status_code == 400
    assert "at most" in body(response)


def every_form():
    from django.utils import timezone

    from policies.forms import changes, exemptions, filters, reports

    for module in (changes, exemptions, filters, reports):
        for form_class in vars(module).values():
            if isinstance(form_class, type) and issubclass(form_class, forms.Form):
                needs_now = "now" in form_class.__init__.__code__.co_varnames
                yield form_class(now=timezone.now()) if needs_now else form_class()


def test_every_text_field_of_every_form_has_a_length_limit():
    unbounded = [
        f"{type(form).__name__}.{name}"
        for form in every_form()
        for name, field in form.fields.items()
        if isinstance(field, forms.CharField) and field.max_length is None
    ]
    assert unbounded == []
