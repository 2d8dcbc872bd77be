"""The engine's values: modes, levels, reasons and the computed posture (docs/contracts.md §1).

Everything here is a frozen dataclass or a StrEnum so that a posture can be shared between
threads, cached and compared without defensive copies.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

_Value = TypeVar("_Value")


def slot_init(cls: type[_Value]) -> type[_Value]:
    """Give a frozen slots dataclass an __init__ that writes each slot through its descriptor.

    The __init__ dataclasses writes for a frozen class calls object.__setattr__ per field,
    which looks the field up by name on every call; the slot descriptor's own __set__ stores
    the same value at about 60% of the cost. The engine builds hundreds of thousands of these
    values on a large mesh, so this counts. The signature (names, order, defaults) and the
    values stored are the dataclass's own; the class stays frozen (its __setattr__ refuses).
    """
    names = [item.name for item in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {}
    parameters = []
    for item in fields(cls):  # type: ignore[arg-type]
        if item.default_factory is not MISSING or not item.init:
            raise TypeError(f"slot_init does not handle {cls.__name__}.{item.name}")
        if item.default is MISSING:
            parameters.append(item.name)
        else:
            scope[f"_default_{item.name}"] = item.default
            parameters.append(f"{item.name}=_default_{item.name}")
        scope[f"_set_{item.name}"] = cls.__dict__[item.name].__set__
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names)
    exec(f"def __init__(self, {', '.join(parameters)}):\n{body}", scope)  # noqa: S102
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls


class Mode(StrEnum):
    """A PeerAuthentication mTLS mode. Effective modes are never UNSET."""

    STRICT = "STRICT"
    PERMISSIVE = "PERMISSIVE"
    DISABLE = "DISABLE"
    UNSET = "UNSET"


class Level(StrEnum):
    """Where an effective mode came from; `default` is Istio's built-in PERMISSIVE."""

    MESH = "mesh"
    NAMESPACE = "namespace"
    WORKLOAD = "workload"
    PORT = "port"
    DEFAULT = "default"


class Outcome(StrEnum):
    """What one level of a reason chain contributed to the result."""

    DECIDED = "decided"
    INHERITED = "inherited"
    ABSENT = "absent"
    OVERRIDDEN = "overridden"


class Severity(StrEnum):
    """How urgent a finding is; compare with `rank` (error 3, warning 2, info 1)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """3 for error, 2 for warning, 1 for info, so `max(..., key=rank)` picks the worst."""
        return SEVERITY_RANK[self]


# Worst first when sorted descending; stored beside each finding so the database sorts too.
SEVERITY_RANK = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


class PolicyScope(StrEnum):
    """Where a policy applies: a PeerAuthentication's level, or a DestinationRule's host."""

    MESH = "mesh"
    NAMESPACE = "namespace"
    WORKLOAD = "workload"
    IGNORED = "ignored"  # a selector in the root namespace: Istio applies it nowhere
    DESTINATION = "destination"


class PolicyStatus(StrEnum):
    """Whether a policy counts: it decides, another one at its level wins, or nothing sees it."""

    EFFECTIVE = "effective"
    SHADOWED = "shadowed"
    IGNORED = "ignored"


@slot_init
@dataclass(frozen=True, slots=True)
class PolicyRef:
    """Names a policy; `str(ref)` is the `namespace/name` form used in JSON and pages."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@slot_init
@dataclass(frozen=True, slots=True)
class PolicyStamp:
    """A policy as it appears in a reason chain: who, which declared mode, created when."""

    namespace: str
    name: str
    mode: Mode
    created: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a chain's `winner`."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "mode": str(self.mode),
            "created": self.created,
        }


@slot_init
@dataclass(frozen=True, slots=True)
class Loser:
    """A policy that competed at a level and lost to the winner, and why."""

    namespace: str
    name: str
    mode: Mode
    created: str
    lost_because: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of one entry of a chain's `losers`."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "mode": str(self.mode),
            "created": self.created,
            "lost_because": self.lost_because,
        }


@slot_init
@dataclass(frozen=True, slots=True)
class LevelStep:
    """One level of a reason chain (mesh, namespace, workload or port)."""

    level: Level
    mode: Mode | None
    outcome: Outcome
    winner: PolicyStamp | None
    losers: tuple[Loser, ...]
    note: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of one chain entry (docs/contracts.md §1)."""
        return {
            "level": str(self.level),
            "mode": None if self.mode is None else str(self.mode),
            "outcome": str(self.outcome),
            "winner": None if self.winner is None else self.winner.as_dict(),
            "losers": [loser.as_dict() for loser in self.losers],
            "note": self.note,
        }


@slot_init
@dataclass(frozen=True, slots=True)
class Reason:
    """Why a namespace, workload or port has its mode: the decider and the whole chain."""

    mode: Mode
    level: Level
    policy: PolicyRef | None
    chain: tuple[LevelStep, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON stored in snapshots and printed under `"reason"`."""
        return {
            "mode": str(self.mode),
            "level": str(self.level),
            "policy": None if self.policy is None else str(self.policy),
            "chain": [step.as_dict() for step in self.chain],
        }


@slot_init
@dataclass(frozen=True, slots=True)
class MeshPosture:
    """The mesh-wide mode and the root-namespace policy behind it (None: built-in default)."""

    mode: Mode
    policy: PolicyRef | None
    reason: Reason


@slot_init
@dataclass(frozen=True, slots=True)
class NamespacePosture:
    """What a workload in this namespace gets when no workload policy selects it."""

    name: str
    mode: Mode
    policy: PolicyRef | None
    source: Level
    reason: Reason
    labels: dict[str, str]
    is_root: bool
    injection: str
    ambient: bool


@slot_init
@dataclass(frozen=True, slots=True)
class PortPosture:
    """A port named by the winning workload policy; UNSET ports take the workload's mode."""

    port: int
    mode: Mode
    declared: Mode
    reason: Reason


@slot_init
@dataclass(frozen=True, slots=True)
class WorkloadPosture:
    """One real workload (owned objects folded into their top controller) and its mode."""

    namespace: str
    name: str
    kind: str
    mode: Mode
    policy: PolicyRef | None
    source: Level
    reason: Reason
    ports: tuple[PortPosture, ...]
    labels: dict[str, str]
    container_ports: tuple[int, ...]
    has_sidecar: bool
    ambient: bool
    # On the node's network: no sidecar nor ztunnel captures its traffic, whatever it runs.
    host_network: bool = False


@slot_init
@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """Names a workload; `str(ref)` is `namespace/name`."""

    namespace: str
    name: str
    kind: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    def as_dict(self) -> dict[str, str]:
        """The JSON shape of one entry of a finding's `affects`."""
        return {"namespace": self.namespace, "name": self.name, "kind": self.kind}


@slot_init
@dataclass(frozen=True, slots=True)
class Finding:
    """Something Istio silently ignores or that will break, in words a person can act on.

    `affects` names the workloads it breaks when the finding is about another object (a
    DestinationRule, possibly in another namespace), so their pages can show it too.
    """

    code: str
    severity: Severity
    namespace: str
    name: str
    kind: str
    message: str
    affects: tuple[WorkloadRef, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed under `"findings"`."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "namespace": self.namespace,
            "name": self.name,
            "kind": self.kind,
            "message": self.message,
            "affects": [ref.as_dict() for ref in self.affects],
        }


@slot_init
@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """Every PeerAuthentication and DestinationRule with its scope and whether it counts."""

    kind: str
    namespace: str
    name: str
    api_version: str
    scope: PolicyScope
    mode: str
    selector: dict[str, str]
    port_modes: dict[int, Mode]
    host: str
    created: str
    resource_version: str
    uid: str
    status: PolicyStatus
    status_reason: str
    manifest: dict[str, Any] = field(repr=False, compare=False)


@slot_init
@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a Service: its number and the container port it targets."""

    name: str
    port: int
    target_port: int | str
    protocol: str


@slot_init
@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A Service: the workloads it selects are the ones a DestinationRule host reaches."""

    namespace: str
    name: str
    selector: dict[str, str]
    ports: tuple[ServicePort, ...]


@slot_init
@dataclass(frozen=True, slots=True)
class Posture:
    """The whole result of one evaluation; every tuple is sorted by namespace, then name."""

    root_namespace: str
    mesh: MeshPosture
    namespaces: tuple[NamespacePosture, ...]
    workloads: tuple[WorkloadPosture, ...]
    findings: tuple[Finding, ...]
    policies: tuple[PolicyVerdict, ...]
    services: tuple[ServiceInfo, ...]
    object_counts: dict[str, int]
