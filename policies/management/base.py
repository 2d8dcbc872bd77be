"""The base of meshui's management commands: a database that cannot be reached is one line
on stderr and exit 2, never a traceback, and never an exit code that means something else
(`report` exits 1 for "no snapshot by that date", `posture` for findings)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

EXIT_UNAVAILABLE = 2
DATABASE_ERRORS = (OperationalError, InterfaceError)


class MeshuiCommand(BaseCommand):
    """A BaseCommand whose system checks, migration checks and handle() share that rule."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DATABASE_ERRORS as error:
            # psycopg adds a second line ("Is the server running...?"): one line is enough.
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise CommandError(
                f"The database is unreachable: {reason}", returncode=EXIT_UNAVAILABLE
            ) from error
