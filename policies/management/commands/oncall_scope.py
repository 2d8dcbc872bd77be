"""`manage.py oncall_scope add|list|remove`: which namespaces a group's on-call may switch.

    manage.py oncall_scope add --group payments-oncall --namespaces 'payments-*' \\
        --labels team=payments
    manage.py oncall_scope list
    manage.py oncall_scope remove --id 3        (or --group payments-oncall: all of its scopes)

A group is a meshui (Django) group or an identity provider group from the role claim. Bad
input exits with code 2 and changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from policies.selectors.oncall_scopes import oncall_scope_list, system_namespaces
from policies.services.oncall_scopes import (
    OnCallScopeInvalid,
    oncall_scope_create,
    oncall_scope_delete,
)

USAGE_ERROR = 2


def labels_parsed(values: list[str]) -> dict[str, str]:
    """`team=payments,tier=web` (repeatable) as one matchLabels-style selector."""
    labels: dict[str, str] = {}
    for value in values:
        for pair in filter(None, (part.strip() for part in value.split(","))):
            key, equals, label_value = pair.partition("=")
            if not equals or not key.strip():
                raise CommandError(
                    f'--labels takes key=value pairs, not "{pair}".', returncode=USAGE_ERROR
                )
            labels[key.strip()] = label_value.strip()
    return labels


class Command(BaseCommand):
    help = (
        "Add, list or remove on-call scopes: the namespaces (by name pattern or namespace "
        "label) the on-call of one group may switch. Admins are never limited."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="let a group's on-call switch these namespaces")
        add.add_argument("--group", required=True, help="Django group or IdP group name")
        add.add_argument(
            "--namespaces",
            action="append",
            default=[],
            help="a namespace name or glob (payments-*); repeatable",
        )
        add.add_argument(
            "--labels",
            action="append",
            default=[],
            help="namespace labels, all required: team=payments[,tier=web]",
        )
        add.add_argument(
            "--clusters",
            action="append",
            default=[],
            help="clusters of the fleet it holds in, names or globs (default: every one)",
        )
        add.add_argument(
            "--include-system",
            action="store_true",
            help="let the patterns and labels match system namespaces too",
        )
        actions.add_parser("list", help="show every scope")
        remove = actions.add_parser("remove", help="remove a scope by id, or a group's scopes")
        remove.add_argument("--id", type=int, dest="scope_id")
        remove.add_argument("--group")

    def handle(self, *args, action: str, **options):
        try:
            {"add": self.add, "list": self.list, "remove": self.remove}[action](**options)
        except OnCallScopeInvalid as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from error

    def add(self, *, group, namespaces, labels, include_system, clusters, **_options):
        scope = oncall_scope_create(
            group=group,
            namespace_patterns=[
                pattern.strip()
                for value in namespaces
                for pattern in value.split(",")
                if pattern.strip()
            ],
            namespace_labels=labels_parsed(labels),
            include_system=include_system,
            created_by="manage.py oncall_scope",
            clusters=[name for value in clusters for name in value.split(",")],
        )
        self.stdout.write(
            f"Added on-call scope #{scope.pk} for group {scope.group}. On-call users whose "
            "groups no scope names may now switch no namespace (admins are not limited)."
        )

    def list(self, **_options):
        scopes = oncall_scope_list()
        if not scopes:
            self.stdout.write(
                "No on-call scopes: on-call may switch every namespace except the system ones "
                f"({', '.join(system_namespaces())})."
            )
            return
        for row, rule in scopes:
            self.stdout.write(f"#{row.pk}\t{row.group}\t{rule.words}")

    def remove(self, *, scope_id, group, **_options):
        removed = oncall_scope_delete(scope_id=scope_id, group=group)
        self.stdout.write(f"Removed {removed} on-call scope{'s' if removed != 1 else ''}.")
