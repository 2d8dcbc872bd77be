"""Logins and sessions (issue 10): guessing is throttled, sessions end, a one-time password is
replaced before anything else, logged-in pages stay out of caches, and meshui served to others
will not start on the public built-in secret key.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
