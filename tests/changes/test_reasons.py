"""Every change needs a reason, from every role, by every way into a write (issue 15): the
forms say so before anything is asked of the cluster, and the services refuse it again, audited,
so a hand-made request without one changes nothing."""

import pytest

from policies.models import AuditEntry
from policies.reasons import REASON_MAX_LENGTH, REASON_REQUIRED, reason_problem
from policies.services import changes
from tests.changes.conftest import half_done_pair, resync
from tests.changes.test_views import PERMITTED, cluster_writes, endpoint, stage  # noqa: F401


@pytest.mark.parametrize(("name", "role"), PERMITTED)
def test_every_write_endpoint_refuses_a_change_without_a_reason_for_every_role(
    client,
    mesh,
    users,
    stage,  # noqa: F811
    name,
    role,
):
    url, data = endpoint(name, stage)
    client.force_login(users[role])
    mesh.clear_requests()
    response = client.post(url, {**data, "reason": "   ", "confirm": "1"})
    assert response.status_code == 400
    assert REASON_REQUIRED in response.content.decode()
    assert cluster_writes(mesh) == []


def test_the_reason_rule_is_one_rule():
    assert reason_problem("") == REASON_REQUIRED
    assert reason_problem(" \n ") == REASON_REQUIRED
    assert reason_problem("INC-1") == ""
    assert "1000 characters" in reason_problem("x" * (REASON_MAX_LENGTH + 1))


SERVICES = {
    "toggle": lambda users, pending: changes.namespace_mode_set(
        user=users["admin"], namespace="shop", mode="STRICT", reason=" "
    ),
    "create": lambda users, pending: changes.peer_authentication_apply(
        user=users["admin"],
        plan=changes.peer_authentication_plan(
            scope="namespace", namespace="shop", name="default", spec={"mtls": {"mode": "STRICT"}}
        ),
    ),
    "mode": lambda users, pending: changes.peer_authentication_mode_update(
        user=users["admin"],
        namespace="shop",
        name="cart",
        mode="STRICT",
        resource_version="1",
        reason="",
    ),
    "delete": lambda users, pending: changes.policy_delete(
        user=users["admin"],
        kind="PeerAuthentication",
        namespace="shop",
        name="cart",
        resource_version="1",
        reason="\t",
    ),
    "retry": lambda users, pending: changes.change_retry(
        user=users["admin"], entry_id=pending.pk, reason=""
    ),
    "rollback": lambda users, pending: changes.change_rollback(
        user=users["admin"], entry_id=pending.pk, reason=" "
    ),
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_change_service_refuses_a_blank_reason_and_audits_it(mesh, users, name):
    pending = half_done_pair(mesh, users)
    resync()
    mesh.clear_requests()
    with pytest.raises(changes.ChangeFailure) as refused:
        SERVICES[name](users, pending)
    assert refused.value.field_errors == {"reason": [REASON_REQUIRED]}
    assert refused.value.entry.outcome == AuditEntry.Outcome.FAILED
    assert refused.value.entry.error == REASON_REQUIRED
    assert cluster_writes(mesh) == []


def test_retry_and_rollback_record_the_users_own_reason(mesh, users):
    pending = half_done_pair(mesh, users)
    resync()
    result = changes.change_rollback(
        user=users["admin"], entry_id=pending.pk, reason="INC-9 the DR is not coming"
    )
    assert result.entry.reason == "INC-9 the DR is not coming"


def test_the_change_page_asks_for_the_reason_of_a_retry_and_shows_the_error(client, mesh, users):
    pending = half_done_pair(mesh, users)
    client.force_login(users["admin"])
    page = client.get(f"/changes/{pending.pk}/").content.decode()
    assert 'name="reason"' in page
    assert 'class="danger"' in page  # rolling back looks destructive
    response = client.post(f"/changes/{pending.pk}/rollback/", {"reason": ""})
    assert response.status_code == 400
    assert REASON_REQUIRED in response.content.decode()
    assert mesh.get("PeerAuthentication", "shop", "cart") is not None
