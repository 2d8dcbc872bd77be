"""The mode an audit entry moved its object from and to, read from what it recorded.

An entry keeps the object it sent and the object just before: the mode column of the audit
log and its exports is read from those, so it needs no field of its own and works for every
entry ever written. Standard library only (the exports and the selectors share it).
"""

from collections.abc import Mapping

# What the column says when there is no mode to speak of.
NO_POLICY = "none"  # the object did not exist before (or is gone after)
DELETED = "deleted"
# Outcomes whose entry read the live object first: a missing "before" means it did not exist.
BEFORE_READ = frozenset({"applied", "failed", "conflict", "partial", "unknown", "rolled_back"})


def _field(mapping, name: str) -> Mapping:
    """`mapping[name]` when both are objects, else an empty one (entries hold any JSON)."""
    value = mapping.get(name) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _mode_of(manifest) -> str:
    """A PeerAuthentication's `spec.mtls.mode` (UNSET when it names none), a
    DestinationRule's TLS mode; "" for anything else."""
    if not isinstance(manifest, Mapping):
        return ""
    spec = _field(manifest, "spec")
    if manifest.get("kind") == "PeerAuthentication":
        return str(_field(spec, "mtls").get("mode") or "UNSET")
    if manifest.get("kind") == "DestinationRule":
        return str(_field(_field(spec, "trafficPolicy"), "tls").get("mode") or "")
    return ""


def _first_object(sent):
    """The object that carries the mode: the PeerAuthentication of a pair, else the first."""
    if isinstance(sent, list):
        kinds = [item for item in sent if isinstance(item, Mapping)]
        return next((m for m in kinds if m.get("kind") == "PeerAuthentication"), None) or (
            kinds[0] if kinds else None
        )
    return sent


def mode_change(*, object_sent, object_before, outcome: str) -> tuple[str, str]:
    """(from, to) as the audit log shows them; "" where the entry does not say."""
    sent = _first_object(object_sent)
    if isinstance(sent, Mapping) and isinstance(sent.get("delete"), Mapping):
        to = DELETED
    else:
        to = _mode_of(sent)
    if isinstance(object_before, Mapping):
        before = _mode_of(object_before)
    elif outcome in BEFORE_READ and to:
        before = NO_POLICY
    else:
        before = ""
    if not to and object_sent is None and outcome in BEFORE_READ and before:
        # A rollback of an object that did not exist before: it was removed.
        to = DELETED
    return before, to
