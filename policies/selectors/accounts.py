"""Login accounts: whether one must change its password before using meshui."""

from policies.models import PasswordChangeRequired


def password_change_is_required(*, user) -> bool:
    return PasswordChangeRequired.objects.filter(user=user).exists()
