from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from policies.forms.filters import WorkloadFilterForm
from policies.selectors.posture import workload_detail_read
from policies.selectors.traffic import workload_traffic
from policies.selectors.workloads import workload_list_csv, workload_list_read
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


@require_GET
@reader_required
def workload_list(request: MeshuiHttpRequest) -> HttpResponse:
    """Every workload of the current snapshot: filter by namespace, mode, sidecar, findings
    and exemption, sort, paginate; the same filters export CSV."""
    form = WorkloadFilterForm(request.GET)
    view, status, sort = None, 400, "namespace"
    if form.is_valid():
        filters = form.cleaned()
        sort = filters["sort"]
        view = workload_list_read(
            filters=form.filters(),
            sort=sort,
            page_number=filters["page"],
            per_page=filters["per_page"],
        )
        status = 200
    return page_response(
        request,
        "policies/workload_list.html",
        {"form": form, "view": view, "sync": view.sync if view else None, "sort": sort},
        partials=("workload-list",),
        status=status,
    )


@require_GET
@reader_required
def workload_export(request: MeshuiHttpRequest) -> HttpResponseBase:
    """The filtered workloads list, every page, as CSV (the report export's columns)."""
    form = WorkloadFilterForm(request.GET)
    chunks = (
        workload_list_csv(filters=form.filters(), sort=form.cleaned()["sort"])
        if form.is_valid()
        else None
    )
    if chunks is None:
        # Bad filters answer with the error, never with an unfiltered file.
        return page_response(
            request,
            "policies/workload_list.html",
            {"form": form, "view": None, "sort": "namespace"},
            status=400 if form.errors else 404,
        )
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="meshui-workloads-{stamp}.csv"'
    return response


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
