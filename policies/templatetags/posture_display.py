"""Template helpers for showing posture: shares, sort headers, reason chains, YAML."""

import yaml
from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from policies.engine import CoverageRule
from policies.engine.meaning import enforcement_words, enforcer_of, mode_meaning
from policies.engine.readiness import Readiness
from policies.ownership import OwnerKind
from policies.selectors.audit import action_label, outcome_label
from policies.selectors.reports import reason_chain_text

register = template.Library()


@register.filter
def as_sentence(text: str) -> str:
    """`text` ended with a full stop, unless it already ends with one (the engine's reasons
    are sentences; a stored one cut at its column's length may not be)."""
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


OUTCOME_WORDS = {
    "decided": "decides the mode",
    "overridden": "overridden by a more specific level",
    "inherited": "UNSET: inherits from the level above",
    "absent": "no policy at this level",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
POLICY_KINDS = {"PeerAuthentication", "DestinationRule"}
SOURCE_WORDS = {
    "namespace": "namespace policy",
    "workload": "workload policy",
    "port": "port-level setting",
    "mesh": "inherited from the mesh policy",
    "default": "built-in default (no policy)",
}


@register.simple_tag
def percent(part, whole) -> str:
    """`part` as a whole-number share of `whole`, or an en dash when there is nothing to share."""
    if not whole:
        return "–"
    share = 100 * (part or 0) / whole
    # Never round a partial share up to 100 % or down to 0 %: those words mean "all" and "none".
    if 99 < share < 100:
        return "99%"
    if 0 < share < 1:
        return "<1%"
    return f"{round(share)}%"


@register.filter
def action_words(action: str) -> str:
    """An audit action as the audit page names it ("Exemption recorded")."""
    return action_label(action or "")


@register.filter
def mode_meaning_words(mode: str) -> str:
    """What an effective mode does to traffic, in one sentence."""
    return mode_meaning(mode or "")


@register.filter
def enforcement(workload) -> str:
    """Who enforces a workload's (or a port's) mode: its sidecar, ztunnel, or nobody."""
    enforcer = enforcer_of(has_sidecar=workload.has_sidecar, ambient=workload.ambient)
    return enforcement_words(workload.mode, enforcer)


@register.filter
def audit_outcome_words(entry) -> str:
    """An audit entry's outcome as the audit page names it ("Refused", "Restored")."""
    return outcome_label(entry.action, entry.outcome)


@register.filter(needs_autoescape=True)
def wrap_underscores(value, autoescape: bool = True) -> str:
    """Long codes (`WORKLOAD_POLICY_WITHOUT_DESTINATION_RULE`) may break after each
    underscore, on screen and in print, instead of mid-word or not at all."""
    parts = str(value).split("_")
    escape = conditional_escape if autoescape else str
    # Each part is escaped; the only markup added is meshui's own <wbr>.
    return mark_safe("_<wbr>".join(str(escape(part)) for part in parts))  # noqa: S308


@register.filter
def outcome_words(outcome: str) -> str:
    return OUTCOME_WORDS.get(outcome or "", outcome or "")


@register.filter
def source_words(source: str) -> str:
    return SOURCE_WORDS.get(source or "", source or "")


# A chain's `lost_because` values (docs/contracts.md §1), as a sentence about the loser.
LOST_BECAUSE_WORDS = {
    "newer": "it was created later, and the older creation time wins",
    "same creation time, name sorts later": (
        "it has the same creation time as the winner, and its name sorts later"
    ),
    "same creation time and name, namespace sorts later": (
        "it has the same creation time and name as the winner, and its namespace sorts later"
    ),
}


@register.filter
def lost_because_words(value: str) -> str:
    """Why a policy lost at its level, naming the tie-break that decided."""
    return LOST_BECAUSE_WORDS.get(value, value)


@register.filter
def coverage_words(rule: str) -> str:
    """A stored CoverageRule as a sentence ("" for rows from before it was recorded)."""
    try:
        return CoverageRule(rule).words
    except ValueError:
        return ""


@register.filter
def owner_kind_words(kind: str) -> str:
    """How the pages name who owns a policy: "a person's tool", "a reconciler", "meshui"."""
    try:
        return OwnerKind(kind).label
    except ValueError:
        return ""


@register.filter
def as_yaml(manifest) -> str:
    """The manifest as `kubectl get -o yaml` shows it (managedFields hidden, keys in order)."""
    if not manifest:
        return ""
    shown = dict(manifest)
    metadata = shown.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        shown["metadata"] = {k: v for k, v in metadata.items() if k != "managedFields"}
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, allow_unicode=True)


@register.filter
def labels_text(labels) -> list[str]:
    """`key=value` strings, sorted, for selectors and labels."""
    if not labels:
        return []
    return [f"{key}={value}" for key, value in sorted(dict(labels).items())]


@register.filter
def sorted_items(mapping):
    if not mapping:
        return []
    return sorted(dict(mapping).items(), key=lambda item: (len(str(item[0])), str(item[0])))


@register.inclusion_tag("policies/_sort_header.html", takes_context=True)
def sort_header(context, key: str, label: str, target: str, numeric: bool = False):
    """A column header that sorts by `key`; a second click reverses the order."""
    current = context.get("sort") or "name"
    active = current.removeprefix("-") == key
    descending = current.startswith("-")
    # Counts are most useful biggest-first; names and modes read A→Z first. Clicking the
    # active column again reverses it.
    next_sort = f"-{key}" if numeric else key
    if active:
        next_sort = key if descending else f"-{key}"
    request = context["request"]
    params = request.GET.copy()
    params["sort"] = next_sort
    params.pop("page", None)
    return {
        "label": label,
        "href": f"?{params.urlencode()}",
        "target": target,
        "aria_sort": ("descending" if descending else "ascending") if active else "none",
        "active": active,
        "descending": descending,
    }


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number: int, params=None) -> str:
    """The current query string (or `params`) with `param`, a page parameter, set to `number`."""
    params = (params or context["request"].GET).copy()
    params[param or "page"] = number
    return f"?{params.urlencode()}"


@register.filter
def finding_url(finding) -> str:
    """The page of the object a finding is about, or "" when it has none."""
    if not (finding.namespace and finding.name):
        return ""
    try:
        if finding.kind in WORKLOAD_KINDS:
            return reverse(
                "policies:workload-detail", args=[finding.namespace, finding.kind, finding.name]
            )
        if finding.kind in POLICY_KINDS:
            return reverse(
                "policies:policy-detail", args=[finding.kind, finding.namespace, finding.name]
            )
    except NoReverseMatch:  # a name no URL can carry: show it as text
        return ""
    return ""


@register.filter
def readiness_label(value: str) -> str:
    """A readiness value (`ready`, `not_ready`, ...) in words: "Ready for STRICT"."""
    try:
        return Readiness(value).label
    except ValueError:
        return "–"


@register.filter
def share(value) -> str:
    """A 0..1 share as a percentage that never rounds some to none or most to all."""
    if value is None:
        return "–"
    return percent(value * 1_000_000, 1_000_000)


@register.filter
def volume(value) -> str:
    """A counter's increase, whole (Prometheus extrapolates fractions)."""
    return f"{round(value or 0):,}"


@register.filter
def chain_line(reason: dict) -> str:
    """A reason chain on one line, as the exports write it (for the printed report)."""
    return reason_chain_text(reason or {})
