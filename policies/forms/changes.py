"""Forms for changing posture and for filtering the audit log.

The PeerAuthentication rules come from Istio's CRD (policies/forms/peer_authentication_schema):
a form builds the `spec` it would send and asks the CRD's own schema and CEL rules about it,
so what the form accepts is what the API server accepts. Forms never call the cluster.
"""

import re
from datetime import timedelta

from django import forms

from policies.cluster_sources import CLUSTER_PARAMETER
from policies.engine.inputs import port_number
from policies.forms import peer_authentication_schema as crd
from policies.forms.dates import CalendarDateField
from policies.kinds import TOGGLE_MODES
from policies.models import AuditAction
from policies.reasons import REASON_MAX_LENGTH, REASON_REQUIRED, REASON_TOO_LONG

SCOPE_CHOICES = (
    ("mesh", "Mesh-wide (root namespace, no selector)"),
    ("namespace", "Namespace-wide"),
    ("workload", "Workload (selector)"),
)
DURATION_CHOICES = (
    ("", "Until changed again"),
    ("15", "15 minutes"),
    ("60", "1 hour"),
    ("120", "2 hours"),
    ("240", "4 hours"),
    ("480", "8 hours"),
    ("1440", "24 hours"),
)


def reason_field(**kwargs) -> forms.CharField:
    """The reason every change needs, for every role: required, stripped, one length limit
    (policies/reasons.py, which the services check again)."""
    kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
    kwargs.setdefault("help_text", "Required: why (an incident, a ticket). The audit log keeps it.")
    return forms.CharField(
        max_length=REASON_MAX_LENGTH,
        error_messages={"max_length": REASON_TOO_LONG, "required": REASON_REQUIRED},
        **kwargs,
    )


# Where the API server's (and the CRD's) field paths land on our forms.
FIELD_FOR_PATH = (
    ("metadata.name", "name"),
    ("metadata.namespace", "namespace"),
    ("spec.mtls", "mode"),
    ("spec.selector", "match_labels"),
    ("spec.selector", "selector_labels"),
    ("spec.portLevelMtls", "port_modes"),
)


def form_field_for_path(path: str, form: forms.Form) -> str | None:
    """The form field an API or CRD field path belongs to, or None for a form-wide error."""
    for prefix, field in FIELD_FOR_PATH:
        if path.startswith(prefix) and field in form.fields:
            return field
    if path == "spec" and "port_modes" in form.fields:
        return "port_modes"  # the spec-level CEL rule is "portLevelMtls requires selector"
    return None


def _mode_field(modes=None, **kwargs) -> forms.ChoiceField:
    modes = modes or crd.mode_choices()
    return forms.ChoiceField(choices=[(mode, mode) for mode in modes], **kwargs)


def _validate_namespace(value: str) -> str:
    problem = crd.namespace_name_problem(value)
    if problem:
        raise forms.ValidationError(f"Namespace {value!r} {problem}.")
    return value


def _validate_name(value: str) -> str:
    problem = crd.object_name_problem(value)
    if problem:
        raise forms.ValidationError(f"Name {value!r} {problem}.")
    return value


def parse_match_labels(text: str) -> dict[str, str]:
    """`key=value` lines (or commas) into matchLabels, each key and value checked."""
    labels: dict[str, str] = {}
    errors = []
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            errors.append(f"{line!r}: write labels as key=value.")
            continue
        problem = crd.label_key_problem(key)
        if problem:
            errors.append(f"Label key {key!r}: {problem}.")
        problem = crd.label_value_problem(value)
        if problem:
            errors.append(f"Label value {value!r} of {key!r}: {problem}.")
        if key in labels:
            errors.append(f"Label key {key!r} appears twice.")
        labels[key] = value
    if errors:
        raise forms.ValidationError(errors)
    return labels


def parse_port_modes(text: str) -> dict[str, str]:
    """`port=MODE` lines into portLevelMtls-shaped {"port": MODE}; a port given twice is an
    error, not "the last line wins"."""
    modes = crd.mode_choices()
    port_modes: dict[str, str] = {}
    errors = []
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        port, sep, mode = line.replace(":", "=").partition("=")
        port, mode = port.strip(), mode.strip().upper()
        if not sep:
            errors.append(f"{line!r}: write port modes as PORT=MODE, e.g. 8080=PERMISSIVE.")
            continue
        number = port_number(port)
        if number is None:
            errors.append(f"Port {port[:20]!r}: port must be between 1-65535.")
            continue
        if mode not in modes:
            errors.append(f"Port {port}: mode {mode!r} is not one of {', '.join(modes)}.")
            continue
        if str(number) in port_modes:
            errors.append(f"Port {number} is given twice.")
            continue
        port_modes[str(number)] = mode
    if errors:
        raise forms.ValidationError(errors)
    return port_modes


class ConfirmFields(forms.Form):
    """The two steps of every change: preview (dry run) first, then confirm."""

    reason = reason_field()
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Which change the previews and the confirm belong to (set by the first preview), so the
    # audit log shows them as one change.
    change_id = forms.RegexField(
        regex=r"^[0-9a-f]{32}$", max_length=32, required=False, widget=forms.HiddenInput
    )
    force = forms.BooleanField(
        required=False,
        label="Take over fields another manager owns",
        help_text="Server-side apply with force: meshui becomes owner of the fields in conflict.",
    )


class NamespaceModeForm(ConfirmFields):
    """The on-call toggle: the namespace-wide policy's mode, with a reason, maybe for a while."""

    field_order = ["mode", "duration_minutes", "reason"]

    mode = _mode_field(TOGGLE_MODES)
    reason = reason_field(
        help_text="Required: why the namespace changes mode (an incident, a ticket)."
    )
    duration_minutes = forms.TypedChoiceField(
        choices=DURATION_CHOICES,
        required=False,
        coerce=int,
        empty_value=None,
        label="For how long",
        help_text="After this meshui restores the previous mode by itself.",
    )
    # What the user previewed: the policy the toggle edits (or would create) and its
    # resourceVersion ("absent" for one still to be created). A confirm applies only to that.
    seen_name = forms.CharField(required=False, max_length=253, widget=forms.HiddenInput)
    seen_resource_version = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("confirm") and not cleaned.get("seen_resource_version"):
            raise forms.ValidationError(
                "Preview the change before confirming it: a confirm applies only the policy "
                "version that was previewed."
            )
        return cleaned

    @property
    def duration(self) -> timedelta | None:
        minutes = self.cleaned_data.get("duration_minutes")
        return timedelta(minutes=minutes) if minutes else None


SCOPE_HELP = {
    "mesh": "One policy in Istio's root namespace, no selector: the mode of every namespace "
    "and workload that sets none of its own.",
    "namespace": "No selector: the mode of one namespace's workloads, unless a workload "
    "policy says otherwise.",
    "workload": "A selector picks workloads of one namespace by their labels; ports may get "
    "their own modes.",
}
# What the scope step and the pickers may carry in the URL: a picker's text is a search, so
# it is checked only for what a name could ever hold.
PICKER_TEXT = re.compile(r"^[a-z0-9.-]*$")


class PolicyTargetForm(forms.Form):
    """The new-policy form's first step (GET): the scope, then the namespace and workload as
    picked or being searched for. Everything optional; what is set is checked."""

    scope = forms.ChoiceField(
        choices=[(value, words) for value, words in SCOPE_CHOICES],
        widget=forms.RadioSelect,
        required=False,
        label="What the policy applies to",
    )
    namespace = forms.CharField(required=False, max_length=63, label="Namespace")
    workload = forms.CharField(required=False, max_length=253, label="Workload")

    def _search_text(self, name: str) -> str:
        text = self.cleaned_data[name].strip().lower()
        if not PICKER_TEXT.match(text):
            raise forms.ValidationError(
                "Names are lower-case letters, digits, '-' and '.': no such name can exist."
            )
        return text

    def clean_namespace(self):
        return self._search_text("namespace")

    def clean_workload(self):
        return self._search_text("workload")

    def target(self) -> dict:
        """scope, namespace, workload as valid so far ('' where missing or invalid)."""
        cleaned = getattr(self, "cleaned_data", {})
        return {key: cleaned.get(key) or "" for key in ("scope", "namespace", "workload")}


def ignored_policy_words(policy, *, scope: str, root_namespace: str) -> str:
    """Why a second namespace-wide (or mesh-wide) PeerAuthentication would change nothing."""
    level = "mesh-wide" if scope == "mesh" else "namespace-wide"
    where = (
        f"the root namespace {root_namespace}"
        if scope == "mesh"
        else f"namespace {policy.namespace}"
    )
    created = f", created {policy.created_at:%Y-%m-%d %H:%M} UTC" if policy.created_at else ""
    return (
        f"{where[0].upper()}{where[1:]} already has a {level} PeerAuthentication in force: "
        f"{policy.namespace}/{policy.name} (mode {policy.mode or 'UNSET'}{created}). Istio uses "
        f"only one {level} policy there, the oldest (then the first by name), so a new one "
        "would be ignored and changes nothing. Edit the mode of the policy in force instead."
    )


class PeerAuthenticationForm(ConfirmFields):
    """A new PeerAuthentication for one scope, with that scope's fields only, validated like
    the CRD. The scope, namespace and workload were picked in the step before (PolicyTargetForm)
    and travel as hidden fields; a workload's selector is picked from its labels."""

    field_order = [
        "scope",
        "namespace",
        "workload",
        "selector_labels",
        "match_labels",
        "name",
        "mode",
        "port_modes",
        "destination_rule",
        "reason",
    ]

    scope = forms.ChoiceField(choices=SCOPE_CHOICES, widget=forms.HiddenInput)
    namespace = forms.CharField(required=False, max_length=63, widget=forms.HiddenInput)
    workload = forms.CharField(required=False, max_length=253, widget=forms.HiddenInput)
    selector_labels = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Select by these labels (matchLabels)",
        help_text="The workload's own labels. A workload is selected when it carries every "
        "ticked label: untick the ones that differ between versions to cover them all.",
    )
    match_labels = forms.CharField(
        required=False,
        max_length=2000,
        label="Selector (matchLabels)",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "app=reviews"}),
        help_text="key=value, one per line: for workloads not in the snapshot yet. Pick a "
        "workload above to choose from its labels instead.",
    )
    name = forms.CharField(max_length=253, initial="default")
    mode = _mode_field()
    port_modes = forms.CharField(
        required=False,
        max_length=2000,
        label="Per-port modes",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "8080=PERMISSIVE"}),
        help_text="PORT=MODE, one per line: the workload's container port, not the Service's.",
    )
    destination_rule = forms.BooleanField(
        required=False,
        initial=True,
        label="Also apply the matching DestinationRule (ISTIO_MUTUAL)",
    )

    SCOPE_FIELDS = {
        "mesh": {"scope", "name", "mode"},
        "namespace": {"scope", "namespace", "name", "mode"},
        # A workload policy has them all.
        "workload": set(field_order) - {"reason"},
    }

    def __init__(
        self,
        *args,
        scope: str | None = None,
        workload_labels: dict[str, dict] | None = None,
        policy_in_force=None,
        root_namespace: str = "",
        **kwargs,
    ):
        # workload name -> labels, from the snapshot, so a picked workload becomes a selector.
        self.workload_labels = workload_labels or {}
        # The namespace-wide (or mesh-wide) policy Istio uses now in the target namespace.
        self.policy_in_force = policy_in_force
        self.root_namespace = root_namespace
        self.ignored_because = ""
        super().__init__(*args, **kwargs)
        data = self.data if self.is_bound else self.initial
        self.scope = scope or data.get("scope") or "namespace"
        keep = self.SCOPE_FIELDS.get(self.scope, self.SCOPE_FIELDS["namespace"])
        keep = keep | {"reason", "confirm", "force"}
        workload = (data.get("workload") or "").strip()
        if self.scope == "workload":
            # Picked: choose from its labels. Not picked: type a selector.
            keep = keep - ({"match_labels"} if workload else {"selector_labels"})
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        if "selector_labels" in self.fields:
            labels = self.workload_labels.get(workload) or {}
            self.fields["selector_labels"].choices = [
                (f"{key}={value}", f"{key}={value}") for key, value in sorted(labels.items())
            ]
            if not self.is_bound:
                self.initial.setdefault(
                    "selector_labels", [c for c, _ in self.fields["selector_labels"].choices]
                )

    def clean_name(self):
        return _validate_name(self.cleaned_data["name"].strip())

    def clean_namespace(self):
        namespace = self.cleaned_data["namespace"].strip()
        return _validate_namespace(namespace) if namespace else ""

    def clean_match_labels(self):
        return parse_match_labels(self.cleaned_data["match_labels"])

    def clean_port_modes(self):
        return parse_port_modes(self.cleaned_data["port_modes"])

    def clean(self):
        cleaned = super().clean()
        scope = cleaned.get("scope")
        if scope in ("namespace", "workload") and not cleaned.get("namespace"):
            self.add_error(None, "Pick the namespace the policy belongs to.")
        cleaned["selector"] = self._selector(scope, cleaned) if scope == "workload" else {}
        if scope == "workload" and cleaned.get("namespace") == self.root_namespace:
            self.add_error(
                None,
                f"Istio ignores PeerAuthentications with a selector in its root namespace "
                f"({self.root_namespace}): such a policy would apply nowhere.",
            )
        if scope in ("mesh", "namespace") and self.policy_in_force is not None:
            self.ignored_because = ignored_policy_words(
                self.policy_in_force, scope=scope, root_namespace=self.root_namespace
            )
            self.add_error(None, forms.ValidationError(self.ignored_because, code="ignored"))
        if cleaned.get("mode") and not self.errors:
            self._add_crd_problems(self.spec())
        return cleaned

    def _selector(self, scope, cleaned) -> dict:
        """matchLabels: the ticked labels of the picked workload, or the typed ones."""
        workload = (cleaned.get("workload") or "").strip()
        if not workload:
            selector = dict(cleaned.get("match_labels") or {})
            if not selector and "match_labels" not in self.errors:
                self.add_error("match_labels", "A workload policy needs a selector.")
            return selector
        if workload not in self.workload_labels:
            self.add_error(None, f"No workload {workload!r} in the namespace.")
            return {}
        if not self.workload_labels[workload]:
            self.add_error(
                None,
                f"{workload} has no labels to select it by: pick no workload and type "
                "matchLabels instead.",
            )
            return {}
        ticked = cleaned.get("selector_labels") or []
        if not ticked:
            self.add_error("selector_labels", "Tick at least one label to select the workload by.")
        return dict(pair.split("=", 1) for pair in ticked)

    def spec(self) -> dict:
        """The PeerAuthentication spec this form describes."""
        cleaned = self.cleaned_data
        spec: dict = {}
        if cleaned.get("selector"):
            spec["selector"] = {"matchLabels": cleaned["selector"]}
        spec["mtls"] = {"mode": cleaned["mode"]}
        if cleaned.get("port_modes"):
            spec["portLevelMtls"] = {
                port: {"mode": mode} for port, mode in cleaned["port_modes"].items()
            }
        return spec

    def _add_crd_problems(self, spec: dict) -> None:
        for path, message in crd.spec_problems(spec):
            self.add_error(form_field_for_path(path, self), f"{message} ({path})")


class PolicyModeForm(ConfirmFields):
    """Edit the mode of an existing PeerAuthentication, as of the version the user saw."""

    mode = _mode_field()
    resource_version = forms.CharField(max_length=64, widget=forms.HiddenInput)


class PolicyDeleteForm(ConfirmFields):
    """Delete a PeerAuthentication or DestinationRule, as of the version the user saw."""

    resource_version = forms.CharField(
        max_length=64,
        widget=forms.HiddenInput,
        error_messages={
            "required": "Open the policy's page again: meshui deletes nothing blindly."
        },
    )


class ChangeFollowUpForm(forms.Form):
    """Retry or roll back a half-done change: the user's own reason, every time."""

    reason = reason_field(widget=forms.TextInput)


# Extending a timed restore: the toggle's durations, each a real one.
EXTEND_CHOICES = tuple((value, words) for value, words in DURATION_CHOICES if value)


class TimedRestoreForm(forms.Form):
    """Run a pending timed restore now, or cancel it: always with a reason."""

    # Stripped, so blanks alone are no reason either.
    reason = reason_field(widget=forms.TextInput)
    # Shown beside the others (one form, one button per action); only "extend" reads it.
    duration_minutes = forms.TypedChoiceField(
        choices=EXTEND_CHOICES, required=False, coerce=int, empty_value=None, label="by"
    )


class TimedRestoreExtendForm(TimedRestoreForm):
    """Keep a timed mode longer: by how long, and why."""

    duration_minutes = forms.TypedChoiceField(
        choices=EXTEND_CHOICES, coerce=int, label="by", error_messages={"required": "How long?"}
    )

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.cleaned_data["duration_minutes"])


class AuditFilterForm(forms.Form):
    """The audit log's filters; every one optional, every one validated."""

    user = forms.CharField(required=False, max_length=150)
    namespace = forms.CharField(required=False, max_length=63)
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *[(a.value, a.label) for a in AuditAction]]
    )
    outcome = forms.ChoiceField(required=False)
    date_from = CalendarDateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = CalendarDateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    # Any whole number: one out of range shows the nearest page and says so.
    page = forms.IntegerField(required=False)

    # Shorter names people type into the URL (`?from=2026-11-01`), read as the fields.
    ALIASES = {"from": "date_from", "to": "date_to"}

    def __init__(self, data=None, *args, recorded_actions: list[str] = (), **kwargs):
        from policies.models import AuditEntry

        self.unknown_filters: list[str] = []
        if data is not None:
            data = data.copy()
            for alias, name in self.ALIASES.items():
                if alias in data:
                    data.setdefault(name, data[alias])
                    data.pop(alias)
        super().__init__(data, *args, **kwargs)
        if data is not None:
            # A misspelt filter must not show the whole log as if it were the filtered one;
            # the cluster a page shows is read for every page, not by these filters.
            self.unknown_filters = sorted(
                key for key in data if key not in self.fields and key != CLUSTER_PARAMETER
            )
        self.fields["outcome"].choices = [("", "Any outcome"), *AuditEntry.Outcome.choices]
        # Other features audit too (exemptions): their actions are filterable as recorded.
        known = {action.value for action in AuditAction}
        self.fields["action"].choices += [
            (action, action.replace("_", " ").capitalize())
            for action in recorded_actions
            if action not in known
        ]

    def clean_namespace(self):
        namespace = self.cleaned_data["namespace"].strip()
        return _validate_namespace(namespace) if namespace else ""

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        for name in self.unknown_filters:
            self.add_error(
                None,
                f"“{name}” is not a filter of the audit log (it filters by user, namespace, "
                "action, outcome, from and to).",
            )
        return cleaned
