"""The three roles, held as Django groups (created by a migration), and what each may do."""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ONCALL = "oncall"
    AUDITOR = "auditor"


# Strongest first: a user in several groups acts with the strongest role.
ROLE_ORDER = (Role.ADMIN, Role.ONCALL, Role.AUDITOR)


def user_role(user) -> Role | None:
    """The strongest role the user holds, or None (a logged-in user with no role sees nothing)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = group_names(user)
    for role in ROLE_ORDER:
        if role.value in names:
            return role
    return None


def group_names(user) -> set[str]:
    """The user's Django group names, read once per user object (that is, per request)."""
    names = getattr(user, "_meshui_groups", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._meshui_groups = names
    return names


def can_read(user) -> bool:
    return user_role(user) is not None


def can_toggle_namespace(user) -> bool:
    return user_role(user) in (Role.ADMIN, Role.ONCALL)


def can_sync(user) -> bool:
    return user_role(user) in (Role.ADMIN, Role.ONCALL)


def can_manage_policies(user) -> bool:
    return user_role(user) == Role.ADMIN


def can_force_conflicts(user) -> bool:
    return user_role(user) == Role.ADMIN


def can_manage_exemptions(user) -> bool:
    return user_role(user) == Role.ADMIN
