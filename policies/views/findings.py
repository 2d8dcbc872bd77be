from django.http import HttpResponse
from django.views.decorators.http import require_GET

from policies.forms.filters import FindingFilterForm
from policies.selectors.posture import finding_list_read
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


@require_GET
@reader_required
def finding_list(request: MeshuiHttpRequest) -> HttpResponse:
    """All findings of the current snapshot, worst first, filtered by code, severity, namespace."""
    form = FindingFilterForm(request.GET)
    view, status = None, 400
    if form.is_valid():
        filters = form.cleaned()
        view = finding_list_read(
            code=filters["code"],
            severity=filters["severity"],
            namespace=filters["namespace"],
            page_number=filters["page"],
            per_page=filters["per_page"],
        )
        status = 200
    return page_response(
        request,
        "policies/finding_list.html",
        {"form": form, "view": view, "sync": view.sync if view else None},
        partials=("finding-table",),
        status=status,
    )
