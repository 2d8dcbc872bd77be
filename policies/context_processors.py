from django.conf import settings
from django.utils.functional import SimpleLazyObject

from policies.roles import user_role
from policies.selectors.fleet import configured_cluster_name
from policies.selectors.restores import restores_overdue_for


def _cluster_key(request) -> str:
    member = getattr(request, "meshui_cluster", None)
    return member.name if member is not None else configured_cluster_name()


def meshui(request):
    """Values every page's header needs: who is logged in, in which role, which cluster, and
    the timed restores that are overdue (every page shows them until they run)."""
    role = user_role(request.user) if hasattr(request, "user") else None
    return {
        "meshui_role": role,
        "meshui_demo_cluster": settings.MESHUI_DEMO_CLUSTER,
        # The cluster of the fleet this page shows (policies.middleware_fleet), else the
        # configured one's name.
        "meshui_cluster_name": getattr(getattr(request, "meshui_cluster", None), "name", "")
        or settings.MESHUI_CLUSTER_NAME,
        "meshui_all_clusters": getattr(request, "meshui_all_clusters", False),
        # The cluster a change form applies in, by name (templates/policies/_cluster_field.html);
        # read only by pages with such a form.
        "meshui_cluster_key": SimpleLazyObject(lambda: _cluster_key(request)),
        "meshui_oidc_enabled": settings.MESHUI_OIDC_ENABLED,
        # Read when a page renders the banner (one small query); only a role sees pages.
        "meshui_overdue_restores": (
            SimpleLazyObject(lambda: restores_overdue_for(user=request.user)) if role else []
        ),
        # A broker (and so a worker and beat) exists exactly when REDIS_URL is set.
        "meshui_has_broker": bool(settings.REDIS_URL),
    }
