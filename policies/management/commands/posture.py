"""`manage.py posture`: the mesh's mTLS posture from manifests, without database or cluster.

Exit codes: 0 ok; 1 when --fail-on finds a finding at or above that severity; 2 for bad
input (unreadable path, invalid YAML, unusable options), always as a message, never a
traceback. Works as a GitOps pre-merge check: it never touches the database or the broker.
"""

from __future__ import annotations

import csv
import gc
import io
import json
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.core.management.base import CommandError

from policies.engine import Posture, Severity, evaluate, posture_as_json
from policies.engine.fleet import cluster_posture, fleet_findings
from policies.gc_pause import gc_paused
from policies.management.base import MeshuiCommand
from policies.manifests import ManifestError, read_manifests
from policies.spreadsheet import spreadsheet_safe

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


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
        try:
            return ObjectSource(
                read_manifests(
                    options["manifests"], max_file_bytes=settings.MESHUI_MANIFEST_MAX_BYTES
                )
            )
        except ManifestError as error:
            raise CommandError(str(error), returncode=EXIT_BAD_INPUT) from None
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
    # Set by manage.py's offline path, which exits without tearing the process down.
    keep_results = False

    def add_arguments(self, parser):
        parser.add_argument("--manifests", metavar="PATH", help="a manifest file or directory")
        parser.add_argument(
            "--kubeconfig", metavar="PATH", help="read a live cluster instead of manifests"
        )
        parser.add_argument(
            "--context",
            metavar="NAME",
            action="append",
            help="kubeconfig context to use; repeat it to report a fleet: each cluster, and "
            "where they disagree (namespace sameness)",
        )
        parser.add_argument(
            "--root-namespace",
            metavar="NAME",
            help="Istio's root namespace (default: MESHUI_ROOT_NAMESPACE, else istio-system)",
        )
        parser.add_argument("--format", choices=("json", "table", "csv"), default="table")
        parser.add_argument(
            "--fail-on",
            choices=(Severity.ERROR, Severity.WARNING),
            help="exit 1 when a finding of this severity or worse exists",
        )

    def write_bytes(self, data: bytes) -> None:
        """Write encoded output straight to the stream's bytes, without a 60 MB decode."""
        stream = self.stdout._out
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # a text stream (call_command(stdout=StringIO()) in tests)
            stream.write(data.decode())
            return
        stream.flush()
        buffer.write(data)
        buffer.flush()

    def handle(self, *args, **options):
        contexts = list(dict.fromkeys(options["context"] or []))
        if len(contexts) > 1:
            return self.handle_fleet(contexts, **options)
        # Reading, evaluating and writing build millions of acyclic objects: the collector
        # would rescan them all for nothing (gc_pause.py).
        with gc_paused():
            source = read_object_source(options)
            root_namespace = (
                options["root_namespace"]
                or source.root_namespace
                or getattr(settings, "MESHUI_ROOT_NAMESPACE", "")
                or "istio-system"
            )
            posture = evaluate(source.objects, root_namespace=root_namespace)
            output_format = options["format"]
            if output_format == "json":
                self.write_bytes(posture_json(posture))
            elif output_format == "csv":
                self.stdout.write(posture_as_csv(posture), ending="")
            else:
                self.stdout.write(posture_as_table(posture))
            findings = posture.findings
            if self.keep_results:
                # The process ends right after without freeing anything (manage.py). Frozen,
                # the kept objects are out of the collector's sight: its first pass after the
                # pause would otherwise walk them all (half a second) for nothing.
                self.kept_results = (source, posture)
                gc.freeze()
            # Freed while the collector is still paused: once it runs again, its first pass
            # would walk every object built in the pause (half a second on a 30,000-workload
            # mesh) only to find them all still referenced here.
            del source, posture
        fail_on(options["fail_on"], findings)

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
                "\n".join(_table(["severity", "code", "namespace", "message"], rows))
                if rows
                else "The clusters agree."
            )
        fail_on(
            options["fail_on"],
            [f for posture in postures.values() for f in posture.findings] + list(across),
        )


def fail_on(severity: str | None, findings) -> None:
    """Exit 1 when a finding of `severity` or worse exists (--fail-on)."""
    if not severity:
        return
    threshold = Severity(severity).rank
    failing = [f for f in findings if f.severity.rank >= threshold]
    if failing:
        raise CommandError(
            f"{len(failing)} finding(s) at or above {severity}", returncode=EXIT_FINDINGS
        )


def finding_as_json(finding) -> dict:
    return {
        "code": finding.code,
        "severity": str(finding.severity),
        "namespace": finding.namespace,
        "name": finding.name,
        "kind": finding.kind,
        "message": finding.message,
    }


def posture_json(posture: Posture) -> bytes:
    """`posture --format json`: the engine's document, indented by two, UTF-8, newline-ended.

    orjson writes it about ten times faster than `json.dumps(indent=2)` with the same
    layout; reasons shared by many workloads are converted once (`shared=True`).
    Non-string keys (a YAML label key `1:`) become strings, as `json` makes them.
    """
    return orjson.dumps(
        posture_as_json(posture, shared=True),
        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE,
    )


def _ports_text(ports) -> str:
    return " ".join(f"{port.port}={port.mode}" for port in ports)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return lines


def posture_as_table(posture: Posture) -> str:
    """The posture for people: the mesh line, then namespaces, workloads and findings."""
    mesh = posture.mesh
    lines = [
        f"Mesh ({posture.root_namespace}): {mesh.mode}  ({mesh.policy or 'built-in default'})",
        "",
        "NAMESPACES",
    ]
    lines += _table(
        ["NAME", "MODE", "SOURCE", "POLICY"],
        [[n.name, str(n.mode), str(n.source), str(n.policy or "-")] for n in posture.namespaces],
    )
    lines += ["", "WORKLOADS"]
    if posture.workloads:
        lines += _table(
            ["NAMESPACE", "NAME", "KIND", "MODE", "SOURCE", "POLICY", "PORTS", "SIDECAR"],
            [
                [
                    w.namespace,
                    w.name,
                    w.kind,
                    str(w.mode),
                    str(w.source),
                    str(w.policy or "-"),
                    _ports_text(w.ports) or "-",
                    "ambient" if w.ambient else ("yes" if w.has_sidecar else "no"),
                ]
                for w in posture.workloads
            ],
        )
    else:
        lines.append("(none)")
    lines += ["", "FINDINGS"]
    if posture.findings:
        for finding in posture.findings:
            target = "/".join(part for part in (finding.namespace, finding.name) if part)
            lines.append(f"[{finding.severity}] {finding.code} {finding.kind} {target}")
            lines.append(f"    {finding.message}")
    else:
        lines.append("(none)")
    return "\n".join(lines)


CSV_COLUMNS = [
    "record",
    "namespace",
    "name",
    "kind",
    "mode",
    "source",
    "policy",
    "ports",
    "has_sidecar",
    "ambient",
    "severity",
    "code",
    "message",
]


def _csv_rows(posture: Posture):
    mesh = posture.mesh
    blank = ("", "", "")
    yield ("mesh", posture.root_namespace, "", "", mesh.mode, mesh.reason.level, mesh.policy)
    yield from (
        ("namespace", n.name, n.name, "Namespace", n.mode, n.source, n.policy, "", "", n.ambient)
        + blank
        for n in posture.namespaces
    )
    yield from (
        ("workload", w.namespace, w.name, w.kind, w.mode, w.source, w.policy)
        + (_ports_text(w.ports), w.has_sidecar, w.ambient)
        + blank
        for w in posture.workloads
    )
    yield from (
        ("finding", f.namespace, f.name, f.kind, "", "", "", "", "", "")
        + (f.severity, f.code, f.message)
        for f in posture.findings
    )


def fleet_as_csv(postures: dict[str, Posture], across) -> str:
    """posture_as_csv's table for several clusters, with a `cluster` column at the end; the
    findings across clusters have the cluster "(fleet)"."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "cluster"])
    width = len(CSV_COLUMNS)
    for name, posture in postures.items():
        for row in _csv_rows(posture):
            cells = [spreadsheet_safe(value) for value in row]
            writer.writerow(cells + [""] * (width - len(cells)) + [spreadsheet_safe(name)])
    for finding in across:
        row = ("finding", finding.namespace, finding.name, finding.kind, "", "", "", "", "", "")
        cells = [spreadsheet_safe(value) for value in row]
        cells += [spreadsheet_safe(v) for v in (finding.severity, finding.code, finding.message)]
        writer.writerow(cells + [""] * (width - len(cells)) + ["(fleet)"])
    return buffer.getvalue()


def posture_as_csv(posture: Posture) -> str:
    """One table for spreadsheets: a `record` column says mesh, namespace, workload or finding.

    Names come from the cluster, so every cell goes through the project's one formula escape.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    width = len(CSV_COLUMNS)
    for row in _csv_rows(posture):
        cells = [spreadsheet_safe(value) for value in row]
        writer.writerow(cells + [""] * (width - len(cells)))
    return buffer.getvalue()
