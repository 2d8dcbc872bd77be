"""The Istio objects meshui changes, by name, and the modes the on-call toggle offers.

Plain values that forms, template tags and services share, so each is defined once and a
form need not import the service that uses it.
"""

from policies.engine import DEFAULT_ROOT_NAMESPACE

PEER_AUTHENTICATION = "PeerAuthentication"
DESTINATION_RULE = "DestinationRule"
DEFAULT_API_VERSIONS = {
    PEER_AUTHENTICATION: "security.istio.io/v1",
    DESTINATION_RULE: "networking.istio.io/v1",
}
RESOURCE_NAMES = {
    PEER_AUTHENTICATION: "peerauthentications.security.istio.io",
    DESTINATION_RULE: "destinationrules.networking.istio.io",
}
# The on-call toggle's two modes (DISABLE and UNSET are admin decisions, made per policy).
TOGGLE_MODES = ("STRICT", "PERMISSIVE")
# TimedRestore.restore_mode when the namespace had no namespace-wide policy before: the
# restore removes the one meshui created.
ABSENT = "ABSENT"

__all__ = [
    "ABSENT",
    "DEFAULT_API_VERSIONS",
    "DEFAULT_ROOT_NAMESPACE",
    "DESTINATION_RULE",
    "PEER_AUTHENTICATION",
    "RESOURCE_NAMES",
    "TOGGLE_MODES",
]
