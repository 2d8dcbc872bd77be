"""`manage.py cluster_limit set|list|remove`: the clusters one user may see and change.

    manage.py cluster_limit set --user erin --clusters 'prod-eu-*' --clusters staging
    manage.py cluster_limit list
    manage.py cluster_limit remove --user erin        (every cluster again)

Holds for every role: an admin or auditor limited to clusters sees and changes only those.
Every change is audited. Bad input exits with code 2 and changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from policies.selectors.cluster_limits import cluster_limit_list
from policies.services.cluster_limits import (
    ClusterLimitInvalid,
    cluster_limit_clear,
    cluster_limit_set,
    cluster_names_matching,
)

USAGE_ERROR = 2


class Command(BaseCommand):
    help = (
        "Set, list or lift the cluster limit of a user: the clusters of the fleet they may see "
        "and change, whatever their role. No limit: every cluster."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        limit = actions.add_parser("set", help="limit a user to these clusters")
        limit.add_argument("--user", required=True, dest="username")
        limit.add_argument(
            "--clusters",
            action="append",
            default=[],
            required=True,
            help="cluster names or globs (prod-eu-*); repeatable or comma-separated",
        )
        actions.add_parser("list", help="show every limit")
        remove = actions.add_parser("remove", help="lift a user's limit")
        remove.add_argument("--user", required=True, dest="username")

    def handle(self, *args, action: str, **options):
        try:
            {"set": self.set, "list": self.list, "remove": self.remove}[action](**options)
        except ClusterLimitInvalid as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from error

    def set(self, *, username, clusters, **_options):
        patterns = [name for value in clusters for name in value.split(",")]
        limit = cluster_limit_set(
            username=username, clusters=patterns, set_by="manage.py cluster_limit"
        )
        matching = cluster_names_matching(limit.clusters)
        self.stdout.write(
            f"{username} now sees and changes only the clusters {', '.join(limit.clusters)} "
            f"(today: {', '.join(matching) or 'none of the fleet'})."
        )

    def list(self, **_options):
        limits = cluster_limit_list()
        if not limits:
            self.stdout.write("No cluster limits: every user sees every cluster.")
            return
        for username, limit in limits:
            self.stdout.write(f"{username}\t{limit.words}")

    def remove(self, *, username, **_options):
        cluster_limit_clear(username=username, set_by="manage.py cluster_limit")
        self.stdout.write(f"{username} sees every cluster again.")
