"""The fleet's pages: every cluster at a glance, namespaces side by side across clusters,
every cluster's findings, the cluster switcher, and registering or removing a cluster.

Pages read each cluster's current snapshot, never a cluster; registering checks the new
cluster's connection once. Admins register and remove (checked again in the service).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from policies import roles
from policies.cluster_sources import ALL_CLUSTERS
from policies.exports import TABLES
from policies.forms.fleet import ClusterForm, FleetNamespaceFilterForm, FleetNamespaceModeForm
from policies.models import Cluster
from policies.roles import can_manage_policies
from policies.selectors.cluster_limits import (
    cluster_limit_of,
    cluster_limit_refusal,
    fleet_members_visible,
)
from policies.selectors.fleet_overview import (
    fleet_finding_records,
    fleet_namespace_rows,
    fleet_overview,
    fleet_report,
    namespace_across_clusters,
)
from policies.services.changes import fleet_toggle
from policies.services.changes.failures import ChangeFailure
from policies.services.changes.fleet_toggle import ClusterOutcome, ClusterTarget
from policies.services.fleet import (
    ClusterRegistrationInvalid,
    ClusterSpec,
    cluster_check,
    cluster_register,
    cluster_remove,
    cluster_sync_request,
)
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest

FLEET_PAGE_SIZE = 100
FLEET_TOGGLE = "policies/fleet_namespace_mode.html"


@require_GET
@reader_required
def fleet_overview_page(request: MeshuiHttpRequest) -> HttpResponse:
    """Each cluster's mesh mode, coverage, findings and last sync; the cross-cluster findings."""
    overview = fleet_overview(members=fleet_members_visible(user=request.user))
    return page_response(
        request,
        "policies/fleet_overview.html",
        {
            "overview": overview,
            # Registering and removing hold for every cluster: admins without a limit.
            "may_manage": can_manage_policies(request.user)
            and not cluster_limit_of(request.user).limited,
        },
    )


@require_GET
@reader_required
def fleet_report_page(request: MeshuiHttpRequest) -> HttpResponse:
    """The fleet's report: each cluster's summary, the fleet's totals, the findings across
    clusters, and the exports of every cluster (within the user's cluster limit)."""
    overview = fleet_overview(members=fleet_members_visible(user=request.user))
    return page_response(
        request,
        "policies/fleet_report.html",
        {"report": fleet_report(overview=overview), "now": timezone.now(), "tables": TABLES},
    )


@require_GET
@reader_required
def fleet_namespace_list(request: MeshuiHttpRequest) -> HttpResponse:
    """Every namespace name with its mode in each cluster, side by side."""
    form = FleetNamespaceFilterForm(request.GET)
    overview = fleet_overview(members=fleet_members_visible(user=request.user))
    if not form.is_valid():
        return page_response(
            request,
            "policies/fleet_namespace_list.html",
            {"form": form, "overview": overview, "page": None},
            partials=["fleet-namespace-table"],
            status=400,
        )
    rows = fleet_namespace_rows(
        overview=overview,
        search=form.cleaned_data["q"],
        differing_only=form.cleaned_data["differs"],
    )
    page = Paginator(rows, FLEET_PAGE_SIZE).get_page(form.cleaned_data["page"] or 1)
    return page_response(
        request,
        "policies/fleet_namespace_list.html",
        {"form": form, "overview": overview, "page": page},
        partials=["fleet-namespace-table"],
    )


@require_GET
@reader_required
def fleet_namespace_detail(request: MeshuiHttpRequest, name: str) -> HttpResponse:
    """One namespace in every cluster side by side, and the cross-cluster findings on it."""
    overview = fleet_overview(members=fleet_members_visible(user=request.user), namespace=name)
    side_by_side, findings = namespace_across_clusters(name=name, overview=overview)
    status = 200 if any(entry.record for entry in side_by_side) else 404
    return page_response(
        request,
        "policies/fleet_namespace_detail.html",
        {
            "name": name,
            "side_by_side": side_by_side,
            "findings": findings,
            "overview": overview,
            "can_toggle": roles.can_toggle_namespace(request.user),
        },
        status=status,
    )


@require_GET
@reader_required
def fleet_finding_list(request: MeshuiHttpRequest) -> HttpResponse:
    """The cross-cluster findings, then every cluster's own, with a cluster column."""
    overview = fleet_overview(members=fleet_members_visible(user=request.user))
    page_number = request.GET.get("page", "1")
    page = Paginator(fleet_finding_records(overview=overview), FLEET_PAGE_SIZE).get_page(
        page_number if page_number.isdigit() else 1
    )
    return page_response(
        request,
        "policies/fleet_finding_list.html",
        {"overview": overview, "page": page},
        partials=["fleet-finding-table"],
    )


def _in_cluster(next_url: str, name: str) -> str:
    """`next_url` (a path of this site) showing cluster `name`, its other parameters kept."""
    parts = urlsplit(next_url)
    query = QueryDict(parts.query, mutable=True)
    query.pop("cluster", None)
    query.pop("page", None)  # another cluster has other pages
    query["cluster"] = name
    return f"{parts.path}?{query.urlencode()}"


@require_GET
@reader_required
def fleet_switch(request: MeshuiHttpRequest) -> HttpResponse:
    """The cluster switcher: the page you are on, in each cluster (or all at once)."""
    next_url = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    if not next_url.startswith("/"):
        next_url = "/"
    current = getattr(request, "meshui_cluster", None)
    choices = [
        {
            "name": member.name,
            "url": _in_cluster(next_url, member.name),
            "current": (current.name if current else None) == member.name
            or (current is None and member.is_configured and not request.meshui_all_clusters),
        }
        for member in fleet_members_visible(user=request.user)
    ]
    choices.append(
        {
            "name": "All clusters",
            "url": _in_cluster(next_url, ALL_CLUSTERS),
            "current": request.meshui_all_clusters,
        }
    )
    return page_response(
        request, "policies/fleet_switch.html", {"choices": choices, "next_url": next_url}
    )


def _spec(data: dict) -> ClusterSpec:
    return ClusterSpec(
        name=data["name"],
        source=data["source"],
        kubeconfig=data["kubeconfig"],
        context=data["context"],
        server=data["server"],
        token_file=data["token_file"],
        ca_file=data["ca_file"],
        secret_namespace=data["secret_namespace"] or "istio-system",
        secret_name=data["secret_name"],
        secret_key=data["secret_key"],
        sync_interval=data["sync_interval"],
    )


@require_http_methods(["GET", "POST"])
@reader_required
def cluster_create(request: MeshuiHttpRequest) -> HttpResponse:
    """Register a cluster (admins): where its credentials are; checked at once."""
    if not can_manage_policies(request.user):
        raise PermissionDenied("Only admins register clusters.")
    form = ClusterForm(request.POST or None, initial={"secret_namespace": "istio-system"})
    if request.method == "POST" and form.is_valid():
        try:
            registered = cluster_register(user=request.user, spec=_spec(form.cleaned_data))
        except ClusterRegistrationInvalid as error:
            for field, problem in error.problems.items():
                form.add_error(field if field in form.fields else None, problem)
        else:
            if registered.check_error:
                messages.warning(
                    request,
                    f"Registered {registered.name}, but it does not answer: "
                    f"{registered.check_error}",
                )
            else:
                messages.success(
                    request,
                    f"Registered {registered.name} (Kubernetes {registered.check_version}); "
                    "its first sync is queued.",
                )
                cluster_sync_request(registered=registered, trigger="registered")
            return redirect("policies:fleet-overview")
    status = 400 if request.method == "POST" else 200
    return page_response(request, "policies/cluster_form.html", {"form": form}, status=status)


@require_POST
@reader_required
def cluster_remove_view(request: MeshuiHttpRequest, name: str) -> HttpResponse:
    """Take a cluster out of the fleet (admins); its history stays."""
    try:
        cluster_remove(user=request.user, name=name)
    except ClusterRegistrationInvalid as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Removed {name}; its snapshots and audit entries stay.")
    return redirect("policies:fleet-overview")


@require_POST
@reader_required
def cluster_check_view(request: MeshuiHttpRequest, name: str) -> HttpResponse:
    """Connect to a registered cluster now and show the answer."""
    if not can_manage_policies(request.user):
        raise PermissionDenied("Only admins check clusters.")
    if refusal := cluster_limit_refusal(user=request.user, name=name):
        raise PermissionDenied(refusal)
    registered = Cluster.objects.registered().filter(name=name).first()
    if registered is None:
        messages.error(request, f"No registered cluster is named {name}.")
    else:
        checked = cluster_check(registered=registered)
        if checked.check_error:
            messages.warning(request, f"{name} does not answer: {checked.check_error}")
        else:
            messages.success(request, f"{name} answers: Kubernetes {checked.check_version}.")
    return redirect("policies:fleet-overview")


# --- The on-call toggle in several clusters ---------------------------------------------------


@require_http_methods(["GET", "POST"])
@reader_required
def fleet_namespace_mode_set(request: MeshuiHttpRequest, name: str) -> HttpResponse:
    """Switch a namespace in every cluster chosen: form, a preview per cluster, then the
    confirm applying in each exactly what was previewed there, with an outcome per cluster."""
    if not roles.can_toggle_namespace(request.user):
        raise PermissionDenied("Only on-call staff and admins change a mode.")
    overview = fleet_overview(members=fleet_members_visible(user=request.user), namespace=name)
    side_by_side, _findings = namespace_across_clusters(name=name, overview=overview)
    present = {entry.row.name: entry.row.member for entry in side_by_side if entry.record}
    if not present:
        raise Http404(f"Namespace {name} is in no cluster of the fleet.")
    context = {"name": name, "side_by_side": side_by_side, "overview": overview}
    if request.method == "GET":
        modes = [entry.record.mode for entry in side_by_side if entry.record]
        mode = request.GET.get("mode") or ("PERMISSIVE" if "STRICT" in modes else "STRICT")
        form = FleetNamespaceModeForm(
            initial={"mode": mode, "clusters": list(present)}, cluster_names=list(present)
        )
        return page_response(request, FLEET_TOGGLE, {**context, "form": form})

    form = FleetNamespaceModeForm(request.POST, cluster_names=list(present))
    if not form.is_valid():
        return page_response(request, FLEET_TOGGLE, {**context, "form": form}, status=400)
    chosen = [present[cluster] for cluster in form.cleaned_data["clusters"]]
    change = {
        "user": request.user,
        "namespace": name,
        "mode": form.cleaned_data["mode"],
        "reason": form.cleaned_data["reason"],
        "duration": form.duration,
    }
    if request.POST.get("edit"):
        return page_response(request, FLEET_TOGGLE, {**context, "form": form})
    if not form.cleaned_data["confirm"]:
        previews = fleet_toggle.fleet_namespace_mode_preview(**change, members=chosen)
        return page_response(request, FLEET_TOGGLE, {**context, "form": form, "previews": previews})
    targets, unpreviewed = [], []
    for member in chosen:
        previewed = form.previewed(member.name)
        if previewed is None:
            unpreviewed.append(member)
        else:
            targets.append(ClusterTarget(member, *previewed))
    outcomes = fleet_toggle.fleet_namespace_mode_set(**change, targets=targets)
    outcomes += [
        ClusterOutcome(
            member,
            failure=ChangeFailure(
                "Not previewed in this cluster: nothing was applied there. Preview it first.",
                status=400,
            ),
        )
        for member in unpreviewed
    ]
    applied = sum(1 for outcome in outcomes if outcome.applied)
    return page_response(
        request,
        FLEET_TOGGLE,
        {
            **context,
            "form": form,
            "outcomes": outcomes,
            "applied": applied,
            "partial": 0 < applied < len(outcomes),
        },
    )
