from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from policies.selectors.posture import workload_detail_read
from policies.selectors.traffic import workload_traffic
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


@require_GET
@reader_required
def workload_detail(
    request: MeshuiHttpRequest, namespace: str, kind: str, name: str
) -> HttpResponse:
    """One workload, port by port, with the chain of policies that decides each mode."""
    view = workload_detail_read(namespace=namespace, kind=kind, name=name)
    if view is None:
        raise Http404(f'{kind} "{namespace}/{name}" is not in the current snapshot.')
    return page_response(
        request,
        "policies/workload_detail.html",
        {
            "view": view,
            "sync": view.sync,
            "workload": view.workload,
            "traffic": workload_traffic(
                namespace=namespace, workload=name, mode=view.workload.mode
            ),
        },
    )
