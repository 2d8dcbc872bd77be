"""The compare page lists only real changes, in words that match them (issue 13 §4).

A workload whose effective mode on every port is the same at both dates did not change, even
when its stored port list did (a policy naming a port with the mode it had anyway); a
change of port modes alone is "ports changed", not a change of mode; a namespace present at
only one date was added or removed, and says which.
"""

import pytest

from tests.reports.builders import moment, snapshot_build

pytestmark = pytest.mark.django_db


def workload(namespace, name, mode, **ports):
    return {"namespace": namespace, "name": name, "mode": mode, "ports": ports}


@pytest.fixture
def history():
    """cart: PERMISSIVE at both dates, its policy naming 9090 PERMISSIVE only at the second;
    ledger: STRICT at both, its port 8443 DISABLE at the second; gone removed, new added."""
    before = ("2026-11-01 09:00", "gone", {}, {})
    after = ("2026-11-05 10:01", "new", {"9090": "PERMISSIVE"}, {"8443": "DISABLE"})
    for taken_at, extra, cart_ports, ledger_ports in (before, after):
        snapshot_build(
            taken_at=moment(taken_at),
            namespaces={"shop": "PERMISSIVE", "billing": "STRICT", extra: "STRICT"},
            workloads=[
                workload("shop", "cart", "PERMISSIVE", **cart_ports),
                workload("billing", "ledger", "STRICT", **ledger_ports),
            ],
        )


def compare_page(client_as, auditor_user) -> str:
    return (
        client_as(auditor_user)
        .get("/reports/compare/", {"from": "2026-11-02", "to": "2026-11-10"})
        .content.decode()
    )


def test_compare_does_not_list_a_workload_whose_effective_modes_did_not_move(
    client_as, auditor_user, history
):
    page = compare_page(client_as, auditor_user)
    assert "cart" not in page
    assert "Workloads that changed (1)" in page


def test_compare_says_ports_changed_when_only_port_modes_moved(client_as, auditor_user, history):
    page = compare_page(client_as, auditor_user)
    assert "ports changed: 8443 STRICT → DISABLE" in page
    assert "changed mode" not in page


def test_compare_says_which_namespaces_were_added_and_removed(client_as, auditor_user, history):
    page = compare_page(client_as, auditor_user)
    assert "Namespaces that changed (2)" in page
    assert "removed: not in the second snapshot" in page
    assert "added: not in the first snapshot" in page
    assert "no longer exists" not in page
