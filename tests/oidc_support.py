"""Single sign-on in tests: mozilla-django-oidc's settings pointing at a made-up provider."""

from __future__ import annotations


def oidc_configured(settings, role_map: dict[str, str]):
    """`settings` with a provider and the role claim "groups" mapped through `role_map`."""
    settings.MESHUI_OIDC_ROLE_CLAIM = "groups"
    settings.MESHUI_OIDC_ROLE_MAP = role_map
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example/jwks"
    settings.OIDC_RP_CLIENT_ID = "meshui"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    return settings
