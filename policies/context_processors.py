from django.conf import settings

from policies.roles import user_role


def meshui(request):
    """Values every page's header needs: who is logged in, in which role, and which cluster."""
    return {
        "meshui_role": user_role(request.user) if hasattr(request, "user") else None,
        "meshui_demo_cluster": settings.MESHUI_DEMO_CLUSTER,
        "meshui_cluster_name": settings.MESHUI_CLUSTER_NAME,
        "meshui_oidc_enabled": settings.MESHUI_OIDC_ENABLED,
    }
