"""The one formula escape of every CSV meshui writes (exports, `posture --format csv`).

Here, apart from policies/exports.py, because the offline `posture` check runs without the
app registry and must not import the models to write a cell.
"""

from __future__ import annotations

# A spreadsheet treats a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """A CSV cell that no spreadsheet will evaluate: text starting like a formula gets a '."""
    if type(value) is str:  # the common case first: this runs for every cell of every row
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text
