from django.urls import path

from policies.views import audit as audit_views
from policies.views import changes as change_views
from policies.views import exemptions as exemption_views
from policies.views import (
    findings,
    health,
    namespaces,
    overview,
    policies_list,
    sync_now,
    workloads,
)
from policies.views import fleet as fleet_views
from policies.views import metrics as metrics_views
from policies.views import reports as report_views
from policies.views import restores as restore_views

app_name = "policies"

urlpatterns = [
    path("healthz", health.healthz, name="health"),
    path("", overview.overview, name="overview"),
    path("namespaces/", namespaces.namespace_list, name="namespace-list"),
    path("namespaces/<str:name>/", namespaces.namespace_detail, name="namespace-detail"),
    path("workloads/", workloads.workload_list, name="workload-list"),
    path("workloads/export.csv", workloads.workload_export, name="workload-export"),
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
    # The fleet (issue 16): every cluster at once, namespaces side by side, the clusters.
    path("fleet/", fleet_views.fleet_overview_page, name="fleet-overview"),
    path("fleet/namespaces/", fleet_views.fleet_namespace_list, name="fleet-namespace-list"),
    path(
        "fleet/namespaces/<str:name>/",
        fleet_views.fleet_namespace_detail,
        name="fleet-namespace-detail",
    ),
    path(
        "fleet/namespaces/<str:name>/mode/",
        fleet_views.fleet_namespace_mode_set,
        name="fleet-namespace-mode-set",
    ),
    path("fleet/findings/", fleet_views.fleet_finding_list, name="fleet-finding-list"),
    path("fleet/report/", fleet_views.fleet_report_page, name="fleet-report"),
    path("fleet/switch/", fleet_views.fleet_switch, name="fleet-switch"),
    path("fleet/clusters/new/", fleet_views.cluster_create, name="cluster-create"),
    path(
        "fleet/clusters/<str:name>/remove/", fleet_views.cluster_remove_view, name="cluster-remove"
    ),
    path("fleet/clusters/<str:name>/check/", fleet_views.cluster_check_view, name="cluster-check"),
    path("sync/", sync_now.sync_now, name="sync-now"),
    path("sync/status/", sync_now.sync_status, name="sync-status"),
    # Auditor reports (issue 7)
    path("reports/", report_views.report_show, name="report-show"),
    path("reports/print/", report_views.report_print, name="report-print"),
    path("reports/print.css", report_views.report_print_css, name="report-print-css"),
    path("reports/report.json", report_views.report_json, name="report-json"),
    path(
        "reports/<str:table>.<str:fmt>",
        report_views.report_export,
        name="report-export",
    ),
    path("reports/compare/", report_views.compare_show, name="compare-show"),
    path("reports/trends/", report_views.trends_show, name="trends-show"),
    path("exemptions/", exemption_views.exemption_index, name="exemption-list"),
    path("exemptions/new/", exemption_views.exemption_create_view, name="exemption-create"),
    path(
        "exemptions/<int:pk>/revoke/",
        exemption_views.exemption_revoke_view,
        name="exemption-revoke",
    ),
    path(
        "exemptions/<int:pk>/renew/",
        exemption_views.exemption_renew_view,
        name="exemption-renew",
    ),
    path("metrics", metrics_views.metrics, name="metrics"),
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
    path(
        "restores/<int:restore_id>/run/",
        restore_views.timed_restore_action,
        {"verb": "run"},
        name="timed-restore-run",
    ),
    path(
        "restores/<int:restore_id>/extend/",
        restore_views.timed_restore_action,
        {"verb": "extend"},
        name="timed-restore-extend",
    ),
    path(
        "restores/<int:restore_id>/cancel/",
        restore_views.timed_restore_action,
        {"verb": "cancel"},
        name="timed-restore-cancel",
    ),
    path("changes/<int:entry_id>/", change_views.change_detail, name="change-detail"),
    path("changes/<int:entry_id>/retry/", change_views.change_retry, name="change-retry"),
    path("changes/<int:entry_id>/rollback/", change_views.change_rollback, name="change-rollback"),
    path("audit/", audit_views.audit_list, name="audit-list"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
]
