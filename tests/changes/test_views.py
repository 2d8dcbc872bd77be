"""The change pages over HTTP: the role matrix for every write endpoint, preview then confirm,
conflicts shown with the new state, the cluster's validation on the form field."""

from datetime import timedelta

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from policies.models import AuditEntry
from policies.services import changes
from policies.services.audit import audit_entries_dated
from tests.changes.conftest import half_done_pair, resync

ROLES = ("anonymous", "norole", "auditor", "oncall", "admin")


@pytest.fixture
def stage(mesh, users):
    """A meshui-owned namespace policy in shop, a half-done change to retry or roll back."""
    changes.namespace_mode_set(
        user=users["admin"], namespace="shop", mode="PERMISSIVE", reason="setup"
    )
    resync()
    half_done = half_done_pair(mesh, users)
    resync()
    rv = mesh.get("PeerAuthentication", "shop", "default")["metadata"]["resourceVersion"]
    return {"rv": rv, "half_done": half_done.pk}


def entries_after(stage) -> QuerySet[AuditEntry]:
    """The entries the test wrote: the stage's own, the half-done change last, stay in the
    append-only log."""
    return AuditEntry.objects.filter(pk__gt=stage["half_done"])


def endpoint(name, stage):
    return {
        "toggle": (
            "/namespaces/shop/mode/",
            {"mode": "STRICT", "reason": "INC-5", "seen_resource_version": stage["rv"]},
        ),
        "create": (
            "/changes/peer-authentication/new/",
            {
                "scope": "namespace",
                "namespace": "legacy",
                "name": "default",
                "mode": "STRICT",
                "reason": "new",
            },
        ),
        "mode": (
            "/changes/PeerAuthentication/shop/default/mode/",
            {"mode": "STRICT", "resource_version": stage["rv"], "reason": "edit"},
        ),
        "delete": (
            "/changes/PeerAuthentication/shop/default/delete/",
            {"resource_version": stage["rv"], "reason": "gone"},
        ),
        "retry": (f"/changes/{stage['half_done']}/retry/", {"reason": "finish"}),
        "rollback": (f"/changes/{stage['half_done']}/rollback/", {"reason": "undo"}),
    }[name]


ALLOWED = {
    "toggle": {"oncall", "admin"},
    "create": {"admin"},
    "mode": {"admin"},
    "delete": {"admin"},
    "retry": {"admin"},
    "rollback": {"admin"},
}


def cluster_writes(kube):
    return [r for r in kube.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")]


DENIED = [(name, role) for name in sorted(ALLOWED) for role in ROLES if role not in ALLOWED[name]]
PERMITTED = [(name, role) for name in sorted(ALLOWED) for role in sorted(ALLOWED[name])]


@pytest.fixture
def paper_stage(kube, users):
    """The same endpoints without preparing the cluster: for roles that never reach it."""
    half_done = AuditEntry.objects.create(
        created_at=timezone.now(),
        username="alice",
        action="peer_authentication_apply",
        outcome="failed",
        target_namespace="shop",
        target_name="cart",
        object_sent=[
            {
                "kind": "PeerAuthentication",
                "apiVersion": "security.istio.io/v1",
                "metadata": {"name": "cart", "namespace": "shop"},
                "spec": {},
            }
        ],
    )
    return {"rv": "1", "half_done": half_done.pk}


@pytest.mark.parametrize(("name", "role"), DENIED)
def test_role_matrix_roles_that_may_not_write_are_refused_and_audited(
    client, kube, users, paper_stage, name, role
):
    url, data = endpoint(name, paper_stage)
    if role != "anonymous":
        client.force_login(users[role])
    kube.clear_requests()
    response = client.post(url, {**data, "confirm": "1"})
    entries = entries_after(paper_stage)
    assert cluster_writes(kube) == []
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        assert not entries.exists()
    else:
        assert response.status_code == 403
        [denied] = entries
        assert (denied.outcome, denied.username) == ("denied", users[role].username)


@pytest.mark.parametrize(("name", "role"), PERMITTED)
def test_role_matrix_roles_that_may_write_change_the_cluster(
    client, mesh, users, stage, name, role
):
    url, data = endpoint(name, stage)
    client.force_login(users[role])
    mesh.clear_requests()
    response = client.post(url, {**data, "confirm": "1"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith("/changes/")
    assert cluster_writes(mesh)
    entries = entries_after(stage)
    assert entries.filter(outcome__in=["applied", "rolled_back"]).count() == 1


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/namespaces/shop/mode/", {"oncall", "admin"}),
        ("/changes/peer-authentication/new/", {"admin"}),
        ("/changes/PeerAuthentication/shop/default/mode/", {"admin"}),
        ("/changes/PeerAuthentication/shop/default/delete/", {"admin"}),
    ],
)
@pytest.mark.parametrize("role", ["norole", "auditor", "oncall", "admin"])
def test_forms_open_only_for_roles_that_may_use_them(client, users, url, allowed, role):
    from tests.factories import policy_record, snapshot_with

    snapshot = snapshot_with(namespaces=["shop"])
    policy_record(snapshot, namespace="shop", name="default").save()
    client.force_login(users[role])
    assert client.get(url).status_code == (200 if role in allowed else 403)


def test_toggle_preview_shows_impact_yaml_kubectl_and_dry_run_then_confirm_applies(
    client, mesh, users
):
    client.force_login(users["oncall"])
    page = client.get("/namespaces/shop/mode/").content.decode()
    assert 'value="STRICT"' in page and "Preview the change" in page
    response = client.post(
        "/namespaces/shop/mode/",
        {"mode": "STRICT", "reason": "INC-5", "seen_resource_version": "absent"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Server-side dry run" in page and "The cluster accepted the change" in page
    assert "kubectl apply -f - &lt;&lt;&#x27;EOF&#x27;" in page
    assert "mode: STRICT" in page
    assert "shop/batch" in page  # becomes STRICT without a sidecar
    assert "legacy/mainframe" in page  # may call it in plaintext
    assert mesh.get("PeerAuthentication", "shop", "default") is None
    assert AuditEntry.objects.get().outcome == "dry_run"

    response = client.post(
        "/namespaces/shop/mode/",
        {"mode": "STRICT", "reason": "INC-5", "seen_resource_version": "absent", "confirm": "1"},
    )
    assert response.status_code == 302
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"
    detail = client.get(response["Location"]).content.decode()
    assert "Applied" in detail


def test_change_page_waits_for_the_cluster_then_says_it_is_in_the_snapshot(client, mesh, users):
    client.force_login(users["oncall"])
    response = client.post(
        "/namespaces/shop/mode/",
        {"mode": "STRICT", "reason": "INC-5", "seen_resource_version": "absent", "confirm": "1"},
    )
    detail_url = response["Location"]
    page = client.get(detail_url).content.decode()
    assert "Applied, waiting for the cluster" in page
    assert 'hx-trigger="every 2s"' in page
    resync()
    fragment = client.get(detail_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="change-status")
    body = fragment.content.decode()
    assert "In the snapshot" in body and "every 2s" not in body
    assert "<html" not in body


@pytest.mark.parametrize(("role", "offered"), [("oncall", True), ("auditor", False)])
def test_a_change_long_unseen_offers_a_sync_that_works_to_those_who_may_sync(
    client, mesh, users, role, offered
):
    # The offer was a link, a GET of the POST-only sync endpoint: a 405 for everybody.
    with audit_entries_dated(timezone.now() - timedelta(minutes=5)):
        changes.namespace_mode_set(
            user=users["oncall"], namespace="shop", mode="STRICT", reason="INC-5"
        )
    entry = AuditEntry.objects.get(outcome="applied")
    client.force_login(users[role])
    page = client.get(f"/changes/{entry.pk}/").content.decode()
    assert "Still not in the snapshot after" in page
    assert 'href="/sync/"' not in page
    offer = '<form method="post" action="/sync/"'
    assert (offer in page) is offered
    if offered:
        assert client.post("/sync/").status_code in (200, 302)


def test_conflicting_toggle_shows_the_new_state_and_lets_the_user_confirm_again(
    client, mesh, users
):
    changes.namespace_mode_set(
        user=users["admin"], namespace="shop", mode="PERMISSIVE", reason="meanwhile"
    )
    client.force_login(users["oncall"])
    response = client.post(
        "/namespaces/shop/mode/",
        {"mode": "STRICT", "reason": "INC-5", "seen_resource_version": "absent", "confirm": "1"},
    )
    page = response.content.decode()
    assert response.status_code == 409
    assert "changed since you looked" in page
    assert "mode: PERMISSIVE" in page  # the state now
    current = mesh.get("PeerAuthentication", "shop", "default")["metadata"]["resourceVersion"]
    assert f'name="seen_resource_version" value="{current}"' in page
    assert "Confirm again" in page


def test_field_manager_conflict_offers_the_take_over_to_whoever_may_take_it(client, mesh, users):
    import json
    import urllib.request

    from tests.changes.conftest import meshui_policy

    # meshui applied the policy when the snapshot was taken; since then it was edited by hand.
    meshui_policy(mesh, namespace="shop", mode="PERMISSIVE")
    resync()
    edit = urllib.request.Request(
        f"{mesh.url}/apis/security.istio.io/v1/namespaces/shop/peerauthentications/default"
        "?fieldManager=kubectl-edit",
        data=json.dumps({"spec": {"mtls": {"mode": "DISABLE"}}}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    urllib.request.urlopen(edit).close()  # noqa: S310 - the loopback API server double
    seen = mesh.get("PeerAuthentication", "shop", "default")["metadata"]["resourceVersion"]
    data = {"mode": "STRICT", "reason": "x", "seen_resource_version": seen, "confirm": "1"}
    client.force_login(users["auditor"])
    assert client.post("/namespaces/shop/mode/", data).status_code == 403
    client.force_login(users["oncall"])
    page = client.post("/namespaces/shop/mode/", data).content.decode()
    # The cluster's manager of the mode is a person's tool: on-call may take it over.
    assert "kubectl-edit" in page and ".spec.mtls.mode" in page
    assert 'name="force"' in page
    assert "Only an admin may take these fields over." not in page
    response = client.post("/namespaces/shop/mode/", {**data, "force": "1"})
    assert response.status_code == 302
    assert mesh.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"


def test_field_manager_conflict_with_a_reconciler_offers_force_to_admins_only(client, mesh, users):
    from tests.changes.conftest import argocd_policy

    seen = argocd_policy(mesh, namespace="shop", mode="PERMISSIVE")["metadata"]
    resync()
    data = {
        "mode": "STRICT",
        "reason": "x",
        "seen_resource_version": seen["resourceVersion"],
        "confirm": "1",
    }
    client.force_login(users["admin"])
    page = client.post("/namespaces/shop/mode/", data).content.decode()
    assert "argocd-controller" in page and ".spec.mtls.mode" in page
    assert 'name="force"' in page
    client.force_login(users["oncall"])
    assert client.post("/namespaces/shop/mode/", data).status_code == 403


def test_clusters_validation_message_lands_on_the_form(client, mesh, users):
    mesh.inject_fault(
        422,
        verb="patch",
        resource="peerauthentications",
        message="admission webhook denied: mode STRICT is frozen in shop",
    )
    client.force_login(users["oncall"])
    page = client.post("/namespaces/shop/mode/", {"mode": "STRICT", "reason": "x"}).content.decode()
    assert "admission webhook denied: mode STRICT is frozen in shop" in page
    assert 'id="confirm-change"' not in page
    assert "Nothing can be applied while the cluster refuses it." in page
    assert "Preview again" in page


def test_workload_form_offers_the_destination_rule_checked_and_previews_both(client, mesh, users):
    client.force_login(users["admin"])
    page = client.get("/changes/peer-authentication/new/?scope=workload&namespace=shop").content
    page = page.decode()
    assert (
        'name="destination_rule" checked' in page
        or 'checked name="destination_rule"' in page
        or ('name="destination_rule"' in page and "checked" in page)
    )
    response = client.post(
        "/changes/peer-authentication/new/",
        {
            "scope": "workload",
            "namespace": "shop",
            "name": "cart",
            "workload": "cart",
            "selector_labels": ["app=cart"],
            "mode": "STRICT",
            "destination_rule": "on",
            "reason": "INC-7",
        },
    )
    page = response.content.decode()
    assert "kind: DestinationRule" in page
    assert "host: cart.shop.svc.cluster.local" in page
    assert "ISTIO_MUTUAL" in page


def test_invalid_form_input_is_refused_before_the_cluster_is_asked(client, mesh, users):
    client.force_login(users["admin"])
    mesh.clear_requests()
    response = client.post(
        "/changes/peer-authentication/new/",
        {
            "scope": "workload",
            "namespace": "shop",
            "name": "Bad_Name",
            "match_labels": "app=*",
            "mode": "STRICT",
        },
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "DNS-1123" in page and "wildcard not allowed in label value match" in page
    assert cluster_writes(mesh) == []


@pytest.mark.parametrize(
    "url",
    [
        "/namespaces/Not_A_Namespace/mode/",
        "/changes/PeerAuthentication/shop/Bad_Name/mode/",
        "/changes/PeerAuthentication/shop.x/default/delete/",
        "/changes/Secret/shop/default/delete/",
    ],
)
def test_names_kubernetes_could_never_hold_are_not_found(client, users, url):
    client.force_login(users["admin"])
    assert client.post(url, {"mode": "STRICT", "reason": "x", "confirm": "1"}).status_code == 404
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("role", "offered"), [("oncall", True), ("admin", True), ("auditor", False)]
)
def test_namespace_pages_offer_the_toggle_to_those_who_may_use_it(client, users, role, offered):
    from tests.factories import snapshot_with, sync_run

    snapshot = snapshot_with(
        namespaces=[
            "shop",
            {"name": "pay", "mode": "STRICT", "source": "namespace", "policy": "pay/default"},
        ]
    )
    sync_run(snapshot=snapshot)
    client.force_login(users[role])
    listing = client.get("/namespaces/").content.decode()
    detail = client.get("/namespaces/pay/").content.decode()
    assert ('href="/namespaces/shop/mode/?mode=STRICT"' in listing) is offered
    assert ('href="/namespaces/pay/mode/?mode=PERMISSIVE"' in detail) is offered
    assert 'hx-get="/namespaces/pay/changes/"' in detail  # recent changes, for every reader


def test_workload_page_leads_admins_to_a_prefilled_workload_policy(client, users):
    from tests.factories import snapshot_with, sync_run

    sync_run(
        snapshot=snapshot_with(
            workloads=[{"namespace": "shop", "name": "cart", "labels": {"app": "cart"}}]
        )
    )
    client.force_login(users["admin"])
    page = client.get("/namespaces/shop/workloads/Deployment/cart/").content.decode()
    link = "/changes/peer-authentication/new/?scope=workload&amp;namespace=shop&amp;workload=cart"
    assert link in page
    form = client.get(link.replace("&amp;", "&")).content.decode()
    assert 'name="workload" value="cart"' in form
    assert 'name="name" value="cart"' in form
    assert 'value="app=cart"' in form and "checked" in form  # its labels, to pick from
