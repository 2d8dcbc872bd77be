"""The audit log: read-only pages (list, CSV export, a namespace's recent changes).

There is deliberately no view that edits or deletes an entry.
"""

import csv

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from policies.forms.changes import AuditFilterForm
from policies.selectors.audit import (
    audit_change_page,
    audit_csv_rows,
    audit_entry_list,
    audit_recorded_actions,
    audit_usernames,
    namespace_recent_changes,
)
from policies.selectors.cluster_limits import audit_cluster_values_visible
from policies.selectors.oncall_scopes import namespace_toggle_allowed
from policies.selectors.restores import timed_states
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest

PER_PAGE = 50


def _filtered(request: MeshuiHttpRequest, form: AuditFilterForm):
    cleaned = form.cleaned_data
    return audit_entry_list(
        username=cleaned["user"],
        namespace=cleaned["namespace"],
        action=cleaned["action"],
        outcome=cleaned["outcome"],
        date_from=cleaned["date_from"],
        date_to=cleaned["date_to"],
        clusters=audit_cluster_values_visible(user=request.user),
    )


@require_GET
@reader_required
def audit_list(request: MeshuiHttpRequest) -> HttpResponse:
    """Every attempted change, newest first, filtered by user, namespace, action and date:
    a change's previews are folded under its confirm (or refusal)."""
    form = AuditFilterForm(request.GET, recorded_actions=audit_recorded_actions())
    if not form.is_valid():
        return page_response(
            request,
            "policies/audit_list.html",
            {"form": form, "page": None},
            partials=("audit-table",),
            status=400,
        )
    page = audit_change_page(
        _filtered(request, form), page_number=form.cleaned_data["page"] or 1, per_page=PER_PAGE
    )
    return page_response(
        request,
        "policies/audit_list.html",
        {"form": form, "page": page, "usernames": audit_usernames()},
        partials=("audit-table",),
    )


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can stream."""

    def write(self, value):
        return value


@require_GET
@reader_required
def audit_export(request: MeshuiHttpRequest) -> HttpResponseBase:
    """The filtered audit log as CSV, streamed (cells that look like formulas are quoted)."""
    form = AuditFilterForm(request.GET, recorded_actions=audit_recorded_actions())
    if not form.is_valid():
        # The error, as on the page: never a file that looks filtered and is not.
        return page_response(
            request, "policies/audit_list.html", {"form": form, "page": None}, status=400
        )
    writer = csv.writer(_Echo())
    rows = (writer.writerow(row) for row in audit_csv_rows(_filtered(request, form)))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="meshui-audit-{stamp}.csv"'
    return response


@require_GET
@reader_required
def namespace_changes(request: MeshuiHttpRequest, namespace: str) -> HttpResponse:
    """A namespace's recent changes and pending timed restores (a panel of its page)."""
    return page_response(
        request,
        "policies/audit_namespace_panel.html",
        {
            "namespace_name": namespace,
            "entries": namespace_recent_changes(
                namespace=namespace, clusters=audit_cluster_values_visible(user=request.user)
            ),
            "timed_states": timed_states(namespaces=[namespace]).values(),
            "can_toggle_namespace": namespace_toggle_allowed(
                user=request.user, namespace=namespace
            ),
        },
    )
