"""Walk the audit log's hash chain and say whether it is intact, or where it breaks."""

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from policies.selectors.audit import audit_chain_check

BROKEN = 1
UNREACHABLE = 2


class Command(BaseCommand):
    help = (
        "Check that no audit entry was edited, removed or inserted since it was written. "
        'Prints "audit log intact: N entries" and the newest entry\'s hash (exit 0), or the '
        "first entry where the chain breaks (exit 1); exit 2 when the database is unreachable."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            default="",
            metavar="SHA256",
            help="An entry hash printed by an earlier run and kept outside meshui: the check "
            "fails unless that entry is still in the chain (so the end was not cut off).",
        )

    def handle(self, *args, anchor: str, **options):
        try:
            check = audit_chain_check(anchor=anchor.strip().lower())
        except (OperationalError, InterfaceError) as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CommandError(
                f"audit log not checked: the database is unreachable: {first_line}",
                returncode=UNREACHABLE,
            ) from error
        if check.problem:
            raise CommandError(check.problem, returncode=BROKEN)
        self.stdout.write(f"audit log intact: {check.entries} entries")
        if check.newest_id is not None:
            self.stdout.write(f"newest: entry #{check.newest_id}, sha256 {check.newest_hash}")
