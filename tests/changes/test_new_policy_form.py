"""The new-policy form (issue 15): the scope first, then only that scope's fields; pickers over
the snapshot (htmx partials, plain links without JavaScript); a workload's labels ticked, not
typed; a second namespace-wide or mesh-wide policy stopped before the preview."""

import pytest

from policies.models import AuditEntry
from tests.changes.conftest import resync, seed_policy

NEW = "/changes/peer-authentication/new/"


def cart_policy(**overrides) -> dict:
    """What the form posts for a workload policy on shop/cart, picked by its label."""
    return {
        "scope": "workload",
        "namespace": "shop",
        "workload": "cart",
        "selector_labels": ["app=cart"],
        "name": "cart",
        "mode": "STRICT",
        **overrides,
    }


@pytest.fixture
def admin(client, users):
    client.force_login(users["admin"])
    return client


def test_the_first_step_asks_only_for_the_scope(admin, mesh):
    page = admin.get(NEW).content.decode()
    assert 'id="policy-target"' in page and 'method="get"' in page
    assert page.count('name="scope"') == 3
    assert 'id="step-policy"' not in page  # no policy fields before a scope is picked
    assert 'name="match_labels"' not in page and 'name="port_modes"' not in page


def test_mesh_scope_shows_name_mode_and_reason_only(admin, mesh):
    page = admin.get(f"{NEW}?scope=mesh").content.decode()
    assert "Written to <code>istio-system</code>" in page
    policy = page[page.index('id="step-policy"') :]
    for absent in ("selector_labels", "match_labels", "port_modes", "destination_rule"):
        assert f'name="{absent}"' not in policy
    for present in ("name", "mode", "reason"):
        assert f'name="{present}"' in policy


def test_namespace_scope_waits_for_a_namespace_and_lists_matches_as_links(admin, mesh):
    page = admin.get(f"{NEW}?scope=namespace&namespace=sh").content.decode()
    assert 'id="step-policy"' not in page
    assert f'<a href="{NEW}?scope=namespace&amp;namespace=shop"' in page
    assert '<option value="shop">' in page  # the datalist for browsers without htmx
    picked = admin.get(f"{NEW}?scope=namespace&namespace=shop").content.decode()
    assert "Namespace <strong>shop</strong> ✓" in picked
    assert 'name="namespace" value="shop"' in picked[picked.index('id="step-policy"') :]
    assert 'name="port_modes"' not in picked


def test_the_namespace_picker_answers_htmx_with_its_matches_only(admin, mesh):
    response = admin.get(
        f"{NEW}?scope=workload&namespace=leg",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="namespace-matches",
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="namespace-matches"')
    assert "<html" not in page
    assert "namespace=legacy" in page and "namespace=shop" not in page


def test_no_match_says_so_and_a_bad_search_is_an_error_not_a_500(admin, mesh):
    page = admin.get(f"{NEW}?scope=namespace&namespace=zzz").content.decode()
    assert "No namespace in the snapshot matches “zzz”" in page
    response = admin.get(f"{NEW}?scope=namespace&namespace=%3Cscript%3E")
    assert response.status_code == 200
    assert "no such name can exist" in response.content.decode()


def test_workload_picker_shows_each_workloads_labels_then_ticks_them(admin, mesh):
    page = admin.get(f"{NEW}?scope=workload&namespace=shop").content.decode()
    assert "workload=cart" in page and "workload=batch" in page
    assert '<code class="small label">app=cart</code>' in page
    picked = admin.get(f"{NEW}?scope=workload&namespace=shop&workload=cart").content.decode()
    policy = picked[picked.index('id="step-policy"') :]
    assert 'name="selector_labels" value="app=cart"' in policy and "checked" in policy
    assert 'name="match_labels"' not in policy  # picked, not typed
    assert 'name="port_modes"' in policy and 'name="destination_rule"' in policy


def test_a_workload_policy_from_ticked_labels_previews_its_selector(admin, mesh):
    page = admin.post(NEW, cart_policy(reason="INC-12")).content.decode()
    yaml = page[page.index('id="change-yaml"') :]
    assert "matchLabels:" in yaml and "app: cart" in yaml
    # The confirm form carries every ticked label.
    assert '<input type="hidden" name="selector_labels" value="app=cart">' in page


def test_a_second_namespace_wide_policy_is_stopped_before_the_preview(admin, mesh):
    seed_policy(mesh, namespace="shop", name="default", mode="PERMISSIVE")
    resync()
    page = admin.get(f"{NEW}?scope=namespace&namespace=shop").content.decode()
    assert 'id="ignored-policy"' in page
    assert "shop/default (mode PERMISSIVE" in page
    assert "the oldest (then the first by name)" in page
    assert 'href="/changes/PeerAuthentication/shop/default/mode/"' in page
    assert 'id="step-policy"' not in page  # no form that would write an ignored policy
    mesh.clear_requests()
    response = admin.post(
        NEW,
        {
            "scope": "namespace",
            "namespace": "shop",
            "name": "strict-too",
            "mode": "STRICT",
            "reason": "INC-13",
        },
    )
    assert response.status_code == 400
    assert "would be ignored" in response.content.decode()
    assert "Server-side dry run" not in response.content.decode()  # no preview
    assert [r for r in mesh.requests if r.method != "GET"] == []
    assert not AuditEntry.objects.filter(outcome="dry_run").exists()


def test_a_second_mesh_wide_policy_is_stopped_too(admin, mesh):
    seed_policy(mesh, namespace="istio-system", name="default", mode="STRICT")
    resync()
    page = admin.get(f"{NEW}?scope=mesh").content.decode()
    assert "Istio would ignore a new mesh-wide policy here" in page
    assert "istio-system/default (mode STRICT" in page


def test_a_workload_policy_in_the_root_namespace_is_refused(admin, mesh):
    response = admin.post(
        NEW,
        cart_policy(namespace="istio-system", workload="", match_labels="app=x", reason="INC-14"),
    )
    assert response.status_code == 400
    assert "Istio ignores PeerAuthentications with a selector in its root namespace" in (
        response.content.decode()
    )


def test_the_offer_to_edit_opens_the_mode_form_with_the_mode_asked_for(admin, mesh):
    seed_policy(mesh, namespace="shop", name="default", mode="PERMISSIVE")
    resync()
    page = admin.get("/changes/PeerAuthentication/shop/default/mode/?mode=STRICT").content.decode()
    assert '<option value="STRICT" selected>' in page


def test_an_auditor_gets_no_form(client, users, mesh):
    client.force_login(users["auditor"])
    assert client.get(f"{NEW}?scope=mesh").status_code == 403


def test_typing_an_exact_name_offers_to_use_it_in_place(admin, mesh):
    page = admin.get(
        f"{NEW}?scope=workload&namespace=shop&workload=cart",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="workload-matches",
    ).content.decode()
    assert page.lstrip().startswith('<div id="workload-matches"')
    assert "Workload <strong>cart</strong>" in page
    assert 'hx-target="#policy-builder"' in page and ">Use cart</a>" in page


def test_without_a_snapshot_the_picker_says_to_sync_first(client, users, db):
    client.force_login(users["admin"])
    page = client.get(f"{NEW}?scope=namespace").content.decode()
    assert "There is no snapshot to pick from yet: sync the cluster first." in page


def test_back_to_the_form_from_the_preview_keeps_the_scope_and_the_picks(admin, mesh):
    page = admin.post(
        NEW, cart_policy(mode="PERMISSIVE", reason="INC-15", edit="1")
    ).content.decode()
    assert "Workload <strong>cart</strong>" in page
    policy = page[page.index('id="step-policy"') :]
    assert 'value="PERMISSIVE" selected' in policy
    assert 'value="app=cart"' in policy and "INC-15" in policy
