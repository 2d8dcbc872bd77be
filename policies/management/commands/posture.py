"""`manage.py posture`: the mesh's mTLS posture from manifests, without database or cluster.

Exit codes: 0 ok; 1 when --fail-on finds a finding at or above that severity; 2 for bad
input (unreadable path, invalid YAML, unusable options), always as a message, never a
traceback. Works as a GitOps pre-merge check: it never touches the database or the broker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from policies.engine import Posture, evaluate, posture_as_json
from policies.engine.fleet import cluster_posture, fleet_findings
from policies.gc_pause import gc_paused
from policies.management.base import MeshuiCommand
from policies.offline_posture import (
    EXIT_BAD_INPUT,
    PostureRefusal,
    add_posture_arguments,
    fail_on,
    finding_as_json,
    fleet_as_csv,
    manifest_objects,
    posture_as_table,
    posture_json,
    posture_print,
    root_namespace_choice,
    table_lines,
    write_to,
)

__all__ = ["Command", "posture_json"]


@dataclass(frozen=True)
class ObjectSource:
    """The objects to evaluate and the root namespace the source suggests (None: no opinion)."""

    objects: list[dict[str, Any]]
    root_namespace: str | None = None


def read_object_source(options: dict[str, Any]) -> ObjectSource:
    """Where the objects come from: manifests on disk, or (with --kubeconfig) a live cluster."""
    if options["manifests"] and options["kubeconfig"]:
        raise CommandError("give either --manifests or --kubeconfig, not both", returncode=2)
    if options["manifests"]:
        return ObjectSource(
            manifest_objects(
                options["manifests"], max_file_bytes=settings.MESHUI_MANIFEST_MAX_BYTES
            )
        )
    if options["kubeconfig"]:
        contexts = options["context"] or []
        return read_live_cluster(options["kubeconfig"], contexts[0] if contexts else None)
    raise CommandError(
        "say what to evaluate: --manifests PATH (a file or directory) or --kubeconfig PATH",
        returncode=EXIT_BAD_INPUT,
    )


def read_live_cluster(kubeconfig: str, context: str | None) -> ObjectSource:
    """Read the live cluster through the gateway (policies/cluster/).

    The gateway owns the client, timeouts and error words; this only adapts its result.
    It is imported here, not at the top: the kubernetes client costs a tenth of a second to
    import, which an offline check of manifests never needs.
    """
    from policies import cluster
    from policies.cluster.errors import ClusterError

    try:
        read = cluster.cluster_read_all(kubeconfig=kubeconfig, context=context)
    except ClusterError as error:
        raise CommandError(
            f"cannot read the cluster: {error.message}", returncode=EXIT_BAD_INPUT
        ) from None
    return ObjectSource(list(read.objects), read.root_namespace)


class Command(MeshuiCommand):
    help = (
        "Print the mesh's effective mTLS posture (mesh, namespaces, workloads, ports, "
        "findings) computed from Kubernetes manifests as Istio would. Touches no database "
        "or cluster."
    )
    # No system checks and no database: the command must work where the database is down.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        add_posture_arguments(parser)

    def write_output(self, output: bytes | str) -> None:
        write_to(self.stdout._out, output)

    def handle(self, *args, **options):
        try:
            self.handle_refusing(**options)
        except PostureRefusal as refusal:
            raise CommandError(str(refusal), returncode=refusal.returncode) from None

    def handle_refusing(self, **options) -> None:
        """handle(), saying bad input and failing findings as PostureRefusal."""
        contexts = list(dict.fromkeys(options["context"] or []))
        if len(contexts) > 1:
            return self.handle_fleet(contexts, **options)
        # Reading, evaluating and writing build millions of acyclic objects: the collector
        # would rescan them all for nothing (gc_pause.py).
        with gc_paused():
            source = read_object_source(options)
            findings = posture_print(
                source.objects,
                root_namespace=root_namespace_choice(
                    options["root_namespace"],
                    source.root_namespace,
                    getattr(settings, "MESHUI_ROOT_NAMESPACE", ""),
                ),
                output_format=options["format"],
                write=self.write_output,
            )
            # Freed while the collector is still paused: once it runs again, its first pass
            # would walk every object built in the pause only to find them still referenced.
            del source
        fail_on(options["fail_on"], findings)
        return None

    def handle_fleet(self, contexts: list[str], **options) -> None:
        """Several contexts of one kubeconfig: each cluster's posture, then the findings
        across them (policies.engine.fleet), in the chosen format."""
        if not options["kubeconfig"] or options["manifests"]:
            raise CommandError(
                "several --context values need --kubeconfig (and no --manifests)",
                returncode=EXIT_BAD_INPUT,
            )
        postures: dict[str, Posture] = {}
        for context in contexts:
            source = read_live_cluster(options["kubeconfig"], context)
            root = options["root_namespace"] or source.root_namespace or "istio-system"
            with gc_paused():
                postures[context] = evaluate(source.objects, root_namespace=root)
        across = fleet_findings(cluster_posture(name, p) for name, p in postures.items())
        output_format = options["format"]
        if output_format == "json":
            document = {
                "clusters": [
                    {"cluster": name, **posture_as_json(posture)}
                    for name, posture in postures.items()
                ],
                "fleet_findings": [finding_as_json(finding) for finding in across],
            }
            self.stdout.write(json.dumps(document, indent=2))
        elif output_format == "csv":
            self.stdout.write(fleet_as_csv(postures, across), ending="")
        else:
            for name, posture in postures.items():
                self.stdout.write(f"== Cluster {name} ==")
                self.stdout.write(posture_as_table(posture))
            self.stdout.write("== Across clusters ==")
            rows = [[f.severity, f.code, f.namespace or "(mesh)", f.message] for f in across]
            self.stdout.write(
                "\n".join(table_lines(["severity", "code", "namespace", "message"], rows))
                if rows
                else "The clusters agree."
            )
        fail_on(
            options["fail_on"],
            [f for posture in postures.values() for f in posture.findings] + list(across),
        )
