"""What an effective mode means for traffic, and who enforces it: the words "Why this mode?"
shows beside the reason chain.

Istio enforces a PeerAuthentication mode in the proxy that receives the connection: the
workload's sidecar, or in ambient mode the node's ztunnel (which has no plaintext-only mode
and treats DISABLE as PERMISSIVE). A workload with neither receives connections directly, so
nothing enforces any mode for it.
"""

from __future__ import annotations

from enum import StrEnum

from policies.engine.model import Mode


class Enforcer(StrEnum):
    """Who applies a workload's mode to the connections it receives."""

    SIDECAR = "sidecar"
    ZTUNNEL = "ztunnel"
    NOBODY = "nobody"


MODE_MEANING = {
    Mode.STRICT: "STRICT: only mutual TLS is accepted; plaintext connections are refused.",
    Mode.PERMISSIVE: (
        "PERMISSIVE: mutual TLS and plaintext are both accepted, so nothing is enforced."
    ),
    Mode.DISABLE: "DISABLE: mutual TLS is off; the workload accepts plaintext only.",
}


def mode_meaning(mode: str) -> str:
    """One sentence on what an effective mode does to inbound traffic ('' for anything else)."""
    try:
        return MODE_MEANING.get(Mode(mode), "")
    except ValueError:
        return ""


def enforcer_of(*, has_sidecar: bool, ambient: bool) -> Enforcer:
    """The proxy that enforces a workload's mode: its sidecar, ztunnel, or none at all."""
    if has_sidecar:
        return Enforcer.SIDECAR
    if ambient:
        return Enforcer.ZTUNNEL
    return Enforcer.NOBODY


def enforcement_words(mode: str, enforcer: Enforcer) -> str:
    """One sentence on who enforces `mode` for one workload, and what that changes."""
    if enforcer is Enforcer.SIDECAR:
        return "Its Istio sidecar enforces this on every connection the workload receives."
    if enforcer is Enforcer.ZTUNNEL:
        if mode == Mode.DISABLE:
            return (
                "ztunnel (ambient mode) enforces its mode, but it treats DISABLE as "
                "PERMISSIVE: it accepts mutual TLS and plaintext."
            )
        return "ztunnel (ambient mode) enforces this on every connection the workload receives."
    if mode == Mode.STRICT:
        return (
            "Nobody enforces it: without a sidecar or ambient mode the workload receives "
            "connections directly and accepts plaintext despite STRICT."
        )
    return "Nobody enforces it: without a sidecar or ambient mode the workload takes what arrives."


def namespace_enforcement_words(*, total: int, sidecar: int, ztunnel: int) -> str:
    """Who enforces a namespace's mode: each of its workloads' own proxy, counted."""
    if total == 0:
        return "No workload runs here yet; each one's sidecar or ztunnel will enforce it."
    nobody = total - sidecar - ztunnel
    parts = []
    if sidecar:
        parts.append(f"its sidecar for {sidecar} of {total} workload{'s' if total != 1 else ''}")
    if ztunnel:
        parts.append(f"ztunnel for {ztunnel} in ambient mode")
    enforced = f"Each workload's own proxy enforces it: {' and '.join(parts)}." if parts else ""
    if nobody:
        nobody_words = (
            f"Nobody enforces it for the {nobody} without a sidecar or ambient mode: "
            "they accept whatever arrives."
            if parts
            else "Nobody enforces it: no workload here has a sidecar or ambient mode, so "
            "they accept whatever arrives."
        )
        return f"{enforced} {nobody_words}".strip()
    return enforced
