"""Scoped on-call: a team's on-call switches only its namespaces, named by pattern or label.

The role matrix of tests/changes/test_views.py grows a scope dimension here: role x namespace
(in scope by name, in scope by label, out of scope, system) x endpoint (toggle form, preview,
confirm; retry and rollback stay admin-only). Posture pages stay readable for every role.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.models import AuditEntry
from policies.oidc import RoleMappingOIDCBackend
from policies.selectors.oncall_scopes import oncall_scope_allows
from policies.services import changes
from policies.services.oncall_scopes import oncall_scope_create
from policies.services.sync import cluster_sync
from tests.engine.builders import deployment, labelled_namespace, namespace
from tests.factories import snapshot_with, user_with_role
from tests.oidc_support import oidc_configured

PAYMENTS = "payments-oncall"


def team_mesh() -> list[dict]:
    """Two payments namespaces (one by name, one only by label), a retail one, istio-system;
    the double has kube-system, kube-public, kube-node-lease and default already."""
    return [
        namespace("istio-system"),
        labelled_namespace("payments-api", {"team": "payments"}),
        labelled_namespace("ledger", {"team": "payments"}),
        labelled_namespace("shop", {"team": "retail"}),
        deployment("payments-api", "api", ports=[8080]),
        deployment("ledger", "books", ports=[8080]),
        deployment("shop", "cart", ports=[8080]),
    ]


@pytest.fixture
def teams(kube, db):
    """The team mesh synced into the current snapshot."""
    kube.seed(team_mesh())
    cluster_sync(trigger="test")
    return kube


@pytest.fixture
def people(users):
    """The usual users, plus Pia: on-call for payments (role group and team group)."""
    pia = user_with_role("oncall", username="pia")
    pia.groups.add(Group.objects.get_or_create(name=PAYMENTS)[0])
    return {**users, "payments": pia}


def payments_scope():
    return oncall_scope_create(
        group=PAYMENTS,
        namespace_patterns=["payments-*"],
        namespace_labels={"team": "payments"},
        created_by="test",
    )


def relabelled_snapshot(labels: dict[str, dict]) -> None:
    """A newer snapshot in which these namespaces carry these labels (as after a relabel)."""
    snapshot_with(namespaces=[{"name": name, "labels": value} for name, value in labels.items()])


def cluster_writes(kube):
    return [r for r in kube.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")]


def toggle(user, namespace):
    return changes.namespace_mode_set(user=user, namespace=namespace, mode="STRICT", reason="INC-9")


# --- The matrix: role x namespace x endpoint ---------------------------------------------------

NAMESPACES = {"payments-api": "by name", "ledger": "by label", "shop": "out of scope"}
ALLOWED = {
    "admin": {"payments-api", "ledger", "shop"},
    "payments": {"payments-api", "ledger"},
    "auditor": set(),
}
CASES = [(role, ns) for role in ALLOWED for ns in NAMESPACES]


@pytest.mark.parametrize(("role", "ns"), CASES)
def test_toggle_form_opens_only_inside_the_scope(client, teams, people, role, ns):
    payments_scope()
    client.force_login(people[role])
    response = client.get(f"/namespaces/{ns}/mode/")
    assert response.status_code == (200 if ns in ALLOWED[role] else 403)
    if role == "payments" and ns not in ALLOWED[role]:
        assert (
            "Your on-call scope (payments-*, team=payments) does not include namespace shop."
            in response.content.decode()
        )


@pytest.mark.parametrize(("role", "ns"), CASES)
def test_toggle_preview_is_refused_and_audited_outside_the_scope(client, teams, people, role, ns):
    payments_scope()
    client.force_login(people[role])
    response = client.post(f"/namespaces/{ns}/mode/", {"mode": "STRICT", "reason": "INC-9"})
    [entry] = AuditEntry.objects.all()
    if ns in ALLOWED[role]:
        assert response.status_code == 200
        assert entry.outcome == "dry_run"
    else:
        assert response.status_code == 403
        assert (entry.outcome, entry.target_namespace) == ("denied", ns)


@pytest.mark.parametrize(("role", "ns"), CASES)
def test_toggle_confirm_changes_the_cluster_only_inside_the_scope(client, teams, people, role, ns):
    payments_scope()
    client.force_login(people[role])
    teams.clear_requests()
    response = client.post(
        f"/namespaces/{ns}/mode/",
        {"mode": "STRICT", "reason": "INC-9", "seen_resource_version": "absent", "confirm": "1"},
    )
    policy = teams.get("PeerAuthentication", ns, "default")
    if ns in ALLOWED[role]:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert policy["spec"]["mtls"]["mode"] == "STRICT"
    else:
        assert response.status_code == 403
        assert cluster_writes(teams) == [] and policy is None
        assert AuditEntry.objects.get().outcome == "denied"


def paper_half_done(namespace: str) -> AuditEntry:
    return AuditEntry.objects.create(
        created_at=timezone.now(),
        username="alice",
        action="peer_authentication_apply",
        outcome="partial",
        target_namespace=namespace,
        target_name="api",
        object_sent=[],
    )


@pytest.mark.parametrize("ns", ["payments-api", "shop"])
@pytest.mark.parametrize("action", ["retry", "rollback"])
def test_retry_and_rollback_stay_admin_only_inside_the_scope_too(client, teams, people, action, ns):
    payments_scope()
    entry = paper_half_done(ns)
    client.force_login(people["payments"])
    teams.clear_requests()
    response = client.post(f"/changes/{entry.pk}/{action}/")
    assert response.status_code == 403
    assert cluster_writes(teams) == []
    denied = AuditEntry.objects.exclude(pk=entry.pk).get()
    assert denied.error == "This change needs the admin role; you have the oncall role."


# --- The service refuses, whichever way the write comes in ------------------------------------


def test_the_service_refuses_an_out_of_scope_toggle_and_says_which_scope(teams, people):
    payments_scope()
    teams.clear_requests()
    with pytest.raises(PermissionDenied) as refused:
        toggle(people["payments"], "shop")
    message = str(refused.value)
    assert message == (
        "Your on-call scope (payments-*, team=payments) does not include namespace shop."
    )
    assert cluster_writes(teams) == []
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.username, entry.error) == ("denied", "pia", message)


def test_the_service_lets_the_team_switch_its_namespaces_by_name_and_by_label(teams, people):
    payments_scope()
    toggle(people["payments"], "payments-api")
    toggle(people["payments"], "ledger")
    for ns in ("payments-api", "ledger"):
        assert teams.get("PeerAuthentication", ns, "default")["spec"]["mtls"]["mode"] == "STRICT"


def test_a_label_scope_follows_the_labels_of_the_latest_snapshot(teams, people):
    payments_scope()
    assert not oncall_scope_allows(user=people["payments"], namespace="shop")
    relabelled_snapshot({"shop": {"team": "payments"}})
    assert oncall_scope_allows(user=people["payments"], namespace="shop")
    toggle(people["payments"], "shop")


def test_the_preview_service_refuses_out_of_scope_too(teams, people):
    payments_scope()
    plan = changes.namespace_mode_plan(namespace="shop", mode="STRICT", reason="look")
    teams.clear_requests()
    with pytest.raises(PermissionDenied):
        changes.change_preview(user=people["payments"], plan=plan)
    assert teams.requests == []  # not even the dry run
    assert AuditEntry.objects.get().outcome == "denied"


def test_admins_stay_global_and_auditors_read_only_whatever_the_scopes(teams, people):
    oncall_scope_create(group="admin", namespace_patterns=["payments-*"], created_by="test")
    oncall_scope_create(group="auditor", namespace_patterns=["*"], created_by="test")
    toggle(people["admin"], "shop")
    toggle(people["admin"], "kube-system")
    with pytest.raises(PermissionDenied) as refused:
        toggle(people["auditor"], "shop")
    assert "needs the on-call or admin role" in str(refused.value)


# --- No scopes at all, system namespaces, on-call nobody named ----------------------------------


def test_without_any_scope_on_call_is_global_except_system_namespaces(teams, people):
    toggle(people["oncall"], "shop")
    toggle(people["oncall"], "ledger")
    with pytest.raises(PermissionDenied) as refused:
        toggle(people["oncall"], "kube-system")
    assert str(refused.value).startswith(
        "Your on-call scope (every namespace except the system ones: kube-system, "
    )
    assert "does not include namespace kube-system" in str(refused.value)
    assert "kube-system is a system namespace" in str(refused.value)
    assert teams.get("PeerAuthentication", "kube-system", "default") is None


@pytest.mark.parametrize(
    "system", ["kube-system", "kube-public", "kube-node-lease", "istio-system"]
)
def test_system_namespaces_are_outside_a_match_everything_scope(teams, people, system):
    oncall_scope_create(group="oncall", namespace_patterns=["*"], created_by="test")
    assert oncall_scope_allows(user=people["oncall"], namespace="shop")
    assert not oncall_scope_allows(user=people["oncall"], namespace=system)


def test_the_root_namespace_is_a_system_namespace_whatever_its_name(teams, people, settings):
    settings.MESHUI_SYSTEM_NAMESPACES = ["kube-system"]
    settings.MESHUI_ROOT_NAMESPACE = "mesh-root"  # no snapshot below: settings name the root
    from policies.models import Snapshot

    Snapshot.objects.all().delete()
    assert not oncall_scope_allows(user=people["oncall"], namespace="mesh-root")
    assert oncall_scope_allows(user=people["oncall"], namespace="istio-system")


def test_an_admin_adds_a_system_namespace_by_naming_it(teams, people):
    oncall_scope_create(group="oncall", namespace_patterns=["*", "kube-system"], created_by="t")
    assert oncall_scope_allows(user=people["oncall"], namespace="kube-system")
    assert not oncall_scope_allows(user=people["oncall"], namespace="kube-public")
    toggle(people["oncall"], "kube-system")
    assert teams.get("PeerAuthentication", "kube-system", "default") is not None


def test_an_admin_adds_system_namespaces_by_pattern_only_with_include_system(teams, people):
    oncall_scope_create(group="oncall", namespace_patterns=["kube-*"], created_by="test")
    assert not oncall_scope_allows(user=people["oncall"], namespace="kube-system")
    oncall_scope_create(
        group="oncall", namespace_patterns=["kube-*"], include_system=True, created_by="test"
    )
    assert oncall_scope_allows(user=people["oncall"], namespace="kube-system")


def test_a_system_namespace_label_does_not_bring_it_into_a_team_scope(teams, people):
    relabelled_snapshot({"kube-system": {"team": "payments"}})
    payments_scope()
    assert not oncall_scope_allows(user=people["payments"], namespace="kube-system")


def test_the_root_namespace_stays_refused_to_the_toggle_even_when_in_scope(teams, people):
    oncall_scope_create(group="oncall", namespace_patterns=["istio-system"], created_by="test")
    with pytest.raises(PermissionDenied) as refused:
        toggle(people["oncall"], "istio-system")
    assert "is Istio's root namespace" in str(refused.value)


def test_once_scopes_exist_on_call_whose_groups_none_names_switches_nothing(teams, people):
    payments_scope()
    with pytest.raises(PermissionDenied) as refused:
        toggle(people["oncall"], "shop")
    assert str(refused.value) == (
        "Your on-call scope is empty: no on-call scope names one of your groups (oncall), so "
        "you may switch no namespace. An admin adds one with `manage.py oncall_scope add`."
    )


def test_scopes_of_several_groups_add_up(teams, people):
    payments_scope()
    oncall_scope_create(group="retail-oncall", namespace_patterns=["shop"], created_by="test")
    people["payments"].groups.add(Group.objects.create(name="retail-oncall"))
    people["payments"].__dict__.pop("_meshui_groups", None)
    toggle(people["payments"], "shop")
    with pytest.raises(PermissionDenied) as refused:
        toggle(people["payments"], "kube-system")
    assert "(payments-*, team=payments; shop)" in str(refused.value)


# --- Single sign-on users ---------------------------------------------------------------------


@pytest.fixture
def oidc_map(settings):
    return oidc_configured(settings, {PAYMENTS: "oncall", "sre": "oncall", "mesh-admins": "admin"})


def test_a_single_sign_on_user_is_scoped_by_the_identity_provider_group(teams, oidc_map):
    payments_scope()
    backend = RoleMappingOIDCBackend()
    kim = backend.create_user({"email": "kim@example.com", "groups": [PAYMENTS]})
    assert not Group.objects.filter(name=PAYMENTS).exists()  # no local group needed
    assert oncall_scope_allows(user=kim, namespace="payments-api")
    assert oncall_scope_allows(user=kim, namespace="ledger")
    assert not oncall_scope_allows(user=kim, namespace="shop")
    toggle(kim, "ledger")
    with pytest.raises(PermissionDenied) as refused:
        toggle(kim, "shop")
    assert "on-call scope (payments-*, team=payments)" in str(refused.value)


def test_a_scope_added_after_login_applies_to_single_sign_on_users_at_once(teams, oidc_map):
    kim = RoleMappingOIDCBackend().create_user({"email": "kim@example.com", "groups": [PAYMENTS]})
    assert oncall_scope_allows(user=kim, namespace="shop")  # no scopes yet: global on-call
    payments_scope()
    assert not oncall_scope_allows(user=kim, namespace="shop")


def test_each_login_rereads_the_identity_provider_groups_for_the_scope(teams, oidc_map):
    payments_scope()
    oncall_scope_create(group="sre", namespace_patterns=["shop"], created_by="test")
    backend = RoleMappingOIDCBackend()
    kim = backend.create_user({"email": "kim@example.com", "groups": [PAYMENTS]})
    assert not oncall_scope_allows(user=kim, namespace="shop")
    backend.update_user(kim, {"email": "kim@example.com", "groups": ["sre"]})
    assert oncall_scope_allows(user=kim, namespace="shop")
    assert not oncall_scope_allows(user=kim, namespace="ledger")


def test_single_sign_on_admins_stay_global(teams, oidc_map):
    payments_scope()
    ada = RoleMappingOIDCBackend().create_user(
        {"email": "ada@example.com", "groups": ["mesh-admins", PAYMENTS]}
    )
    assert oncall_scope_allows(user=ada, namespace="shop")
    assert oncall_scope_allows(user=ada, namespace="kube-system")


# --- What the pages offer ---------------------------------------------------------------------


def toggle_links(page: str) -> set[str]:
    import re

    return set(re.findall(r'href="/namespaces/([^/"]+)/mode/\?mode=', page))


def test_the_namespace_list_offers_the_toggle_only_inside_the_scope(client, teams, people):
    payments_scope()
    client.force_login(people["payments"])
    page = client.get("/namespaces/").content.decode()
    assert toggle_links(page) == {"payments-api", "ledger"}
    assert 'href="/namespaces/shop/"' in page  # still listed and readable
    assert "Outside your on-call scope" in page


def test_global_on_call_and_admins_are_offered_every_namespace_but_system_and_root(
    client, teams, people
):
    teams_and_default = {"payments-api", "ledger", "shop", "default"}
    client.force_login(people["oncall"])
    assert toggle_links(client.get("/namespaces/").content.decode()) == teams_and_default
    client.force_login(people["admin"])
    # The toggle never changes the root namespace, so it is not offered there even to admins.
    assert toggle_links(client.get("/namespaces/").content.decode()) == {
        *teams_and_default,
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }


def test_auditors_are_offered_no_toggle(client, teams, people):
    client.force_login(people["auditor"])
    page = client.get("/namespaces/").content.decode()
    assert toggle_links(page) == set()
    assert '<th scope="col">Actions</th>' not in page


@pytest.mark.parametrize(("ns", "offered"), [("ledger", True), ("shop", False)])
def test_the_namespace_page_offers_the_toggle_only_inside_the_scope(
    client, teams, people, ns, offered
):
    payments_scope()
    client.force_login(people["payments"])
    response = client.get(f"/namespaces/{ns}/")
    assert response.status_code == 200  # posture pages stay readable outside the scope
    page = response.content.decode()
    assert (ns in toggle_links(page)) is offered
    note = f"Your on-call scope (payments-*, team=payments) does not include namespace {ns}."
    assert (note in page) is not offered


@pytest.mark.parametrize("url", ["/", "/namespaces/shop/", "/namespaces/shop/changes/", "/audit/"])
def test_posture_pages_outside_the_scope_stay_readable(client, teams, people, url):
    payments_scope()
    client.force_login(people["payments"])
    assert client.get(url).status_code == 200


def test_the_namespace_list_decides_the_scope_once_per_page_not_per_row(client, kube, people):
    payments_scope()
    names = [f"payments-{n:03d}" for n in range(60)] + [f"shop-{n:03d}" for n in range(60)]
    kube.seed([namespace(name) for name in names])
    cluster_sync(trigger="test")
    client.force_login(people["payments"])

    def queries(per_page: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            page = client.get(f"/namespaces/?per_page={per_page}&sort=-name").content.decode()
        assert page.count("Outside your on-call scope") >= 1
        return len(captured)

    assert queries(25) == queries(100)
