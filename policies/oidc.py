"""Login through an OpenID Connect provider, with the meshui role taken from a claim.

Enabled by MESHUI_OIDC_ENABLED (settings then install mozilla-django-oidc and this
backend). The claim named by MESHUI_OIDC_ROLE_CLAIM (default "groups", a string or a
list) is mapped through MESHUI_OIDC_ROLE_MAP ("mesh-admins=admin,sre=oncall") to a role.
Only mapped values count, so an IdP group that happens to be called "admin" grants
nothing unless the map says so. The role is re-read at every login: removing someone
from the IdP group removes the role. A user without a mapped role can log in and is
told they have no role (403), which is easier to debug than a failed login.

The claim's values are also kept (replaced at every login) as the user's identity provider
groups: an on-call scope naming one of them applies to the user as if it named a Django group
they belong to (policies.selectors.oncall_scopes), with no local group to create.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from policies.roles import ROLE_ORDER, Role
from policies.services.accounts import identity_provider_groups_record


def claim_values(claims: dict) -> list[str]:
    """The role claim's values (a string or a list in the token) as a list of strings."""
    raw = claims.get(settings.MESHUI_OIDC_ROLE_CLAIM)
    return [str(value) for value in ([raw] if isinstance(raw, str) else list(raw or []))]


def role_from_claims(claims: dict) -> Role | None:
    """The strongest role the claim maps to, or None."""
    mapped = set()
    for value in claim_values(claims):
        role_name = settings.MESHUI_OIDC_ROLE_MAP.get(value)
        if role_name in {role.value for role in Role}:
            mapped.add(Role(role_name))
    return next((role for role in ROLE_ORDER if role in mapped), None)


def user_role_groups_set(user, role: Role | None) -> None:
    """Make the user's role groups exactly `role` (other groups are left alone)."""
    role_groups = Group.objects.filter(name__in=[role.value for role in Role])
    user.groups.remove(*[group for group in role_groups if role is None or group.name != role])
    if role is not None:
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    user.__dict__.pop("_meshui_groups", None)


class RoleMappingOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, keeping the user's role in step with the IdP claim."""

    def create_user(self, claims):
        user = super().create_user(claims)
        user_role_groups_set(user, role_from_claims(claims))
        identity_provider_groups_record(user=user, names=claim_values(claims))
        return user

    def update_user(self, user, claims):
        user = super().update_user(user, claims)
        user_role_groups_set(user, role_from_claims(claims))
        identity_provider_groups_record(user=user, names=claim_values(claims))
        return user


def oidc_urlpatterns():
    """mozilla-django-oidc's views, reachable before login (LoginRequiredMiddleware)."""
    from django.urls import path
    from mozilla_django_oidc import views
    from mozilla_django_oidc.urls import OIDCAuthenticateClass, OIDCCallbackClass

    return [
        path(
            "callback/",
            login_not_required(OIDCCallbackClass.as_view()),
            name="oidc_authentication_callback",
        ),
        path(
            "authenticate/",
            login_not_required(OIDCAuthenticateClass.as_view()),
            name="oidc_authentication_init",
        ),
        path("logout/", views.OIDCLogoutView.as_view(), name="oidc_logout"),
    ]
