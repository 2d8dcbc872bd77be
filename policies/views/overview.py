from django.http import HttpResponse
from django.views.decorators.http import require_GET

from policies.roles import can_sync
from policies.selectors.posture import overview_read
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


@require_GET
@reader_required
def overview(request: MeshuiHttpRequest) -> HttpResponse:
    """The mesh at a glance: mesh mode, coverage, worst findings, freshness."""
    view = overview_read()
    return page_response(
        request,
        "policies/overview.html",
        {
            "view": view,
            "sync": view.sync,
            "snapshot": view.snapshot,
            "can_sync": can_sync(request.user),
        },
    )
