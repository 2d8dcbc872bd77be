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

    def handle(self, *args, username: str, role: str, email: str, **options):
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
        password = secrets.token_urlsafe(15)
        with transaction.atomic():
            user = user_model.objects.create_user(username, email=email, password=password)
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
            password_change_require(user=user)
        self.stdout.write(f'Created "{username}" with the role {role}.')
        self.stdout.write(f"One-time password: {password}")
        self.stdout.write(
            "It is shown only this once. Hand it over safely; the user should change it "
            "after logging in, and meshui asks for a new one before showing any page."
        )
