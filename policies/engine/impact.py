"""What a change would do: the difference between the posture before and after it.

Pure like the rest of the engine: the caller evaluates the current objects and the same
objects with the change applied (`objects_with_applied`, `objects_with_deleted`) and hands
both postures to `posture_impact`. Without traffic data meshui never claims to know who
calls whom: when a workload becomes STRICT it lists the workloads in the mesh without a
sidecar (nor ambient) as the ones that *may* call it in plaintext and would then be refused;
with traffic data the preview names the real callers instead (`warnings_with`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from policies.engine.model import Finding, Mode, Posture, WorkloadPosture, WorkloadRef

# How many potential plaintext callers a preview names before it only counts them.
PLAINTEXT_CALLERS_SHOWN = 25


class ModeChange(NamedTuple):
    """One namespace, workload or workload port whose effective mode moves.

    A named tuple rather than a frozen dataclass: a mesh-wide preview makes one per workload
    (150,000 on a large mesh), and a tuple is built several times faster.
    """

    kind: str  # "Namespace", the workload's kind, or "Port"
    namespace: str
    name: str
    port: int | None
    before: Mode | None  # None: it did not exist (a port the new policy names)
    after: Mode | None  # None: it no longer exists as its own entry
    has_sidecar: bool
    ambient: bool

    @property
    def becomes_strict(self) -> bool:
        return self.after == Mode.STRICT and self.before != Mode.STRICT

    @property
    def leaves_strict(self) -> bool:
        return self.before == Mode.STRICT and self.after not in (Mode.STRICT, None)

    @property
    def label(self) -> str:
        base = self.namespace if self.kind == "Namespace" else f"{self.namespace}/{self.name}"
        return f"{base} port {self.port}" if self.port is not None else base


@dataclass(frozen=True, slots=True)
class Impact:
    """Everything the preview shows about a change before anyone confirms it."""

    mesh_before: Mode
    mesh_after: Mode
    namespace_changes: tuple[ModeChange, ...]
    workload_changes: tuple[ModeChange, ...]
    port_changes: tuple[ModeChange, ...]
    # Becoming STRICT while they cannot speak mTLS themselves (no sidecar, not ambient).
    strict_without_sidecar: tuple[ModeChange, ...]
    # Workloads without sidecar or ambient that may call something becoming STRICT.
    plaintext_callers: tuple[WorkloadRef, ...]
    plaintext_callers_total: int
    destination_rule_conflicts: tuple[Finding, ...]  # DestinationRule findings that appear
    findings_appearing: tuple[Finding, ...]
    findings_disappearing: tuple[Finding, ...]

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.mesh_before != self.mesh_after
            or self.namespace_changes
            or self.workload_changes
            or self.port_changes
            or self.findings_appearing
            or self.findings_disappearing
        )

    @property
    def becomes_strict(self) -> tuple[ModeChange, ...]:
        return tuple(
            change
            for change in (*self.workload_changes, *self.port_changes)
            if change.becomes_strict
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        """The risks in one sentence each, worst first, for the top of the preview."""
        return self.warnings_with(callers_sentence=None)

    def warnings_with(self, *, callers_sentence: str | None) -> tuple[str, ...]:
        """The same, with `callers_sentence` (what traffic says about who would be refused)
        in place of the guess about sidecar-less workloads, when traffic data is at hand."""
        lines = []
        if self.strict_without_sidecar:
            names = ", ".join(change.label for change in self.strict_without_sidecar[:5])
            lines.append(
                f"{_count(len(self.strict_without_sidecar), 'workload')} "
                f"{'becomes' if len(self.strict_without_sidecar) == 1 else 'become'} STRICT "
                f"without a sidecar or ambient mode ({names}): Istio will not enforce mTLS there."
            )
        if callers_sentence is not None:
            if callers_sentence:
                lines.append(callers_sentence)
        elif self.becomes_strict and self.plaintext_callers_total:
            lines.append(
                f"{_count(self.plaintext_callers_total, 'workload')} in the mesh without a "
                "sidecar may call what becomes STRICT; their plaintext requests would be refused."
            )
        if self.destination_rule_conflicts:
            lines.append(
                f"{_count(len(self.destination_rule_conflicts), 'DestinationRule conflict')} "
                "would appear."
            )
        return tuple(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _object_key(obj: dict) -> tuple[str, str, str]:
    metadata = obj.get("metadata") or {}
    return obj.get("kind", ""), metadata.get("namespace", "") or "", metadata.get("name", "")


def objects_with_applied(objects: Iterable[dict], manifest: dict) -> list[dict]:
    """`objects` with `manifest` applied: an existing object of that kind and name replaced.

    The replaced object's creationTimestamp and uid are kept (precedence among policies of a
    level depends on creation time, and an apply does not recreate the object).
    """
    key = _object_key(manifest)
    result = []
    replaced = False
    for obj in objects:
        if _object_key(obj) == key:
            merged = dict(manifest)
            metadata = dict(manifest.get("metadata") or {})
            old_metadata = obj.get("metadata") or {}
            for field in ("creationTimestamp", "uid", "labels", "annotations"):
                if field in old_metadata and field not in metadata:
                    metadata[field] = old_metadata[field]
            merged["metadata"] = metadata
            result.append(merged)
            replaced = True
        else:
            result.append(obj)
    if not replaced:
        result.append(manifest)
    return result


def objects_with_deleted(
    objects: Iterable[dict], kind: str, namespace: str, name: str
) -> list[dict]:
    """`objects` without the named object (absent already: unchanged)."""
    return [obj for obj in objects if _object_key(obj) != (kind, namespace, name)]


# Keys are joined strings, not tuples: strings are not tracked by the garbage collector, so
# diffing 150,000 workloads does not set off full collections over the whole heap.
def _finding_key(finding: Finding) -> str:
    return "\0".join((finding.code, finding.namespace, finding.name, finding.kind, finding.message))


def _workload_key(workload: WorkloadPosture) -> str:
    return "\0".join((workload.namespace, workload.name, workload.kind))


def _workload_ports(workload: WorkloadPosture) -> dict[int, Mode]:
    return {port.port: port.mode for port in workload.ports}


def _workload_pairs(before: tuple[WorkloadPosture, ...], after: tuple[WorkloadPosture, ...]):
    """(before, after) for each workload in both postures.

    A policy change adds or removes no workload, and both tuples are sorted the same way,
    so the pairs are usually position by position; any difference in the lists falls back
    to matching by namespace, name and kind.
    """
    if len(before) == len(after) and all(
        old.name == new.name and old.namespace == new.namespace and old.kind == new.kind
        for old, new in zip(before, after, strict=True)
    ):
        return zip(before, after, strict=True)
    workloads_before = {_workload_key(w): w for w in before}
    return (
        (workloads_before[_workload_key(w)], w)
        for w in after
        if _workload_key(w) in workloads_before
    )


def posture_impact(
    before: Posture,
    after: Posture,
    *,
    outside_plaintext_workloads: Iterable[WorkloadRef] = (),
    outside_plaintext_total: int = 0,
) -> Impact:
    """What moves between two postures of the same mesh.

    A caller that evaluated only the namespaces a change can touch passes the mesh's other
    workloads without sidecar as `outside_plaintext_workloads` (the first few) and
    `outside_plaintext_total` (how many), so the list of potential callers stays mesh-wide.
    """
    namespaces_before = {ns.name: ns for ns in before.namespaces}
    namespace_changes = tuple(
        ModeChange(
            "Namespace",
            ns.name,
            ns.name,
            None,
            namespaces_before[ns.name].mode,
            ns.mode,
            False,
            ns.ambient,
        )
        for ns in after.namespaces
        if ns.name in namespaces_before and namespaces_before[ns.name].mode != ns.mode
    )

    workload_changes: list[ModeChange] = []
    port_changes: list[ModeChange] = []
    for old, workload in _workload_pairs(before.workloads, after.workloads):
        if old.mode != workload.mode:
            workload_changes.append(
                ModeChange(
                    workload.kind,
                    workload.namespace,
                    workload.name,
                    None,
                    old.mode,
                    workload.mode,
                    workload.has_sidecar,
                    workload.ambient,
                )
            )
        if not old.ports and not workload.ports:
            continue
        ports_before, ports_after = _workload_ports(old), _workload_ports(workload)
        for port in sorted(set(ports_before) | set(ports_after)):
            # A port no policy names follows its workload's mode.
            mode_before = ports_before.get(port, old.mode)
            mode_after = ports_after.get(port, workload.mode)
            if mode_before == mode_after:
                continue
            follows_workload = (port not in ports_before and mode_after == workload.mode) or (
                port not in ports_after and mode_before == old.mode
            )
            if follows_workload and old.mode != workload.mode:
                continue  # the workload's own change already says it
            port_changes.append(
                ModeChange(
                    "Port",
                    workload.namespace,
                    workload.name,
                    port,
                    mode_before,
                    mode_after,
                    workload.has_sidecar,
                    workload.ambient,
                )
            )

    strict_without_sidecar = tuple(
        change
        for change in (*workload_changes, *port_changes)
        if change.becomes_strict and not change.has_sidecar and not change.ambient
    )
    newly_strict = {
        (c.namespace, c.name) for c in (*workload_changes, *port_changes) if c.becomes_strict
    }
    callers: list[WorkloadRef] = []
    callers_total = 0
    if newly_strict:
        for w in after.workloads:
            if w.has_sidecar or w.ambient or (w.namespace, w.name) in newly_strict:
                continue
            callers_total += 1
            if len(callers) < PLAINTEXT_CALLERS_SHOWN:
                callers.append(WorkloadRef(w.namespace, w.name, w.kind))
        for ref in outside_plaintext_workloads:
            if len(callers) >= PLAINTEXT_CALLERS_SHOWN:
                break
            callers.append(ref)
        callers_total += outside_plaintext_total

    findings_before = {_finding_key(f): f for f in before.findings}
    findings_after = {_finding_key(f): f for f in after.findings}
    appearing = tuple(f for key, f in findings_after.items() if key not in findings_before)
    disappearing = tuple(f for key, f in findings_before.items() if key not in findings_after)
    conflicts = tuple(
        f for f in appearing if f.kind == "DestinationRule" or "DESTINATION_RULE" in f.code
    )

    return Impact(
        mesh_before=before.mesh.mode,
        mesh_after=after.mesh.mode,
        namespace_changes=namespace_changes,
        workload_changes=tuple(workload_changes),
        port_changes=tuple(port_changes),
        strict_without_sidecar=strict_without_sidecar,
        plaintext_callers=tuple(callers),
        plaintext_callers_total=callers_total,
        destination_rule_conflicts=conflicts,
        findings_appearing=appearing,
        findings_disappearing=disappearing,
    )
