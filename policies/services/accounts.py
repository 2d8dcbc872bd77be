"""Login accounts: holding and lifting the "choose your own password first" requirement."""

from policies.models import PasswordChangeRequired


def password_change_require(*, user) -> None:
    """From the next login on, the user must change their password before anything else."""
    PasswordChangeRequired.objects.get_or_create(user=user)


def password_change_required_clear(*, user) -> None:
    """The user's password is their own now (or needs no change): lift the requirement."""
    PasswordChangeRequired.objects.filter(user=user).delete()
