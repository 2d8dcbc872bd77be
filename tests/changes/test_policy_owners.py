"""Policies that kubectl, Helm or GitOps made: who owns the mode decides what the on-call
toggle may do, said before the form, and enforced against the live object when applying."""

from html import unescape

import pytest
from django.core.exceptions import PermissionDenied

from policies.models import AuditEntry
from policies.services import changes
from tests.changes.conftest import (
    LAST_JUNE,
    argocd_policy,
    kubectl_applied_policy,
    meshui_policy,
    resync,
)

TOGGLE = "/namespaces/shop/mode/"


def text(response) -> str:
    """The page as a person reads it (entities such as &#x27; turned back into characters)."""
    return unescape(response.content.decode())


def applies(kube):
    return [r for r in kube.requests if r.method == "PATCH"]


def mode_managers(kube, name="default") -> dict[str, str]:
    stored = kube.get("PeerAuthentication", "shop", name)
    return {
        entry["manager"]: entry["operation"]
        for entry in stored["metadata"]["managedFields"]
        if "f:mode" in entry["fieldsV1"].get("f:spec", {}).get("f:mtls", {})
    }


def confirm_data(kube, mode="STRICT", **extra) -> dict:
    seen = kube.get("PeerAuthentication", "shop", "default")
    version = seen["metadata"]["resourceVersion"] if seen else "absent"
    return {
        "mode": mode,
        "reason": "INC-7",
        "seen_name": "default",
        "seen_resource_version": version,
        "confirm": "1",
        **extra,
    }


# --- A person's tool made it: on-call takes the mode over ----------------------------------


def test_oncall_toggles_a_policy_made_by_client_side_kubectl_taking_the_mode_over(
    client, mesh, users
):
    kubectl_applied_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    client.force_login(users["oncall"])
    form = text(client.get(TOGGLE + "?mode=STRICT"))
    # Before anything is typed: who owns the policy and what the toggle will do.
    assert "a person's tool" in form
    assert "kubectl-client-side-apply" in form and "2025-06-01" in form
    preview = text(client.post(TOGGLE, {"mode": "STRICT", "reason": "INC-7"}))
    assert (
        "This takes <code>.spec.mtls.mode</code> over from kubectl-client-side-apply "
        "(last changed 2025-06-01)" in preview
    )
    assert "✓ The cluster accepted the change in a dry run" in preview
    assert 'id="confirm-change"' in preview
    mesh.clear_requests()
    response = client.post(TOGGLE, confirm_data(mesh))
    assert response.status_code == 302
    [request] = applies(mesh)
    assert request.param("force") == "true" and request.param("fieldManager") == "meshui"
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"
    assert mode_managers(mesh) == {"meshui": "Apply"}
    entry = AuditEntry.objects.filter(outcome="applied").get()
    assert "took .spec.mtls.mode over from kubectl-client-side-apply" in entry.dry_run_result


def test_the_service_takes_a_person_tools_mode_only_when_asked(mesh, users):
    kubectl_applied_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    with pytest.raises(changes.ChangeFailure) as refused:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x"
        )
    assert refused.value.field_manager_conflicts == [
        {"field": ".spec.mtls.mode", "manager": "kubectl-client-side-apply"}
    ]
    assert "only an admin" not in refused.value.message
    result = changes.namespace_mode_set(
        user=users["oncall"], namespace="shop", mode="STRICT", reason="x", force=True
    )
    assert result.entry.outcome == AuditEntry.Outcome.APPLIED
    assert mode_managers(mesh) == {"meshui": "Apply"}


def test_a_policy_meshui_manages_needs_no_take_over(client, mesh, users):
    meshui_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    client.force_login(users["oncall"])
    assert "meshui manages" in text(client.get(TOGGLE))
    mesh.clear_requests()
    assert client.post(TOGGLE, confirm_data(mesh)).status_code == 302
    [request] = applies(mesh)
    assert request.param("force") is None


# --- A reconciler made it: refused up front for on-call, admins force with the warning -----


def test_oncall_is_told_before_the_form_that_argo_cd_would_revert_the_change(client, mesh, users):
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE", application="shop-mesh")
    resync()
    client.force_login(users["oncall"])
    response = client.get(TOGGLE)
    page = text(response)
    assert response.status_code == 403
    assert "argocd-controller" in page and "a reconciler" in page
    assert "would be reverted within minutes" in page
    assert "Argo CD application shop-mesh" in page
    assert 'name="reason"' not in page  # no form to fill in for nothing
    mesh.clear_requests()
    denied = client.post(TOGGLE, {"mode": "STRICT", "reason": "INC-7"})
    assert denied.status_code == 403
    assert applies(mesh) == []
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.DENIED
    assert "argocd-controller" in entry.error


def test_a_crafted_force_by_oncall_over_a_reconciler_is_refused_and_audited(client, mesh, users):
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    client.force_login(users["oncall"])
    mesh.clear_requests()
    response = client.post(TOGGLE, confirm_data(mesh, force="1"))
    assert response.status_code == 403
    assert applies(mesh) == []
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == (
        "PERMISSIVE"
    )
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.username) == ("denied", "olga")
    assert "reverted" in entry.error


def test_the_service_decides_from_the_live_object_not_the_snapshot(mesh, users):
    # The snapshot says a person made it; since then Argo CD took it over.
    kubectl_applied_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    mesh.reset()
    from tests.changes.conftest import shop_mesh

    mesh.seed(shop_mesh())
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE")
    mesh.clear_requests()
    with pytest.raises(PermissionDenied) as refused:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x", force=True
        )
    assert "argocd-controller" in str(refused.value)
    assert applies(mesh) == []
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.DENIED


def test_admins_may_force_over_a_reconciler_after_the_same_warning(client, mesh, users):
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE", application="shop-mesh")
    resync()
    client.force_login(users["admin"])
    form = client.get(TOGGLE)
    assert form.status_code == 200
    assert "would be reverted within minutes" in text(form)
    preview = text(client.post(TOGGLE, {"mode": "STRICT", "reason": "INC-7"}))
    assert "would be reverted within minutes" in preview
    assert "argocd-controller" in preview and ".spec.mtls.mode" in preview
    assert 'name="force"' in preview
    mesh.clear_requests()
    response = client.post(TOGGLE, confirm_data(mesh, force="1"))
    assert response.status_code == 302
    [request] = applies(mesh)
    assert request.param("force") == "true"
    assert mode_managers(mesh) == {"meshui": "Apply"}


def test_oncall_may_apply_over_a_reconciler_only_timed_when_the_admin_allows_it(
    client, mesh, users, settings
):
    settings.MESHUI_ONCALL_EMERGENCY_OVER_RECONCILER = True
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    client.force_login(users["oncall"])
    form = client.get(TOGGLE)
    assert form.status_code == 200
    page = text(form)
    assert "only as a timed emergency change" in page and 'name="reason"' in page
    untimed = client.post(TOGGLE, confirm_data(mesh, force="1"))
    assert untimed.status_code == 403
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == (
        "PERMISSIVE"
    )
    timed = client.post(TOGGLE, confirm_data(mesh, force="1", duration_minutes="60"))
    assert timed.status_code == 302
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"
    outcomes = sorted(AuditEntry.objects.values_list("outcome", flat=True))
    assert outcomes == ["applied", "denied"]


def test_the_setting_never_lets_oncall_force_untimed_through_the_service(mesh, users, settings):
    settings.MESHUI_ONCALL_EMERGENCY_OVER_RECONCILER = True
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    with pytest.raises(PermissionDenied) as refused:
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="x", force=True
        )
    assert "timed" in str(refused.value)


# --- The pages say who owns each namespace's policy -----------------------------------------


def test_namespace_list_and_page_show_who_owns_the_policy(client, mesh, users):
    kubectl_applied_policy(mesh, namespace="shop", mode="PERMISSIVE", time=LAST_JUNE)
    argocd_policy(mesh, namespace="legacy", mode="PERMISSIVE")
    meshui_policy(mesh, namespace="istio-system", mode="STRICT")
    resync()
    client.force_login(users["auditor"])
    listing = text(client.get("/namespaces/"))
    assert "a person's tool" in listing and "kubectl-client-side-apply" in listing
    assert "a reconciler" in listing and "argocd-controller" in listing
    assert ">meshui<" in listing
    detail = text(client.get("/namespaces/legacy/"))
    assert "a reconciler" in detail and "Argo CD application shop-mesh" in detail


def test_the_namespace_list_reads_owners_in_the_same_query_whatever_the_page_size(
    client, mesh, users
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(users["auditor"])

    def queries() -> int:
        resync()
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/namespaces/").status_code == 200
        return len(captured.captured_queries)

    kubectl_applied_policy(mesh, namespace="shop", mode="PERMISSIVE")
    few = queries()
    for number in range(8):
        argocd_policy(mesh, namespace=f"team-{number}", mode="STRICT")
    assert queries() == few


def test_an_admin_editing_a_reconcilers_policy_is_warned_too(client, mesh, users):
    argocd_policy(mesh, namespace="shop", name="shop-mtls", mode="PERMISSIVE")
    resync()
    client.force_login(users["admin"])
    page = text(client.get("/changes/PeerAuthentication/shop/shop-mtls/mode/"))
    assert "a reconciler" in page and "argocd-controller" in page
    assert "A change made here would be reverted." in page


def test_a_take_over_the_page_promised_from_a_person_does_not_stretch_to_a_reconciler(
    client, mesh, users
):
    # The snapshot says kubectl made it; since then Argo CD took it over. The admin was told
    # "takes it over from kubectl-client-side-apply", not warned about Argo CD: no force.
    kubectl_applied_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    mesh.reset()
    from tests.changes.conftest import shop_mesh

    mesh.seed(shop_mesh())
    argocd_policy(mesh, namespace="shop", mode="PERMISSIVE")
    client.force_login(users["admin"])
    mesh.clear_requests()
    response = client.post(TOGGLE, confirm_data(mesh))
    assert response.status_code == 409
    page = text(response)
    assert "argocd-controller" in page and 'name="force"' in page
    assert "would be reverted within minutes" in page  # the warning, now that it applies
    [request] = applies(mesh)
    assert request.param("force") is None
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == (
        "PERMISSIVE"
    )
