from django.urls import path

from policies.views import (
    findings,
    health,
    namespaces,
    overview,
    policies_list,
    sync_now,
    workloads,
)

app_name = "policies"

urlpatterns = [
    path("healthz", health.healthz, name="health"),
    path("", overview.overview, name="overview"),
    path("namespaces/", namespaces.namespace_list, name="namespace-list"),
    path("namespaces/<str:name>/", namespaces.namespace_detail, name="namespace-detail"),
    path(
        "namespaces/<str:namespace>/workloads/<str:kind>/<str:name>/",
        workloads.workload_detail,
        name="workload-detail",
    ),
    path("policies/", policies_list.policy_list, name="policy-list"),
    path(
        "policies/<str:kind>/<str:namespace>/<str:name>/",
        policies_list.policy_detail,
        name="policy-detail",
    ),
    path("findings/", findings.finding_list, name="finding-list"),
    path("sync/", sync_now.sync_now, name="sync-now"),
    path("sync/status/", sync_now.sync_status, name="sync-status"),
]
