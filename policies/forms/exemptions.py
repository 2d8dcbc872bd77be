"""The exemption form: a namespace (or one workload in it), owner, justification, expiry date."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from django import forms

from policies.forms.changes import reason_field

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class DateInput(forms.DateInput):
    input_type = "date"


class ExemptionForm(forms.Form):
    namespace = forms.CharField(max_length=63)
    workload = forms.CharField(
        max_length=253,
        required=False,
        help_text="Leave empty to exempt the whole namespace.",
    )
    owner = forms.CharField(max_length=150, help_text="The person or team answerable for it.")
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    expires_on = forms.DateField(
        widget=DateInput, label="Expires on", help_text="Valid to the end of that day (UTC)."
    )

    def __init__(self, *args, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        if today is not None:  # lets the browser's date picker refuse past days up front
            self.fields["expires_on"].widget.attrs["min"] = today.isoformat()

    def clean_namespace(self):
        namespace = self.cleaned_data["namespace"].strip()
        if not DNS_LABEL.match(namespace):
            raise forms.ValidationError(
                "A namespace name is lower-case letters, digits and '-', at most 63 characters."
            )
        return namespace

    def clean_workload(self):
        workload = self.cleaned_data["workload"].strip()
        if workload and not DNS_SUBDOMAIN.match(workload):
            raise forms.ValidationError(
                "A workload name is lower-case letters, digits, '-' and '.', "
                "at most 253 characters."
            )
        return workload

    @property
    def expires_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["expires_on"], time.max, tzinfo=UTC)


class ExemptionRevokeForm(forms.Form):
    """Revoking an exemption: why, like every change."""

    reason = reason_field()


class ExemptionRenewForm(forms.Form):
    """Renewing an exemption: the later expiry date, and why."""

    expires_on = forms.DateField(
        widget=DateInput,
        label="New expiry date",
        help_text="Valid to the end of that day (UTC); at most a year from today.",
    )
    reason = reason_field()

    def __init__(self, *args, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        if today is not None:
            self.fields["expires_on"].widget.attrs["min"] = today.isoformat()

    @property
    def expires_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["expires_on"], time.max, tzinfo=UTC)


class ExemptionListForm(forms.Form):
    """The exemption list's filters and page, all in the URL."""

    STATES = [
        ("", "Any state"),
        ("valid", "Valid"),
        ("expired", "Expired"),
        ("renewed", "Renewed"),
        ("revoked", "Revoked"),
    ]
    state = forms.ChoiceField(choices=STATES, required=False, label="State")
    namespace = forms.CharField(max_length=63, required=False, label="Namespace contains")
    page = forms.IntegerField(min_value=1, max_value=10_000_000, required=False, label="Page")
