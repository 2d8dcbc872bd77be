"""OpenID Connect logins: the role comes from a claim through MESHUI_OIDC_ROLE_MAP."""

import pytest
from django.contrib.auth.models import Group

from policies.oidc import RoleMappingOIDCBackend, role_from_claims
from policies.roles import user_role
from tests.oidc_support import oidc_configured


@pytest.fixture
def oidc_settings(settings):
    return oidc_configured(settings, {"mesh-admins": "admin", "sre": "oncall", "audit": "auditor"})


@pytest.mark.parametrize(
    ("claim", "role"),
    [
        (["audit"], "auditor"),
        (["audit", "sre"], "oncall"),  # the strongest mapped role wins
        ("mesh-admins", "admin"),  # a single string claim
        (["admin"], None),  # unmapped values grant nothing, even a role's own name
        (None, None),
    ],
)
def test_claim_values_map_to_the_strongest_role(oidc_settings, claim, role):
    assert role_from_claims({"groups": claim} if claim is not None else {}) == role


@pytest.mark.django_db
def test_new_oidc_user_gets_the_mapped_role(oidc_settings):
    user = RoleMappingOIDCBackend().create_user({"email": "kim@example.com", "groups": ["sre"]})
    assert user_role(user) == "oncall"


@pytest.mark.django_db
def test_each_login_resyncs_the_role_from_the_identity_provider(oidc_settings):
    backend = RoleMappingOIDCBackend()
    user = backend.create_user({"email": "kim@example.com", "groups": ["mesh-admins"]})
    user.groups.add(Group.objects.create(name="unrelated-team"))
    backend.update_user(user, {"email": "kim@example.com", "groups": ["audit"]})
    assert user_role(user) == "auditor"
    assert set(user.groups.values_list("name", flat=True)) == {"auditor", "unrelated-team"}
    backend.update_user(user, {"email": "kim@example.com", "groups": []})
    assert user_role(user) is None


def test_with_oidc_enabled_login_offers_single_sign_on_reachable_before_login():
    from tests.ui.test_security import run_with_env

    result = run_with_env(
        "import django, json\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "from django.test.utils import setup_test_environment\n"
        "setup_test_environment()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "login = Client().get('/login/')\n"
        "start = Client().get('/oidc/authenticate/')\n"
        "print(json.dumps({'login': login.content.decode(), 'status': start.status_code,\n"
        "  'location': start.get('Location', '')}))\n",
        {
            "DATABASE_URL": "sqlite://:memory:",
            "MESHUI_OIDC_ENABLED": "1",
            "OIDC_RP_CLIENT_ID": "meshui",
            "OIDC_RP_CLIENT_SECRET": "secret",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example/token",
            "OIDC_OP_USER_ENDPOINT": "https://idp.example/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": "https://idp.example/jwks",
        },
    )
    assert result.returncode == 0, result.stderr
    import json

    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert "Log in with single sign-on" in seen["login"]
    assert 'href="/oidc/authenticate/' in seen["login"]
    assert seen["status"] == 302
    assert seen["location"].startswith("https://idp.example/authorize?")
