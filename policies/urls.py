from django.urls import path

from policies.views import health, overview

app_name = "policies"

urlpatterns = [
    path("healthz", health.healthz, name="health"),
    path("", overview.overview, name="overview"),
]
