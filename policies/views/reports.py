"""Auditor pages: the posture report, its exports, trends and the comparison of two dates.

Every page here reads snapshots and the audit log; none writes. Auditors see all of it.
"""

from __future__ import annotations

import re

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from policies.charts import line_chart
from policies.exports import TABLES, export_scope, report_json_chunks, table_chunks
from policies.forms.reports import CompareForm, ExportForm, ReportForm, TrendForm
from policies.selectors.reports import (
    coverage_trend,
    posture_report,
    snapshot_at,
    snapshot_compare,
    snapshot_oldest,
)
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def no_snapshot_context(at) -> dict:
    oldest = snapshot_oldest()
    return {"no_snapshot_at": at, "oldest_snapshot": oldest}


@require_GET
@reader_required
def report_show(request: MeshuiHttpRequest) -> HttpResponse:
    now = timezone.now()
    # Bound even when empty: every field is optional, so no parameters means "now".
    form = ReportForm(request.GET, now=now)
    context = {"form": form, "now": now, "tables": TABLES}
    if not form.is_valid():
        return page_response(request, "policies/report.html", context, status=400)
    cleaned = form.cleaned_data
    report = posture_report(at=cleaned["at"], since=cleaned["since"])
    context["report"] = report
    context["query"] = request.GET.urlencode()
    if report is None:
        context.update(no_snapshot_context(cleaned["at"]))
    return page_response(request, "policies/report.html", context)


def css_string(text: str) -> str:
    """A CSS string literal: all but plain letters, digits and a little punctuation escaped.

    The space after each hex escape ends it (CSS swallows one whitespace there), so text
    that follows can never be read as more hex digits.
    """
    escaped = "".join(
        char if char.isascii() and (char.isalnum() or char in " .:-/") else f"\\{ord(char):x} "
        for char in text
    )
    return f'"{escaped}"'


@require_GET
@reader_required
def report_print_css(request: MeshuiHttpRequest) -> HttpResponse:
    """Page headers for printing this report: cluster and snapshot time in @page margin boxes.

    A stylesheet, not inline style, because the Content Security Policy allows only
    meshui's own stylesheets; browsers without margin boxes still print the report's own
    header on the first page.
    """
    now = timezone.now()
    form = ReportForm(request.GET, now=now)
    at = form.cleaned_data["at"] if form.is_valid() else now
    snapshot = snapshot_at(at=at)
    if snapshot is None:
        header = "meshui posture report: no snapshot"
    else:
        header = (
            f"meshui posture report · cluster {snapshot.cluster_name} · "
            f"snapshot {snapshot.taken_at:%Y-%m-%d %H:%M} UTC"
        )
    stylesheet = (
        "@page {\n"
        f"  @top-left {{ content: {css_string(header)}; }}\n"
        f"  @top-right {{ content: {css_string(f'as at {at:%Y-%m-%d %H:%M} UTC')}; }}\n"
        "}\n"
    )
    response = HttpResponse(stylesheet, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "private, max-age=60"
    return response


def attachment_name(scope, table: str, fmt: str) -> str:
    cluster = UNSAFE_IN_FILENAME.sub("-", scope.snapshot.cluster_name or "cluster").strip("-")
    return f"meshui-{cluster}-{table}-{scope.at:%Y%m%dT%H%M%SZ}.{fmt}"


def streamed(chunks, *, fmt: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_refusal(form) -> HttpResponse:
    lines = [f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()]
    return HttpResponse(
        "The export request is not valid.\n" + "\n".join(lines) + "\n",
        status=400,
        content_type="text/plain; charset=utf-8",
    )


def scoped_export(form, respond) -> HttpResponseBase:
    """Validate, find the snapshot in force, then let `respond(scope)` stream the file."""
    if not form.is_valid():
        return export_refusal(form)
    scope = export_scope(at=form.cleaned_data["at"], since=form.cleaned_data["since"])
    if scope is None:
        return HttpResponse(
            "No snapshot had been taken by that date: there is nothing to export.\n",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    return respond(scope)


@require_GET
@reader_required
def report_export(request: MeshuiHttpRequest, table: str, fmt: str) -> HttpResponseBase:
    """One table of the report at `at` as CSV or JSON, streamed."""
    data = request.GET.copy()
    data["table"], data["format"] = table, fmt
    return scoped_export(
        ExportForm(data, now=timezone.now()),
        lambda scope: streamed(
            table_chunks(table, fmt, scope), fmt=fmt, filename=attachment_name(scope, table, fmt)
        ),
    )


@require_GET
@reader_required
def report_json(request: MeshuiHttpRequest) -> HttpResponseBase:
    """The whole report as one JSON document (the `posture --format json` field names)."""
    now = timezone.now()
    return scoped_export(
        ReportForm(request.GET, now=now),
        lambda scope: streamed(
            report_json_chunks(scope, generated_at=now),
            fmt="json",
            filename=attachment_name(scope, "report", "json"),
        ),
    )


@require_GET
@reader_required
def compare_show(request: MeshuiHttpRequest) -> HttpResponse:
    """Two dates side by side; the form swaps only the result region under htmx."""
    now = timezone.now()
    form = CompareForm(request.GET or None, now=now)
    context = {"form": form, "now": now, "comparison": None}
    status = 200
    if request.GET:
        if form.is_valid():
            context["comparison"] = snapshot_compare(
                at_from=form.cleaned_data["from"], at_to=form.cleaned_data["to"]
            )
            if context["comparison"] is None:
                context.update(no_snapshot_context(form.cleaned_data["from"]))
        else:
            status = 400
    return page_response(
        request, "policies/compare.html", context, partials=("compare-result",), status=status
    )


def percent_label(value: float) -> str:
    return f"{value:.0%}"


@require_GET
@reader_required
def trends_show(request: MeshuiHttpRequest) -> HttpResponse:
    """STRICT coverage and finding counts over time, as server-drawn SVG charts."""
    now = timezone.now()
    form = TrendForm(request.GET or None)
    days = form.cleaned_data["days"] if form.is_valid() else 30
    start = now - timezone.timedelta(days=days)
    points = coverage_trend(start=start, end=now)
    moments = [point.taken_at for point in points]
    enforced = [point.workloads_enforced_share for point in points]
    declared = [point.workloads_declared_share for point in points]
    coverage_chart = line_chart(
        moments,
        [
            ("Workloads STRICT enforced", "#1d6b3a", "", enforced),
            ("Workloads STRICT declared", "#2458c5", "6 3", declared),
            ("Namespaces STRICT", "#5b6675", "2 3", [p.namespaces_strict_share for p in points]),
        ],
        y_max=1.0,
        y_label=percent_label,
        period=(start, now),
    )
    findings_chart = line_chart(
        moments,
        [
            ("Errors", "#a1261b", "", [p.findings_error for p in points]),
            ("Warnings", "#8a5a00", "6 3", [p.findings_warning for p in points]),
            ("Info", "#5b6675", "2 3", [p.findings_info for p in points]),
        ],
        period=(start, now),
    )
    context = {
        "form": form,
        "days": days,
        "points": points,
        "coverage_chart": coverage_chart,
        "findings_chart": findings_chart,
    }
    return page_response(request, "policies/trends.html", context, partials=("trend-charts",))
