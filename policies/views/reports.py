"""Auditor pages: the posture report, its exports, trends and the comparison of two dates.

Every page here reads snapshots and the audit log; none writes. Auditors see all of it, within
their cluster limit (policies.selectors.cluster_limits).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from policies.charts import line_chart
from policies.cluster_sources import ALL_CLUSTERS
from policies.exports import (
    ExportScope,
    export_scope,
    fleet_table_chunks,
    report_json_chunks,
    table_chunks,
)
from policies.forms.reports import (
    CompareForm,
    ExportForm,
    ReportForm,
    ReportPageForm,
    TrendForm,
    moment_param,
)
from policies.selectors.cluster_limits import audit_cluster_values_visible, fleet_members_visible
from policies.selectors.compare import snapshot_compare, snapshots_compared
from policies.selectors.fleet import fleet_scope
from policies.selectors.report_pages import (
    LISTED_EXPORTS,
    ReportFilters,
    export_filename,
    fleet_export_filename,
    report_page_read,
)
from policies.selectors.reports import (
    coverage_trend,
    snapshot_at,
    snapshot_oldest,
)
from policies.services.export_checksums import export_checksums_ensure
from policies.services.snapshot_differences import snapshot_difference_ensure
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}


def no_snapshot_context(at) -> dict:
    oldest = snapshot_oldest()
    return {"no_snapshot_at": at, "oldest_snapshot": oldest}


def report_arguments(form: ReportPageForm) -> dict:
    cleaned = form.cleaned_data
    return {
        "at": cleaned["at"],
        "since": cleaned["since"],
        "filters": ReportFilters(
            namespace=cleaned["namespace"], mode=cleaned["mode"], severity=cleaned["severity"]
        ),
        "pages": form.pages(),
        "show_compliant": cleaned["compliant"],
    }


def pinned_context(request: MeshuiHttpRequest, *, at, since) -> dict:
    """The report's moment and period written out exactly, for every link the page makes.

    A report "as at now" stays the report of that second: its pages, filters, exports and
    printable version all read the same snapshot, exemptions and period, so the files a
    printed report names are the files its links download.
    """
    pinned = {"at": moment_param(at), "since": moment_param(since)}
    params = request.GET.copy()
    params.update(pinned)
    return {"pinned": pinned, "pinned_params": params, "moment_query": urlencode(pinned)}


REPORT_PARTIALS = (
    "report-summary",
    "report-exceptions",
    "report-namespaces",
    "report-workloads",
    "report-findings",
    "report-expired",
    "report-exemptions",
    "report-changes",
    "report-compliant",
    "report-exports",
)


@require_GET
@reader_required
def report_show(request: MeshuiHttpRequest) -> HttpResponse:
    """The report: its summary, then the exceptions, each section paged and filtered in place."""
    # Whole seconds: the moment is written into every link, and exports name it to the second.
    now = timezone.now()
    form = ReportPageForm(request.GET, now=now)  # bound even when empty: no parameters = now
    context = {"form": form, "now": now}
    if not form.is_valid():
        # A filter or page swapped in place shows its error where the rows would be.
        return page_response(
            request,
            "policies/report.html",
            context,
            partials=("report-exceptions",),
            status=400,
        )
    arguments = report_arguments(form)
    report = report_page_read(
        **arguments, audit_clusters=audit_cluster_values_visible(user=request.user)
    )
    context["report"] = report
    context.update(pinned_context(request, at=arguments["at"], since=arguments["since"]))
    if report is None:
        context.update(no_snapshot_context(arguments["at"]))
    return page_response(request, "policies/report.html", context, partials=REPORT_PARTIALS)


@require_GET
@reader_required
def report_print(request: MeshuiHttpRequest) -> HttpResponse:
    """The report to file: the summary and every exception, unpaged, and the checksums of
    the exports that hold the complete listing (computed once per report and kept)."""
    now = timezone.now()
    form = ReportForm(request.GET, now=now)
    context = {"form": form, "now": now}
    if not form.is_valid():
        return page_response(request, "policies/report_print.html", context, status=400)
    at, since = form.cleaned_data["at"], form.cleaned_data["since"]
    visible = audit_cluster_values_visible(user=request.user)
    scope = export_scope(at=at, since=since, audit_clusters=visible)
    if scope is not None and visible is None:  # the kept checksums are of unlimited files
        export_checksums_ensure(scope=scope, exports=LISTED_EXPORTS)
    report = report_page_read(
        at=at, since=since, filters=ReportFilters(), pages={}, whole=True, audit_clusters=visible
    )
    context["report"] = report
    context.update(pinned_context(request, at=at, since=since))
    if report is None:
        context.update(no_snapshot_context(at))
    return page_response(request, "policies/report_print.html", context)


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


NOTHING_TO_EXPORT = "No snapshot had been taken by that date: there is nothing to export.\n"


def nothing_to_export() -> HttpResponse:
    return HttpResponse(NOTHING_TO_EXPORT, status=404, content_type="text/plain; charset=utf-8")


def scoped_export(request: MeshuiHttpRequest, form, respond) -> HttpResponseBase:
    """Validate, find the snapshot in force, then let `respond(scope)` stream the file."""
    if not form.is_valid():
        return export_refusal(form)
    scope = export_scope(
        at=form.cleaned_data["at"],
        since=form.cleaned_data["since"],
        audit_clusters=audit_cluster_values_visible(user=request.user),
    )
    if scope is None:
        return nothing_to_export()
    return respond(scope)


def asks_all_clusters(request: MeshuiHttpRequest) -> bool:
    """`?cluster=all` in this download's own URL (a session left on "all" by the switcher
    does not make a report page's one-cluster links download every cluster)."""
    return request.GET.get("cluster", "").strip() == ALL_CLUSTERS


def fleet_export_scopes(request: MeshuiHttpRequest, *, at, since) -> list[ExportScope]:
    """One export scope per cluster the user may see that had a snapshot by `at`."""
    visible = audit_cluster_values_visible(user=request.user)
    scopes = []
    for member in fleet_members_visible(user=request.user):
        with fleet_scope(member):
            scope = export_scope(at=at, since=since, audit_clusters=visible)
        if scope is not None:
            scopes.append(scope)
    return scopes


@require_GET
@reader_required
def report_export(request: MeshuiHttpRequest, table: str, fmt: str) -> HttpResponseBase:
    """One table of the report at `at` as CSV or JSON, streamed; with `?cluster=all`, the
    rows of every cluster the user may see, each naming its cluster."""
    data = request.GET.copy()
    data["table"], data["format"] = table, fmt
    form = ExportForm(data, now=timezone.now())
    if asks_all_clusters(request):
        if not form.is_valid():
            return export_refusal(form)
        at = form.cleaned_data["at"]
        scopes = fleet_export_scopes(request, at=at, since=form.cleaned_data["since"])
        if not scopes:
            return nothing_to_export()
        return streamed(
            fleet_table_chunks(table, fmt, scopes),
            fmt=fmt,
            filename=fleet_export_filename(at, table, fmt),
        )
    return scoped_export(
        request,
        form,
        lambda scope: streamed(
            table_chunks(table, fmt, scope), fmt=fmt, filename=export_filename(scope, table, fmt)
        ),
    )


@require_GET
@reader_required
def report_json(request: MeshuiHttpRequest) -> HttpResponseBase:
    """The whole report as one JSON document (the `posture --format json` field names)."""
    now = timezone.now()
    if asks_all_clusters(request):
        return HttpResponse(
            "report.json is one cluster's report; for every cluster download each table with "
            "?cluster=all (/reports/namespaces.csv?cluster=all) or read /fleet/report/.\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return scoped_export(
        request,
        ReportForm(request.GET, now=now),
        lambda scope: streamed(
            report_json_chunks(scope, generated_at=now),
            fmt="json",
            filename=export_filename(scope, "report", "json"),
        ),
    )


@require_GET
@reader_required
def compare_show(request: MeshuiHttpRequest) -> HttpResponse:
    """Two dates side by side, each section paged in place; the form swaps the result region.

    The moments are written out exactly in every page link ("to" defaults to now), so the
    pages of one comparison all compare the same two snapshots: what changed between them is
    worked out on the first visit and kept.
    """
    now = timezone.now()
    form = CompareForm(request.GET or None, now=now)
    context = {"form": form, "now": now, "comparison": None}
    status = 200
    if request.GET:
        if form.is_valid():
            at_from, at_to = form.cleaned_data["from"], form.cleaned_data["to"]
            snapshots = snapshots_compared(at_from=at_from, at_to=at_to)
            if snapshots is None:
                context.update(no_snapshot_context(at_from))
            else:
                before, after = snapshots
                context["comparison"] = snapshot_compare(
                    difference=snapshot_difference_ensure(before=before, after=after),
                    at_from=at_from,
                    at_to=at_to,
                    pages=form.pages(),
                    audit_clusters=audit_cluster_values_visible(user=request.user),
                )
            params = request.GET.copy()
            params.update({"from": moment_param(at_from), "to": moment_param(at_to)})
            context["pinned_params"] = params
        else:
            status = 400
    return page_response(
        request, "policies/compare.html", context, partials=COMPARE_PARTIALS, status=status
    )


COMPARE_PARTIALS = (
    "compare-result",
    "compare-namespaces",
    "compare-workloads",
    "compare-appeared",
    "compare-cleared",
    "compare-audit",
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
