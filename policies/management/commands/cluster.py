"""`manage.py cluster add|list|check|remove`: the clusters of the fleet.

    manage.py cluster add west --kubeconfig /etc/meshui/clusters/west.yaml [--context west]
    manage.py cluster add east --token-file /var/run/secrets/east/token \\
        --server https://10.0.0.1:6443 [--ca-file /var/run/secrets/east/ca.crt]
    manage.py cluster add east --remote-secret istio-remote-secret-east [--secret-namespace
        istio-system] [--secret-key east]
    manage.py cluster list
    manage.py cluster check west
    manage.py cluster remove west        (its history stays)

Bad input exits with code 2 and changes nothing; a cluster that does not answer is
registered with the reason shown (exit 0), since a network path may still be opening.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from policies.cluster_sources import SOURCE_KUBECONFIG, SOURCE_REMOTE_SECRET, SOURCE_TOKEN
from policies.models import Cluster
from policies.selectors.fleet import cluster_connection, fleet_members
from policies.selectors.fleet_overview import fleet_overview
from policies.services.fleet import (
    ClusterRegistrationInvalid,
    ClusterSpec,
    cluster_check,
    cluster_register,
    cluster_remove,
)

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Register, list, check or remove the clusters of the fleet."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="register a cluster")
        add.add_argument("name")
        source = add.add_mutually_exclusive_group(required=True)
        source.add_argument("--kubeconfig", help="a kubeconfig file meshui's pods can read")
        source.add_argument("--token-file", help="a mounted service-account token")
        source.add_argument("--remote-secret", help="an Istio remote secret's name")
        add.add_argument("--context", default="", help="the kubeconfig's context")
        add.add_argument("--server", default="", help="the API server's URL (with --token-file)")
        add.add_argument("--ca-file", default="", help="the API server's CA (with --token-file)")
        add.add_argument("--secret-namespace", default="istio-system")
        add.add_argument("--secret-key", default="", help="data key; default: the name")
        add.add_argument("--sync-interval", type=int, default=None, help="seconds")
        actions.add_parser("list", help="every cluster with its connection state")
        check = actions.add_parser("check", help="connect to a cluster now")
        check.add_argument("name")
        remove = actions.add_parser("remove", help="take a cluster out (history stays)")
        remove.add_argument("name")

    def handle(self, *args, action: str, **options):
        try:
            {"add": self.add, "list": self.list, "check": self.check, "remove": self.remove}[
                action
            ](**options)
        except ClusterRegistrationInvalid as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from error

    def add(self, *, name, kubeconfig, token_file, remote_secret, sync_interval, **options):
        if sync_interval is not None and sync_interval < 10:
            raise CommandError("--sync-interval is at least 10 seconds.", returncode=USAGE_ERROR)
        if kubeconfig:
            spec = ClusterSpec(
                name=name,
                source=SOURCE_KUBECONFIG,
                kubeconfig=kubeconfig,
                context=options["context"],
                sync_interval=sync_interval,
            )
        elif token_file:
            spec = ClusterSpec(
                name=name,
                source=SOURCE_TOKEN,
                token_file=token_file,
                server=options["server"],
                ca_file=options["ca_file"],
                sync_interval=sync_interval,
            )
        else:
            spec = ClusterSpec(
                name=name,
                source=SOURCE_REMOTE_SECRET,
                secret_name=remote_secret,
                secret_namespace=options["secret_namespace"],
                secret_key=options["secret_key"],
                sync_interval=sync_interval,
            )
        registered = cluster_register(user=None, spec=spec)
        self._report(registered)

    def _report(self, registered: Cluster) -> None:
        where = cluster_connection(registered).where
        if registered.check_error:
            self.stdout.write(
                f"registered {registered.name} ({where}), but it does not answer: "
                f"{registered.check_error}"
            )
        else:
            self.stdout.write(
                f"registered {registered.name} ({where}): Kubernetes {registered.check_version}"
            )

    def list(self, **_options):
        rows = fleet_overview(members=fleet_members()).rows
        if not rows:
            self.stdout.write("no clusters")
        for row in rows:
            self.stdout.write(f"{row.name}\t{row.where}\t{row.state}\t{row.state_detail}".rstrip())

    def check(self, *, name, **_options):
        registered = Cluster.objects.registered().filter(name=name).first()
        if registered is None:
            raise CommandError(f"No registered cluster is named {name}.", returncode=USAGE_ERROR)
        checked = cluster_check(registered=registered)
        if checked.check_error:
            raise CommandError(f"{name}: {checked.check_error}", returncode=1)
        self.stdout.write(f"{name}: Kubernetes {checked.check_version}")

    def remove(self, *, name, **_options):
        cluster_remove(user=None, name=name)
        self.stdout.write(f"removed {name}; its snapshots and audit entries stay")
