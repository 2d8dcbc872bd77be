"""Security headers, and `check --deploy` clean under production settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "MESHUI_HTTPS": "1",
    "MESHUI_DEBUG": "0",
    "MESHUI_SECRET_KEY": "x9!" + "k" * 30 + "production-only-secret-Q7#v2" + "z" * 20,
    "MESHUI_ALLOWED_HOSTS": "meshui.example.com",
    "MESHUI_MANIFEST_STATIC": "0",
    "DATABASE_URL": "sqlite://:memory:",
}


def run_with_env(code: str, extra_env: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "meshui.settings", **extra_env}
    env.pop("MESHUI_TEST_DB_NAME", None)
    # The browser tests set this for Playwright; `check --deploy` warns about it (async safety).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.django_db
def test_every_page_sends_a_content_security_policy_of_self_only(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_pages_carry_no_inline_script_or_style(client):
    from tests.factories import snapshot_with, user_with_role

    snapshot_with(namespaces=["shop"], workloads=[{"namespace": "shop", "name": "cart"}])
    client.force_login(user_with_role("admin"))
    for url in ["/", "/namespaces/", "/namespaces/shop/", "/findings/", "/policies/"]:
        page = client.get(url).content.decode()
        assert " style=" not in page and "<style" not in page, url
        for script in page.split("<script")[1:]:
            assert script.split(">", 1)[0].strip().startswith("src="), url
        assert " on" + "click=" not in page


def test_check_deploy_is_clean_under_production_settings():
    result = run_with_env(
        "import django, sys\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('check', '--deploy', '--fail-level', 'WARNING')\n",
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_https_mode_sends_hsts_and_secure_cookies():
    result = run_with_env(
        "import django, json\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "from django.test.utils import setup_test_environment\n"
        "setup_test_environment()\n"
        "r = Client().get('/login/', secure=True, HTTP_HOST='meshui.example.com')\n"
        "insecure = Client().get('/login/', HTTP_HOST='meshui.example.com')\n"
        "from django.conf import settings\n"
        "print(json.dumps({'hsts': r.get('Strict-Transport-Security', ''),\n"
        "  'session_secure': settings.SESSION_COOKIE_SECURE,\n"
        "  'csrf_secure': bool(r.cookies['csrftoken']['secure']),\n"
        "  'redirect': insecure.status_code, 'location': insecure.get('Location', '')}))\n",
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["hsts"].startswith("max-age=31536000")
    assert "includeSubDomains" in seen["hsts"]
    assert seen["csrf_secure"] is True
    assert seen["session_secure"] is True
    assert seen["redirect"] == 301 and seen["location"].startswith("https://")


@pytest.mark.django_db
def test_plain_http_development_mode_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/healthz")
