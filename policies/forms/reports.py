"""Forms for reports, comparisons, trends and exports; every GET parameter is validated here."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from django import forms

from policies.exports import FORMATS, TABLES
from policies.forms.dates import EARLIEST, LATEST
from policies.selectors.compare import COMPARE_SECTIONS
from policies.selectors.report_pages import SECTIONS as REPORT_SECTIONS

DEFAULT_PERIOD = timedelta(days=30)
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MOMENT_HELP = (
    "A date (2026-11-01, meaning the end of that day, UTC), "
    "a time (2026-11-01T14:30, UTC unless it says otherwise) or 'now'."
)


class MomentError(ValueError):
    """The text is not a moment meshui can report on; the message says why, for people."""


def parse_moment(text: str | None, *, now: datetime) -> datetime:
    """A report moment from user text: 'now', a date (its end, UTC) or an ISO 8601 time.

    A date means "as things stood at the end of that day"; today's date means now. Moments
    in the future are refused: a report can only show what meshui has seen. Times come back
    in UTC, whatever offset they were written with (PostgreSQL stores offsets up to ±15:59).
    """
    text = (text or "").strip()
    if not text or text.lower() == "now":
        return now
    if DATE_ONLY.match(text):
        try:
            day = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError as error:
            raise MomentError(f"{text!r} is not a calendar date.") from error
        moment = datetime.combine(day, time.max, tzinfo=UTC)
        if day == now.astimezone(UTC).date():
            return now
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError as error:
            raise MomentError(f"{text!r} is not a date or time. {MOMENT_HELP}") from error
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    # Judged before any conversion: 0001-01-01T00:00+01:00 in UTC is before year 1.
    if moment.date() < EARLIEST:
        raise MomentError(f"{text} is before {EARLIEST}: meshui has seen nothing that old.")
    if moment.date() > LATEST or moment > now:
        raise MomentError(f"{text} is in the future: a report can only show what meshui has seen.")
    return moment.astimezone(UTC)


class MomentField(forms.CharField):
    def __init__(self, *, now: datetime, **kwargs):
        self.now = now
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", MOMENT_HELP)
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        try:
            return parse_moment(text, now=self.now)
        except MomentError as error:
            raise forms.ValidationError(str(error)) from error


class ReportForm(forms.Form):
    """`at`: the moment reported on (default now); `since`: start of the changes period."""

    def __init__(self, data=None, *, now: datetime, **kwargs):
        super().__init__(data, **kwargs)
        self.now = now
        self.fields["at"] = MomentField(now=now, label="As at")
        self.fields["since"] = MomentField(
            now=now, label="Changes since", help_text="Default: 30 days before 'As at'."
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        at = cleaned.get("at") or self.now
        since = cleaned.get("since") or at - DEFAULT_PERIOD
        if since >= at:
            raise forms.ValidationError("'Changes since' must be before 'As at'.")
        cleaned["at"], cleaned["since"] = at, since
        return cleaned


class ExportForm(ReportForm):
    def __init__(self, data=None, *, now: datetime, **kwargs):
        super().__init__(data, now=now, **kwargs)
        self.fields["table"] = forms.ChoiceField(choices=[(table, table) for table in TABLES])
        self.fields["format"] = forms.ChoiceField(choices=[(fmt, fmt) for fmt in FORMATS])


def page_fields(form: forms.Form, sections) -> None:
    """A `<section>_page` field per section: a page past the end shows the last page."""
    for section in sections:
        form.fields[f"{section}_page"] = forms.IntegerField(
            required=False, min_value=1, max_value=10_000_000, label=f"Page of {section}"
        )


class CompareForm(forms.Form):
    """Two moments, and the page of each section of the comparison."""

    def __init__(self, data=None, *, now: datetime, **kwargs):
        super().__init__(data, **kwargs)
        self.now = now
        self.fields["from"] = MomentField(now=now, label="From", required=True)
        self.fields["to"] = MomentField(now=now, label="To", help_text="Default: now.")
        page_fields(self, COMPARE_SECTIONS)

    def pages(self) -> dict[str, int]:
        return {
            section: self.cleaned_data.get(f"{section}_page") or 1 for section in COMPARE_SECTIONS
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        cleaned["to"] = cleaned.get("to") or self.now
        if cleaned["from"] >= cleaned["to"]:
            raise forms.ValidationError("'From' must be before 'To'.")
        return cleaned


class TrendForm(forms.Form):
    PERIODS = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "a year")]
    days = forms.TypedChoiceField(choices=PERIODS, coerce=int, required=False, label="Period")

    def clean_days(self):
        return self.cleaned_data.get("days") or 30


class ReportPageForm(ReportForm):
    """The report page: its moment and period, the exceptions' filters and each section's page.

    A page past the end shows the last page; one that is not a number is refused in words.
    """

    MODES = [("", "Any mode below STRICT"), ("PERMISSIVE", "PERMISSIVE"), ("DISABLE", "DISABLE")]
    SEVERITIES = [
        ("", "Any severity"),
        ("error", "Error"),
        ("warning", "Warning"),
        ("info", "Info"),
    ]

    def __init__(self, data=None, *, now: datetime, **kwargs):
        super().__init__(data, now=now, **kwargs)
        self.fields["namespace"] = forms.CharField(
            required=False, max_length=63, label="Namespace contains"
        )
        self.fields["mode"] = forms.ChoiceField(required=False, choices=self.MODES, label="Mode")
        self.fields["severity"] = forms.ChoiceField(
            required=False, choices=self.SEVERITIES, label="Finding severity"
        )
        self.fields["compliant"] = forms.BooleanField(required=False, label="List compliant rows")
        page_fields(self, REPORT_SECTIONS)

    def pages(self) -> dict[str, int]:
        return {
            section: self.cleaned_data.get(f"{section}_page") or 1 for section in REPORT_SECTIONS
        }


def moment_param(moment: datetime) -> str:
    """A moment as a URL parameter that parses back to exactly the same instant."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"
