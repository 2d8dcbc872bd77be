from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from policies.forms.filters import FilterForm, NamespaceFilterForm
from policies.roles import can_toggle_namespace
from policies.selectors.oncall_scopes import namespace_toggle_offer, namespaces_toggleable
from policies.selectors.posture import namespace_detail_read, namespace_list_read
from policies.selectors.traffic import namespace_traffic
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest
from policies.views.restores import restore_form


@require_GET
@reader_required
def namespace_list(request: MeshuiHttpRequest) -> HttpResponse:
    """Every namespace of the current snapshot: search, filter by mode, sort, paginate."""
    form = NamespaceFilterForm(request.GET)
    if form.is_valid():
        filters = form.cleaned()
        view = namespace_list_read(
            search=filters["q"],
            mode=filters["mode"],
            source=filters["source"],
            readiness=filters["readiness"],
            sort=filters["sort"],
            page_number=filters["page"],
            per_page=filters["per_page"],
        )
        status, sort = 200, filters["sort"]
    else:
        view, status, sort = None, 400, "name"
    toggleable = (
        namespaces_toggleable(
            user=request.user, namespaces=view.page, root=view.snapshot.root_namespace
        )
        if view and view.page
        else set()
    )
    return page_response(
        request,
        "policies/namespace_list.html",
        {
            "form": form,
            "view": view,
            "sync": view.sync if view else None,
            "sort": sort,
            "can_toggle_namespace": can_toggle_namespace(request.user),
            "toggleable": toggleable,
        },
        partials=("namespace-table",),
        status=status,
    )


@require_GET
@reader_required
def namespace_detail(request: MeshuiHttpRequest, name: str) -> HttpResponse:
    """One namespace: its workloads, policies, findings, and why it has its mode."""
    form = FilterForm(request.GET)
    if not form.is_valid():
        return page_response(request, "policies/bad_filter.html", {"form": form}, status=400)
    view = namespace_detail_read(name=name, workload_page=form.cleaned()["page"])
    if view is None:
        raise Http404(f'Namespace "{name}" is not in the current snapshot.')
    toggle = namespace_toggle_offer(
        user=request.user, namespace=view.namespace, root=view.snapshot.root_namespace
    )
    return page_response(
        request,
        "policies/namespace_detail.html",
        {
            "view": view,
            "sync": view.sync,
            "namespace": view.namespace,
            "can_toggle_namespace": toggle.allowed,
            "scope_refusal": toggle.scope_refusal,
            "restore_form": restore_form(view.timed.restore) if view.timed else None,
            "traffic": namespace_traffic(namespace=name, mode=view.namespace.mode),
        },
        partials=("workload-table",),
    )
