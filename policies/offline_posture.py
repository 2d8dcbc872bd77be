"""`manage.py posture --manifests`'s work, without Django: read, evaluate, print.

The offline check is a GitOps pre-merge step that runs on every change, so it should cost
what its work costs: manage.py runs it from here before Django is imported (Django's
settings machinery and command framework are a tenth of a second of its start), and the
`posture` command (policies/management/commands/posture.py) runs the same functions, for
call_command, --kubeconfig and everything manage.py leaves to Django: help, Django's own
options, and usage errors, which Django's parser words.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

import orjson

from policies.engine import Posture, Severity, evaluate, posture_as_json
from policies.engine.serialize import workloads_as_json_in_chunks
from policies.gc_pause import gc_paused
from policies.manifests import ManifestError, read_manifests
from policies.spreadsheet import spreadsheet_safe

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
DEFAULT_ROOT_NAMESPACE = "istio-system"


class PostureRefusal(Exception):
    """Bad input, or findings at the --fail-on severity: the message for stderr and the exit
    code. The command raises it again as Django's CommandError, which says it the same way."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def add_posture_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options (Django's parser adds its own to these)."""
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


def manifest_objects(path: str, *, max_file_bytes: int) -> list[dict[str, Any]]:
    """The objects of the manifests at `path`; unreadable input is a PostureRefusal."""
    try:
        return read_manifests(path, max_file_bytes=max_file_bytes)
    except ManifestError as error:
        raise PostureRefusal(str(error), EXIT_BAD_INPUT) from None


def posture_print(
    objects: list[dict[str, Any]],
    *,
    root_namespace: str,
    output_format: str,
    write: Callable[[bytes | str], None],
    keep: list[Any] | None = None,
) -> list[Any]:
    """Evaluate `objects`, `write` the posture in `output_format` (bytes for json, in pieces;
    text that ends its last line for table and csv), and return its findings for --fail-on.

    Call it with the collector paused (gc_paused): evaluating and writing build millions of
    acyclic objects. With `keep`, the posture is appended to it and, with everything built
    so far, frozen out of the collector's sight, for a process that exits without freeing
    anything: the collector's first pass after the pause would otherwise walk them all (half
    a second on a 30,000-workload mesh) for nothing. Without it, the posture is freed here,
    while the collector is still paused, for the same reason.
    """
    posture = evaluate(objects, root_namespace=root_namespace)
    if output_format == "json":
        posture_json_write(posture, write)
    elif output_format == "csv":
        write(posture_as_csv(posture))
    else:
        table = posture_as_table(posture)
        # Ended as Django's OutputWrapper ends what a command writes.
        write(table if table.endswith("\n") else table + "\n")
    findings = posture.findings
    if keep is not None:
        keep.append(posture)
        gc.freeze()
    return findings


def root_namespace_choice(option: str | None, suggested: str | None, configured: str) -> str:
    """--root-namespace, else the source's (a cluster's istiod), else MESHUI_ROOT_NAMESPACE,
    else Istio's default."""
    return option or suggested or configured or DEFAULT_ROOT_NAMESPACE


# What the process holds until it ends: freeing a big posture object by object only delays
# the exit (manage.py ends the process without tearing it down, as mypy's `hard_exit` does).
_KEPT_UNTIL_EXIT: list[Any] = []


class _NotForTheOfflinePath(Exception):
    """The arguments need Django's command: it parses them again and answers in its words."""


class _OfflineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotForTheOfflinePath(message)


def offline_posture_run(
    argv: list[str], settings: ModuleType, say_refusal: Callable[[str], None]
) -> int | None:
    """Run `manage.py posture --manifests PATH [...]` (argv as given) and return its exit
    code, or None when the arguments are not for this path: no --manifests, a cluster
    (--kubeconfig, --context), help, Django's own options, anything misspelled or
    abbreviated. `settings` is the settings module, imported (and its refusals said) by
    manage.py; its MESHUI_MANIFEST_MAX_BYTES and MESHUI_ROOT_NAMESPACE apply.

    Output and exit codes are the command's; a refusal goes to `say_refusal` as the line
    Django's command writes for a CommandError (`CommandError: ...`).
    """
    parser = _OfflineParser(prog="manage.py posture", add_help=False, allow_abbrev=False)
    add_posture_arguments(parser)
    try:
        options = parser.parse_args(argv[2:])
    except _NotForTheOfflinePath:
        return None
    if not options.manifests or options.kubeconfig or options.context:
        return None
    try:
        with gc_paused():
            objects = manifest_objects(
                options.manifests, max_file_bytes=settings.MESHUI_MANIFEST_MAX_BYTES
            )
            _KEPT_UNTIL_EXIT.append(objects)
            findings = posture_print(
                objects,
                root_namespace=root_namespace_choice(
                    options.root_namespace, None, getattr(settings, "MESHUI_ROOT_NAMESPACE", "")
                ),
                output_format=options.format,
                write=_stdout_write,
                keep=_KEPT_UNTIL_EXIT,
            )
        fail_on(options.fail_on, findings)
    except PostureRefusal as refusal:
        say_refusal(f"CommandError: {refusal}")
        return refusal.returncode
    return 0


def write_to(stream, output: bytes | str) -> None:
    """Write posture_print's output to a text stream: text as text, encoded output straight
    to the stream's bytes (no decode of a 60 MB document), decoded only for a stream that has
    no bytes under it (a StringIO, as call_command(stdout=...) gives in tests)."""
    if isinstance(output, str):
        stream.write(output)
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(output.decode())
        return
    stream.flush()
    buffer.write(output)
    buffer.flush()


def _stdout_write(output: bytes | str) -> None:
    write_to(sys.stdout, output)


def fail_on(severity: str | None, findings) -> None:
    """Refuse with exit code 1 when a finding of `severity` or worse exists (--fail-on)."""
    if not severity:
        return
    threshold = Severity(severity).rank
    failing = [f for f in findings if f.severity.rank >= threshold]
    if failing:
        raise PostureRefusal(f"{len(failing)} finding(s) at or above {severity}", EXIT_FINDINGS)


def finding_as_json(finding) -> dict:
    return {
        "code": finding.code,
        "severity": str(finding.severity),
        "namespace": finding.namespace,
        "name": finding.name,
        "kind": finding.kind,
        "message": finding.message,
    }


# `posture --format json`'s layout: indented by two, as `json.dumps(indent=2)` writes it;
# non-string keys (a YAML label key `1:`) become strings, as `json` makes them.
JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
# Workloads converted and written at a time: enough for orjson to run long, few enough that
# each chunk reuses the memory of the one before (on a 30,000-workload mesh the whole list is
# 40 MB of dicts and 50 MB of text, every page of which the kernel would map anew).
WORKLOADS_PER_CHUNK = 500
# Where the workloads are: the list is the value of a key of the document (level 1), so
# orjson writes a chunk at the right depth as the list of a one-key object, between these.
_CHUNK_START = b'{\n  "workloads": ['
_CHUNK_END = b"\n  ]\n}"


def posture_json(posture: Posture) -> bytes:
    """`posture --format json`: the engine's document, indented by two, UTF-8, newline-ended."""
    pieces: list[bytes] = []
    posture_json_write(posture, pieces.append)
    return b"".join(pieces)


def posture_json_write(posture: Posture, write: Callable[[bytes], None]) -> None:
    """posture_json's text, handed to `write` a megabyte or more at a time (a smaller
    document in one piece, as a reader that stops early, `| head`, has always seen it).

    orjson writes it about ten times faster than `json.dumps(indent=2)` with the same
    layout. The workloads, most of the document, are converted and written
    WORKLOADS_PER_CHUNK at a time, into the place the rest of the document leaves for them;
    a reason many workloads share is converted and written once, and copied as text.
    """
    rest = orjson.dumps(
        posture_as_json(posture, shared=True, workloads=_WORKLOADS_GO_HERE),
        option=JSON_OPTIONS | orjson.OPT_APPEND_NEWLINE,
    )
    place = rest.index(b"\x00")
    pending: list[bytes | memoryview] = [memoryview(rest)[:place]]
    size = place
    if not posture.workloads:
        pending.append(b"[]")
    else:
        separator = b"["
        chunks = workloads_as_json_in_chunks(
            posture.workloads, WORKLOADS_PER_CHUNK, encode_reason=_indented_json
        )
        for chunk in chunks:
            text = orjson.dumps({"workloads": chunk}, option=JSON_OPTIONS)
            pending += (separator, memoryview(text)[len(_CHUNK_START) : -len(_CHUNK_END)])
            size += len(text)
            separator = b","
            if size >= _WRITE_AT_LEAST:
                write(b"".join(pending))
                pending, size = [], 0
        pending.append(b"\n  ]")
    pending.append(memoryview(rest)[place + 1 :])
    write(b"".join(pending))


_WRITE_AT_LEAST = 1 << 20


def _indented_json(value: Any, depth: int) -> orjson.Fragment:
    """`value`'s text as it reads `depth` levels deep in the indented document, for orjson to
    copy as is wherever it appears: its lines after the first start 2 * depth spaces further
    in (a newline in a string is written as the escape \\n: every newline byte is layout)."""
    text = orjson.dumps(value, option=JSON_OPTIONS)
    return orjson.Fragment(text.replace(b"\n", b"\n" + b"  " * depth))


# Marks the workloads' place in the rest of the document: orjson escapes a control byte in
# any string, so this byte cannot appear in its text otherwise.
_WORKLOADS_GO_HERE = orjson.Fragment(b"\x00")


def _ports_text(ports) -> str:
    return " ".join(f"{port.port}={port.mode}" for port in ports)


def table_lines(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A table's lines, each column as wide as its widest cell, trailing spaces cut."""
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
    lines += table_lines(
        ["NAME", "MODE", "SOURCE", "POLICY"],
        [[n.name, str(n.mode), str(n.source), str(n.policy or "-")] for n in posture.namespaces],
    )
    lines += ["", "WORKLOADS"]
    if posture.workloads:
        lines += table_lines(
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
