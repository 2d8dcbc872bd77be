"""Create a meshui login with one role and print a one-time password to hand over."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from policies.management.base import MeshuiCommand
from policies.roles import Role
from policies.services.accounts import password_change_require

# Exit code for bad input, like argparse's own usage errors.
USAGE_ERROR = 2


class Command(MeshuiCommand):
    help = (
        "Create a user with a role (admin, oncall or auditor) and print a random one-time "
        "password. meshui asks the user to change it at the first login."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help="admin, oncall or auditor")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            dest="groups",
            help="also put the user in this group, e.g. a team's for its on-call scope; repeatable",
        )

    def handle(self, *args, username: str, role: str, email: str, groups: list[str], **options):
        roles = [r.value for r in Role]
        if role not in roles:
            raise CommandError(
                f'Unknown role "{role}". Choose one of: {", ".join(roles)}.',
                returncode=USAGE_ERROR,
            )
        user_model = get_user_model()
        try:
            user_model.username_validator(username)
        except ValidationError as error:
            raise CommandError(
                f'"{username}" is not a valid username: {" ".join(error.messages)}',
                returncode=USAGE_ERROR,
            ) from error
        if user_model.objects.filter(username=username).exists():
            raise CommandError(
                f'A user named "{username}" already exists; nothing was changed.',
                returncode=USAGE_ERROR,
            )
        groups = [name.strip() for name in groups]
        if any(not name or len(name) > 150 or name in roles for name in groups):
            raise CommandError(
                "--group takes a group name of 1 to 150 characters other than a role's "
                "(the role comes from --role).",
                returncode=USAGE_ERROR,
            )
        password = secrets.token_urlsafe(15)
        with transaction.atomic():
            user = user_model.objects.create_user(username, email=email, password=password)
            for name in [role, *groups]:
                user.groups.add(Group.objects.get_or_create(name=name)[0])
            password_change_require(user=user)
        in_groups = f" in {', '.join(groups)}" if groups else ""
        self.stdout.write(f'Created "{username}" with the role {role}{in_groups}.')
        self.stdout.write(f"One-time password: {password}")
        self.stdout.write(
            "It is shown only this once. Hand it over safely; the user should change it "
            "after logging in, and meshui asks for a new one before showing any page."
        )
