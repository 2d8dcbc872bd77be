from django.urls import path

from policies.views import audit as audit_views
from policies.views import changes as change_views
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
    # Changing posture and the audit log (issue 6)
    path(
        "namespaces/<str:namespace>/mode/",
        change_views.namespace_mode_set,
        name="namespace-mode-set",
    ),
    path(
        "namespaces/<str:namespace>/changes/",
        audit_views.namespace_changes,
        name="namespace-changes",
    ),
    path(
        "changes/peer-authentication/new/",
        change_views.peer_authentication_create,
        name="peer-authentication-create",
    ),
    path(
        "changes/PeerAuthentication/<str:namespace>/<str:name>/mode/",
        change_views.policy_mode_update,
        name="policy-mode-update",
    ),
    path(
        "changes/<str:kind>/<str:namespace>/<str:name>/delete/",
        change_views.policy_delete,
        name="policy-delete",
    ),
    path("changes/<int:entry_id>/", change_views.change_detail, name="change-detail"),
    path("changes/<int:entry_id>/retry/", change_views.change_retry, name="change-retry"),
    path("changes/<int:entry_id>/rollback/", change_views.change_rollback, name="change-rollback"),
    path("audit/", audit_views.audit_list, name="audit-list"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
]
