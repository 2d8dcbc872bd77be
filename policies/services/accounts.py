"""Login accounts: holding and lifting the "choose your own password first" requirement, and
the identity provider groups a single sign-on user came with."""

from policies.models import IdentityProviderGroups, PasswordChangeRequired


def password_change_require(*, user) -> None:
    """From the next login on, the user must change their password before anything else."""
    PasswordChangeRequired.objects.get_or_create(user=user)


def password_change_required_clear(*, user) -> None:
    """The user's password is their own now (or needs no change): lift the requirement."""
    PasswordChangeRequired.objects.filter(user=user).delete()


def identity_provider_groups_record(*, user, names: list[str]) -> None:
    """The user's IdP groups as of this login, replacing the last login's (on-call scopes)."""
    IdentityProviderGroups.objects.update_or_create(
        user=user, defaults={"names": sorted(set(names))}
    )
