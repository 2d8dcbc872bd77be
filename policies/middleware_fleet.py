"""Which cluster of the fleet a request shows: `?cluster=NAME` (kept in the session, so the
links of every page stay in that cluster), else the session's choice, else the configured
cluster. The whole request, rendering included, runs in that cluster's scope
(`selectors.fleet.fleet_scope`), so every page and every change made from it reads and
writes that cluster without knowing about fleets.

`?cluster=all` asks for every cluster at once: the pages that have a fleet form (overview,
namespaces, findings) send the request there; others show the configured cluster.
A name the fleet does not know is a 400 that says so. A user with a cluster limit
(policies.selectors.cluster_limits) never gets a scope outside it: a cluster outside is a
403 (audited for a POST), and without a choice they see the first cluster of theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from policies.cluster_sources import ALL_CLUSTERS, CLUSTER_PARAMETER
from policies.models import AuditAction, AuditEntry
from policies.selectors.cluster_limits import (
    UserClusters,
    cluster_limit_of,
    cluster_limit_refusal,
    fleet_members_visible,
)
from policies.selectors.fleet import (
    FleetMember,
    configured_cluster_name,
    fleet_member_named,
    fleet_scope,
)
from policies.services.audit import audit_entry_record

SESSION_KEY = "meshui_cluster"
PARAMETER = CLUSTER_PARAMETER
# Pages whose "every cluster" form lives elsewhere: url name -> the fleet page's.
ALL_CLUSTERS_PAGES = {
    "overview": "policies:fleet-overview",
    "namespace-list": "policies:fleet-namespace-list",
    "finding-list": "policies:fleet-finding-list",
}


def _chosen_name(request: HttpRequest) -> tuple[str, bool]:
    """(the cluster name asked for, whether the request asked) — ("", False) when none.

    A change form posts the cluster it was rendered for (templates/policies/
    _cluster_field.html): a confirm applies in the cluster that was previewed, even if
    another tab has switched the session to another cluster since."""
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        posted = request.POST.get(PARAMETER, "").strip()
        if posted:
            return posted, True
    asked = request.GET.get(PARAMETER, "").strip()
    if asked:
        return asked, True
    session = getattr(request, "session", None)
    if session is not None and getattr(request, "user", None) is not None:
        return session.get(SESSION_KEY, "") or "", False
    return "", False


class ClusterScopeMiddleware:
    """Run each request in the scope of the cluster it shows (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name, from_url = _chosen_name(request)
        request.meshui_cluster = None
        request.meshui_all_clusters = False
        limit = cluster_limit_of(getattr(request, "user", None))
        if not name:
            return self._default(request, limit)
        if name == ALL_CLUSTERS:
            # Every cluster the user may see: the fleet pages and exports ask the limit.
            request.meshui_all_clusters = True
            if from_url and request.method == "GET":
                self._remember(request, name)
                redirect = self._all_clusters_page(request)
                if redirect is not None:
                    return redirect
            return self._default(request, limit)
        member = fleet_member_named(name)
        if member is None or not limit.allows(member.name):
            if not from_url:  # removed, or limited, since it was chosen: back to the default
                self._remember(request, "")
                return self._default(request, limit)
            if member is not None:
                return self._outside_limit(request, member.name)
            return render(
                request,
                "400.html",
                {"problem": f'No cluster named "{name[:63]}" is in the fleet (see Clusters).'},
                status=400,
            )
        if from_url:
            self._remember(request, member.name)
        return self._in_scope(request, member)

    def _default(self, request: HttpRequest, limit: UserClusters) -> HttpResponse:
        """The configured cluster; for a user limited to other clusters, the first of theirs."""
        if not limit.limited or limit.allows(configured_cluster_name()):
            return self.get_response(request)
        visible = fleet_members_visible(user=request.user)
        if not visible:
            return render(
                request,
                "403.html",
                {
                    "exception": f"Your access is limited to the clusters {limit.words}, and "
                    "no cluster of the fleet has one of those names.",
                    "cluster_limit": True,
                },
                status=403,
            )
        return self._in_scope(request, visible[0])

    def _outside_limit(self, request: HttpRequest, name: str) -> HttpResponse:
        """403 for a cluster outside the user's limit; a POST (a change asked for there) is
        audited as refused, whatever the form it came from."""
        problem = cluster_limit_refusal(user=request.user, name=name)
        visible = fleet_members_visible(user=request.user)
        request.meshui_cluster = visible[0] if visible else None  # the header names theirs
        if request.method == "POST":
            audit_entry_record(
                user=request.user,
                action=AuditAction.CLUSTER_OUTSIDE_LIMIT,
                outcome=AuditEntry.Outcome.DENIED,
                target_kind="Request",
                target_name=f"POST {request.path}"[:253],
                error=problem,
                cluster_name=name,
            )
        return render(
            request, "403.html", {"exception": problem, "cluster_limit": True}, status=403
        )

    def _in_scope(self, request: HttpRequest, member: FleetMember) -> HttpResponse:
        request.meshui_cluster = member
        with fleet_scope(member):
            return self.get_response(request)

    @staticmethod
    def _remember(request: HttpRequest, name: str) -> None:
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return
        if session.get(SESSION_KEY, "") != name:
            session[SESSION_KEY] = name

    @staticmethod
    def _all_clusters_page(request: HttpRequest) -> HttpResponse | None:
        from django.urls import Resolver404, resolve

        try:
            url_name = resolve(request.path_info).url_name
        except Resolver404:
            return None
        target = ALL_CLUSTERS_PAGES.get(url_name or "")
        if target is None:
            return None
        query = {key: value for key, value in request.GET.items() if key != PARAMETER}
        return HttpResponseRedirect(reverse(target) + (f"?{urlencode(query)}" if query else ""))
