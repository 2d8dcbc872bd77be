"""`report --at DATE --format json|csv --output FILE`: the posture report for evidence files.

Exit codes: 0 written; 1 no snapshot had been taken by DATE; 2 bad arguments (date, table)
or an unreachable database.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import CommandError
from django.utils import timezone

from policies.exports import FORMATS, TABLES, export_scope, report_json_chunks, table_chunks
from policies.forms.reports import DEFAULT_PERIOD, MomentError, parse_moment
from policies.management.base import MeshuiCommand


class Command(MeshuiCommand):
    help = (
        "Write the posture report as it stood at a date (the snapshot in force then) as JSON "
        "(the whole report) or CSV (one table), for scheduled evidence collection."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            default="now",
            help="2026-11-01 (end of that day, UTC), 2026-11-01T14:30Z, or now (default).",
        )
        parser.add_argument(
            "--since",
            default="",
            help="Start of the audit-log period (default: 30 days before --at).",
        )
        parser.add_argument("--format", choices=FORMATS, default="json", dest="fmt")
        parser.add_argument(
            "--table",
            choices=TABLES,
            default=None,
            help="One table only. CSV holds one table: namespaces unless this says otherwise.",
        )
        parser.add_argument("--output", default="-", help="File to write; '-' is stdout.")

    def handle(self, *args, at: str, since: str, fmt: str, table: str | None, output: str, **opts):
        now = timezone.now()
        try:
            moment = parse_moment(at, now=now)
            period_start = parse_moment(since, now=now) if since else moment - DEFAULT_PERIOD
        except MomentError as error:
            raise CommandError(f"--at/--since: {error}", returncode=2) from error
        if period_start >= moment:
            raise CommandError("--since must be before --at.", returncode=2)
        scope = export_scope(at=moment, since=period_start)
        if scope is None:
            raise CommandError(
                f"No snapshot had been taken by {moment:%Y-%m-%d %H:%M} UTC: nothing to report.",
                returncode=1,
            )
        if fmt == "json" and table is None:
            chunks = report_json_chunks(scope, generated_at=now)
        else:
            chunks = table_chunks(table or "namespaces", fmt, scope)
        try:
            self.write(chunks, output)
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}", returncode=2) from error
        if output != "-":
            self.stderr.write(
                f"Wrote {fmt} ({table or ('report' if fmt == 'json' else 'namespaces')}) for the "
                f"snapshot of {scope.snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(cluster {scope.snapshot.cluster_name}) to {output}."
            )

    def write(self, chunks, output: str) -> None:
        if output == "-":
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        path = Path(output)
        partial = path.with_name(path.name + ".partial")
        # newline="" keeps CSV's \r\n as written; a partial file never poses as a finished one.
        with partial.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
        partial.replace(path)
