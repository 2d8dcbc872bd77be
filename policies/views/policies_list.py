from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from policies.forms.filters import PolicyFilterForm
from policies.models import PolicyRecord
from policies.selectors.posture import policy_list_read, policy_read
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


@require_GET
@reader_required
def policy_list(request: MeshuiHttpRequest) -> HttpResponse:
    """Every PeerAuthentication and DestinationRule across namespaces, filterable."""
    form = PolicyFilterForm(request.GET)
    view, status = None, 400
    if form.is_valid():
        filters = form.cleaned()
        view = policy_list_read(
            kind=filters["kind"],
            namespace=filters["namespace"],
            search=filters["q"],
            mode=filters["mode"],
            scope=filters["scope"],
            status=filters["status"],
            tls_mode=filters["tls_mode"],
            pa_page=filters["pa_page"],
            dr_page=filters["dr_page"],
            per_page=filters["per_page"],
        )
        status = 200
    return page_response(
        request,
        "policies/policy_list.html",
        {"form": form, "view": view, "sync": view.sync if view else None},
        partials=("policy-tables", "pa-table", "dr-table"),
        status=status,
    )


@require_GET
@reader_required
def policy_detail(request: MeshuiHttpRequest, kind: str, namespace: str, name: str) -> HttpResponse:
    """One policy as YAML, as the cluster returned it at the last sync."""
    if kind not in PolicyRecord.Kind.values:
        raise Http404("Unknown policy kind.")
    policy = policy_read(kind=kind, namespace=namespace, name=name)
    if policy is None:
        raise Http404(f'{kind} "{namespace}/{name}" is not in the current snapshot.')
    return page_response(request, "policies/policy_detail.html", {"policy": policy})
