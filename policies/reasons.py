"""The reason every change carries: one rule for every role and every way into a write.

An auditor reads the reason later, often long after the people involved have moved on, so it
is required for toggles, policy changes and deletes, timed restores, retries, rollbacks and
exemption revocations and renewals alike, with the same limits. Forms check it to say so
early; the services check it again, so no hand-made request gets a change in without one.
"""

# A reason says why in a sentence or two and names a ticket; the audit log keeps it whole.
REASON_MAX_LENGTH = 1000
REASON_REQUIRED = "Say why (an incident, a ticket): the audit log keeps it for whoever asks later."
REASON_TOO_LONG = (
    "Keep the reason to %(limit_value)d characters (this one has %(show_value)d); "
    "link a ticket for the details."
)


def reason_problem(reason: str) -> str:
    """'' when `reason` may stand as a change's reason, else what is wrong with it."""
    text = (reason or "").strip()
    if not text:
        return REASON_REQUIRED
    if len(text) > REASON_MAX_LENGTH:
        return REASON_TOO_LONG % {"limit_value": REASON_MAX_LENGTH, "show_value": len(text)}
    return ""
