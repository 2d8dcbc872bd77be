"""Logins and sessions (issue 10): guessing is throttled, sessions end, a one-time password is
replaced before anything else, logged-in pages stay out of caches, and meshui served to others
will not start on the public built-in secret key.

Client addresses come from the documentation ranges (RFC 5737) and only ever travel in the
test client's REMOTE_ADDR and X-Forwarded-For: nothing is sent anywhere.
"""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import F

from policies.middleware import LOGIN_AT, SEEN_AT
from policies.models import PasswordChangeRequired
from tests.factories import DEFAULT_PASSWORD, user_with_role

ROOT = Path(__file__).resolve().parents[2]
ATTACKER = "203.0.113.7"
COLLEAGUE = "198.51.100.20"
PROXY = "192.0.2.254"
WRONG = "not-the-password"
LIMIT = 5  # MESHUI_LOGIN_FAILURE_LIMIT's default


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 is slow by design; these tests count attempts, not hashing cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def kim(db):
    return user_with_role("auditor", username="kim")


def log_in(client, username, password, *, address=ATTACKER, **headers):
    """POST the login form as a browser at `address` would."""
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def fail_logins(client, usernames, addresses):
    for username, address in zip(usernames, addresses, strict=True):
        assert log_in(client, username, WRONG, address=address).status_code in {200, 429}


# --- Failed logins are throttled ------------------------------------------------------------


def test_two_hundred_guesses_stop_at_the_limit_and_then_even_the_right_password_fails(
    client, kim, settings
):
    assert settings.MESHUI_LOGIN_FAILURE_LIMIT == LIMIT
    statuses = [log_in(client, "kim", f"guess-{n}").status_code for n in range(199)]
    right = log_in(client, "kim", DEFAULT_PASSWORD)

    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # "didn't match", try again
    assert set(statuses[LIMIT - 1 :]) == {429}  # the fifth failure locks
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still sent to the login page


def test_many_usernames_guessed_from_one_address_lock_that_address_only(client, kim):
    fail_logins(client, [f"user-{n}" for n in range(LIMIT)], [ATTACKER] * LIMIT)

    assert log_in(client, "kim", DEFAULT_PASSWORD, address=ATTACKER).status_code == 429
    assert log_in(client, "kim", DEFAULT_PASSWORD, address=COLLEAGUE).status_code == 302


def test_one_username_guessed_from_many_addresses_locks_that_username_only(client, kim):
    lee = user_with_role("auditor", username="lee")
    addresses = [f"192.0.2.{n + 1}" for n in range(LIMIT)]
    fail_logins(client, ["kim"] * LIMIT, addresses)

    assert log_in(client, "kim", DEFAULT_PASSWORD, address=COLLEAGUE).status_code == 429
    assert log_in(client, lee.username, DEFAULT_PASSWORD, address=addresses[0]).status_code == 302


def test_a_locked_out_login_gets_a_page_that_says_why_and_for_how_long(client, kim):
    fail_logins(client, ["kim"] * LIMIT, [ATTACKER] * LIMIT)
    page = log_in(client, "kim", DEFAULT_PASSWORD)

    assert page.status_code == 429
    assert page["Retry-After"] == "900"
    text = page.content.decode()
    assert "Too many failed logins" in text
    assert "Try again in 15 minutes" in text
    assert "ask a meshui administrator" in text
    assert 'href="/login/"' in text


def test_the_lock_lifts_by_itself_after_the_cool_off(client, kim):
    fail_logins(client, ["kim"] * LIMIT, [ATTACKER] * LIMIT)
    assert log_in(client, "kim", DEFAULT_PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert log_in(client, "kim", DEFAULT_PASSWORD).status_code == 302


def test_an_admin_unlocks_a_username_or_an_address_with_the_axes_reset_commands(client, kim):
    addresses = [f"192.0.2.{n + 1}" for n in range(LIMIT)]
    fail_logins(client, ["kim"] * LIMIT, addresses)
    assert log_in(client, "kim", DEFAULT_PASSWORD, address=COLLEAGUE).status_code == 429
    call_command("axes_reset_username", "kim", stdout=StringIO())
    assert log_in(client, "kim", DEFAULT_PASSWORD, address=COLLEAGUE).status_code == 302

    client.logout()
    fail_logins(client, [f"user-{n}" for n in range(LIMIT)], [ATTACKER] * LIMIT)
    assert log_in(client, "kim", DEFAULT_PASSWORD, address=ATTACKER).status_code == 429
    call_command("axes_reset_ip", ATTACKER, stdout=StringIO())
    assert log_in(client, "kim", DEFAULT_PASSWORD, address=ATTACKER).status_code == 302


def test_behind_a_proxy_each_client_counts_alone_and_a_forged_first_hop_changes_nothing(
    client, kim, settings
):
    settings.MESHUI_BEHIND_PROXY = True
    for n in range(LIMIT):
        # The proxy appends the address it saw; whatever the client wrote before it is forged.
        forwarded = f"198.51.100.{n + 100}, {ATTACKER}"
        response = log_in(client, f"user-{n}", WRONG, address=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
        assert response.status_code in {200, 429}

    locked = log_in(client, "kim", DEFAULT_PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    other = log_in(client, "kim", DEFAULT_PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR=COLLEAGUE)
    assert locked.status_code == 429
    assert other.status_code == 302


def test_failures_without_a_username_count_against_their_address_only(client, kim, rf):
    # A single sign-on callback that matches nobody fails with no username: it must not add up
    # with everyone else's into one "no username" lock that refuses all single sign-on.
    for _ in range(LIMIT):
        assert authenticate(rf.get("/oidc/callback/", REMOTE_ADDR=ATTACKER), code="forged") is None

    elsewhere = rf.get("/oidc/callback/", REMOTE_ADDR=COLLEAGUE)
    assert AxesProxyHandler.is_allowed(elsewhere, {"username": None})
    assert log_in(client, "kim", DEFAULT_PASSWORD, address=ATTACKER).status_code == 429


def test_password_checks_without_a_request_still_work(client, kim):
    # manage.py shell and Django's test client authenticate with no request: there is no client
    # address to count (axes cannot record one either), so the check simply runs.
    assert authenticate(username="kim", password=DEFAULT_PASSWORD) == kim
    assert client.login(username="kim", password=DEFAULT_PASSWORD)
    assert client.get("/").status_code == 200


# --- Sessions end ---------------------------------------------------------------------------


def age_session(client, *, idle=timedelta(0), since_login=timedelta(0)):
    """Move the session's clock back instead of sleeping."""
    session = client.session
    session[SEEN_AT] -= int(idle.total_seconds())
    session[LOGIN_AT] -= int(since_login.total_seconds())
    session.save()


def test_a_session_idle_past_the_limit_ends_and_the_login_page_says_why(client, kim):
    client.force_login(kim)
    age_session(client, idle=timedelta(minutes=31), since_login=timedelta(minutes=31))

    response = client.get("/namespaces/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/namespaces/"
    login_page = client.get(response["Location"]).content.decode()
    assert "Your session expired after 30 minutes without activity" in login_page
    assert client.get("/namespaces/").status_code == 302  # logged out, not only redirected


def test_activity_within_the_idle_limit_keeps_the_session_and_restarts_the_idle_clock(client, kim):
    client.force_login(kim)
    age_session(client, idle=timedelta(minutes=29), since_login=timedelta(minutes=29))

    assert client.get("/").status_code == 200
    assert time.time() - client.session[SEEN_AT] < 60


def test_a_busy_session_still_ends_at_its_absolute_lifetime(client, kim):
    client.force_login(kim)
    age_session(client, since_login=timedelta(hours=12, minutes=1))

    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "a login lasts at most 12 hours" in client.get(response["Location"]).content.decode()


def test_session_limits_come_from_settings(client, kim, settings):
    settings.MESHUI_SESSION_IDLE_MINUTES = 5
    settings.MESHUI_SESSION_MAX_HOURS = 1
    client.force_login(kim)
    age_session(client, idle=timedelta(minutes=6), since_login=timedelta(minutes=6))
    assert client.get("/").status_code == 302

    client.force_login(kim)
    age_session(client, since_login=timedelta(minutes=61))
    assert client.get("/").status_code == 302


def test_an_expired_session_on_an_htmx_request_sends_the_whole_page_to_the_login(client, kim):
    client.force_login(kim)
    age_session(client, idle=timedelta(minutes=31))

    response = client.get(
        "/namespaces/?mode=STRICT",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="namespace-table",
        HTTP_HX_CURRENT_URL="http://testserver/namespaces/?mode=STRICT",
    )
    assert response["HX-Redirect"] == "/login/?next=/namespaces/%3Fmode%3DSTRICT"
    assert b"<table" not in response.content  # no login page swapped into the table


def test_a_fresh_login_through_the_form_starts_a_fresh_lifetime(client, kim):
    assert log_in(client, "kim", DEFAULT_PASSWORD).status_code == 302
    session = client.session
    assert abs(session[LOGIN_AT] - time.time()) < 60
    assert client.get("/").status_code == 200


# --- A one-time password must be changed ----------------------------------------------------


def test_a_one_time_password_from_createuser_must_be_replaced_before_any_page(client, db):
    output = StringIO()
    call_command("createuser", "kim", "--role", "auditor", stdout=output)
    one_time = re.search(r"One-time password: (\S+)", output.getvalue()).group(1)

    assert log_in(client, "kim", one_time).status_code == 302
    for url in ["/", "/namespaces/", "/findings/", "/audit/"]:
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, "/password/"), url
    htmx = client.get("/namespaces/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="namespace-table")
    assert htmx["HX-Redirect"] == "/password/"
    form = client.get("/password/")
    assert form.status_code == 200
    assert "You logged in with a one-time password" in form.content.decode()

    new_password = "kims-own-Passphrase-7"
    changed = client.post(
        "/password/",
        {"old_password": one_time, "new_password1": new_password, "new_password2": new_password},
    )
    assert (changed.status_code, changed["Location"]) == (302, "/password/done/")
    assert client.get("/").status_code == 200
    assert not PasswordChangeRequired.objects.filter(user__username="kim").exists()

    client.logout()
    assert log_in(client, "kim", new_password, address=COLLEAGUE).status_code == 302
    assert client.get("/").status_code == 200


def test_a_user_with_a_password_of_their_own_is_not_asked_to_change_it(client, kim):
    assert log_in(client, "kim", DEFAULT_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_the_demo_accounts_are_not_asked_to_change_their_printed_passwords(db):
    from policies.management.commands.serve import demo_logins

    assert len(demo_logins()) == 3
    assert not PasswordChangeRequired.objects.exists()


# --- Logged-in pages are never stored -------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/namespaces/", "/findings/", "/password/"])
def test_pages_for_a_logged_in_user_are_sent_no_store(client, kim, url):
    client.force_login(kim)
    response = client.get(url)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_static_files_keep_their_own_caching(client, kim):
    client.force_login(kim)
    response = client.get("/static/meshui/meshui.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# --- No start on the public secret key when served to others --------------------------------

# Settings the test run may carry that would change what these fresh processes decide.
DECIDING = ("MESHUI_SECRET_KEY", "MESHUI_ALLOWED_HOSTS", "MESHUI_HTTPS", "MESHUI_DEBUG")
A_REAL_KEY = "r8!Q" + "p" * 30 + "only-for-this-test-7#" + "w" * 20


def run_meshui(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {
        name: value
        for name, value in os.environ.items()
        if name not in DECIDING + ("MESHUI_TEST_DB_NAME", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "DATABASE_URL": "sqlite://:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "served_to_others",
    [{"MESHUI_ALLOWED_HOSTS": "meshui.example.com"}, {"MESHUI_HTTPS": "1"}],
    ids=["public-host-name", "https"],
)
def test_served_to_others_without_a_secret_key_manage_py_refuses_in_one_line(served_to_others):
    result = run_meshui(["manage.py", "check"], **served_to_others)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("meshui: ")
    assert "MESHUI_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_secret_key_the_wsgi_app_for_gunicorn_does_not_load():
    result = run_meshui(["-c", "import meshui.wsgi"], MESHUI_ALLOWED_HOSTS="meshui.example.com")
    assert result.returncode != 0
    assert "ImproperlyConfigured: " in result.stderr and "MESHUI_SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {},  # make run / manage.py serve: plain HTTP on this machine's loopback names only
        {"MESHUI_DEBUG": "1", "MESHUI_ALLOWED_HOSTS": "meshui.example.com"},
        {
            "MESHUI_SECRET_KEY": A_REAL_KEY,
            "MESHUI_ALLOWED_HOSTS": "meshui.example.com",
            "MESHUI_HTTPS": "1",
        },
    ],
    ids=["embedded-default", "debug", "real-key"],
)
def test_local_runs_debug_and_a_real_key_start(env):
    result = run_meshui(["manage.py", "check"], **env)
    assert result.returncode == 0, result.stderr
