"""How findings name policies and list names: one wording for every finding."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from policies.engine.inputs import (
    PeerAuthenticationInput,
)
from policies.engine.model import (
    Mode,
    WorkloadRef,
)

if TYPE_CHECKING:
    pass


LISTED = 5


def policy_ref(policy: PeerAuthenticationInput) -> str:
    return f"{policy.namespace}/{policy.name}"


def listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    if len(names) > LISTED:
        shown += f" and {len(names) - LISTED} more"
    return shown


def strict_part(policy: PeerAuthenticationInput) -> str:
    if policy.mode is Mode.STRICT:
        return ""
    ports = [str(port) for port, mode in sorted(policy.port_modes.items()) if mode is Mode.STRICT]
    return f"port{'s' if len(ports) > 1 else ''} {', '.join(ports)} of "


def listed_set(names: set[str]) -> str:
    """listed of a set, sorted, without sorting all of a large one."""
    first = heapq.nsmallest(LISTED, names)
    shown = ", ".join(first)
    if len(names) > LISTED:
        shown += f" and {len(names) - LISTED} more"
    return shown


def listed_refs(refs: list[WorkloadRef]) -> str:
    shown = ", ".join(str(ref) for ref in refs[:LISTED])
    if len(refs) > LISTED:
        shown += f" and {len(refs) - LISTED} more"
    return shown
