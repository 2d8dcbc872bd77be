from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path

from policies.views.password import PasswordChangeView

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("policies.urls")),
]

if settings.MESHUI_OIDC_ENABLED:
    from policies.oidc import oidc_urlpatterns

    urlpatterns.insert(0, path("oidc/", include(oidc_urlpatterns())))
