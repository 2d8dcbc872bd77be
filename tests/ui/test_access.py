"""Who may open which page: anonymous → login, no role → 403, every role reads everything."""

import pytest

from tests.engine.builders import deployment, namespace, peer_auth
from tests.factories import snapshot_from_manifests, sync_run

READ_PAGES = [
    "/",
    "/namespaces/",
    "/namespaces/shop/",
    "/namespaces/shop/workloads/Deployment/cart/",
    "/policies/",
    "/policies/?kind=DestinationRule",
    "/policies/PeerAuthentication/shop/default/",
    "/findings/",
    "/sync/status/",
]


@pytest.fixture
def shop_snapshot(db):
    snapshot = snapshot_from_manifests(
        [namespace("shop"), peer_auth("shop", mode="STRICT"), deployment("shop", "cart")]
    )
    sync_run(snapshot=snapshot)
    return snapshot


@pytest.mark.parametrize("url", READ_PAGES)
def test_anonymous_visitor_is_sent_to_login_with_the_page_to_return_to(client, shop_snapshot, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", READ_PAGES)
def test_logged_in_user_without_a_role_is_refused_and_told_why(client_for, shop_snapshot, url):
    response = client_for(None).get(url)
    assert response.status_code == 403
    assert b"has no meshui role" in response.content


@pytest.mark.parametrize("role", ["admin", "oncall", "auditor"])
@pytest.mark.parametrize("url", READ_PAGES)
def test_every_role_can_read_every_page(client_for, shop_snapshot, role, url):
    response = client_for(role).get(url)
    assert response.status_code == 200
    assert f'· <span class="role">{role}</span>'.encode() in response.content


def test_login_page_and_health_check_are_public(client, db):
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("role", ["admin", "oncall"])
def test_admins_and_oncall_see_the_sync_button(client_for, shop_snapshot, role):
    assert b"Sync now" in client_for(role).get("/").content


def test_auditors_see_no_sync_button(client_for, shop_snapshot):
    assert b"Sync now" not in client_for("auditor").get("/").content


def test_auditor_cannot_start_a_sync_even_by_posting_directly(client_for, shop_snapshot):
    response = client_for("auditor").post("/sync/")
    assert response.status_code == 403


def test_pages_refuse_other_methods(client_for, shop_snapshot):
    client = client_for("admin")
    assert client.post("/namespaces/").status_code == 405
    assert client.get("/sync/").status_code == 405


def test_namespace_actions_slot_is_rendered_only_for_roles_that_may_toggle(
    client_for, shop_snapshot
):
    assert b'<th scope="col">Actions</th>' in client_for("oncall").get("/namespaces/").content
    assert b'<th scope="col">Actions</th>' not in client_for("auditor").get("/namespaces/").content


def test_a_user_without_a_role_is_not_offered_pages_they_cannot_open(client_for, shop_snapshot):
    page = client_for(None).get("/").content.decode()
    assert 'aria-label="Main"' not in page
    assert "Back to the overview" not in page
    assert "Log out" in page


def test_a_role_refused_an_action_is_pointed_back_to_the_overview(client_for, shop_snapshot):
    page = client_for("auditor").post("/sync/").content.decode()
    assert "Your role (<strong>auditor</strong>) does not allow this action." in page
    assert "Back to the overview" in page
