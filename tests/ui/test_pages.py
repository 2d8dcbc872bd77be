"""What each page shows, read from the snapshot, in words a user can act on."""

import re
from datetime import timedelta

import pytest
from django.test import override_settings

from policies.models import WorkloadRecord
from tests.engine.builders import (
    deployment,
    destination_rule,
    labelled_namespace,
    namespace,
    peer_auth,
    service,
)
from tests.factories import loser, reason, snapshot_from_manifests, snapshot_with, sync_run

LEDGER_PLAINTEXT = (
    "DestinationRule shop/ledger-plain sets tls.mode DISABLE for ledger.pay.svc.cluster.local, "
    "so clients in shop send plaintext to STRICT workloads (pay/ledger), which refuse it. "
    "Change the mode to ISTIO_MUTUAL, or remove the tls block."
)
LEGACY_UNENFORCED = (
    "Deployment shop/legacy is STRICT (decided by shop/legacy-strict) but has no istio-proxy "
    "sidecar and is not enrolled in ambient, so nothing enforces mTLS for it. Enable injection "
    "(namespace label istio-injection=enabled or istio.io/rev) and restart it, or enrol the "
    "namespace in ambient."
)
PAY_DUPLICATE = (
    "2 PeerAuthentications compete for the namespace-wide mode of pay: pay/default (STRICT) "
    "wins Istio's tie-break (older creation time, then name, then namespace) and is the only "
    "one Istio applies. Ignored: pay/zz-newer: pay/default was created earlier "
    "(2026-01-01T00:00:00Z; pay/zz-newer: 2026-02-01T00:00:00Z). Delete the ignored ones or "
    "merge their settings into pay/default."
)
MESH_PERMISSIVE = (
    "The mesh-wide mode is PERMISSIVE because the mesh-wide policy istio-system/default sets "
    "PERMISSIVE; workloads accept plaintext unless a narrower policy says otherwise. The "
    "recommended end state is a selector-less PeerAuthentication in istio-system with mode "
    "STRICT."
)


@pytest.fixture
def mesh(db):
    """A small mesh: a mesh-wide PERMISSIVE policy, one STRICT namespace, one inherited."""
    snapshot = snapshot_with(
        mesh_mode="PERMISSIVE",
        mesh_policy="istio-system/default",
        namespaces=[
            {
                "name": "pay",
                "mode": "STRICT",
                "source": "namespace",
                "policy": "pay/default",
                "reason": reason(
                    "STRICT",
                    level="namespace",
                    policy="pay/default",
                    mesh_mode="PERMISSIVE",
                    mesh_policy="istio-system/default",
                    losers=[loser("pay/zz-newer", mode="DISABLE", lost_because="newer")],
                ),
            },
            "shop",
        ],
        workloads=[
            {"namespace": "pay", "name": "ledger", "container_ports": [8080]},
            {
                "namespace": "shop",
                "name": "cart",
                "mode": "STRICT",
                "source": "workload",
                "policy": "shop/cart-strict",
                "ports": {"9090": "PERMISSIVE"},
                "container_ports": [8080, 9090],
                "labels": {"app": "cart"},
                "reason": {
                    **reason("STRICT", level="workload", policy="shop/cart-strict", workload=True),
                    "ports": {
                        "9090": {
                            "mode": "PERMISSIVE",
                            "level": "port",
                            "policy": "shop/cart-strict",
                            "chain": [
                                {
                                    "level": "port",
                                    "mode": "PERMISSIVE",
                                    "outcome": "decided",
                                    "winner": None,
                                    "losers": [],
                                    "note": "Port 9090 is set to PERMISSIVE by shop/cart-strict.",
                                }
                            ],
                        }
                    },
                },
            },
            {
                "namespace": "shop",
                "name": "legacy",
                "mode": "STRICT",
                "source": "workload",
                "policy": "shop/legacy-strict",
                "has_sidecar": False,
                "labels": {"app": "legacy"},
            },
            {"namespace": "shop", "name": "web", "container_ports": [8080]},
        ],
        # What the engine reports for this mesh (policies/engine/findings.py), worded as it is.
        findings=[
            {
                "code": "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT",
                "severity": "error",
                "namespace": "shop",
                "name": "ledger-plain",
                "kind": "DestinationRule",
                "message": LEDGER_PLAINTEXT,
            },
            {
                "code": "STRICT_WITHOUT_SIDECAR",
                "severity": "warning",
                "namespace": "shop",
                "name": "legacy",
                "kind": "Deployment",
                "message": LEGACY_UNENFORCED,
            },
            {
                "code": "DUPLICATE_NAMESPACE_POLICY",
                "severity": "warning",
                "namespace": "pay",
                "name": "default",
                "kind": "PeerAuthentication",
                "message": PAY_DUPLICATE,
            },
            {
                "code": "MESH_PERMISSIVE",
                "severity": "info",
                "namespace": "istio-system",
                "name": "default",
                "kind": "PeerAuthentication",
                "message": MESH_PERMISSIVE,
            },
        ],
        policies=[
            {"namespace": "istio-system", "name": "default", "mode": "PERMISSIVE", "scope": "mesh"},
            {"namespace": "pay", "name": "default", "mode": "STRICT"},
            {
                "namespace": "pay",
                "name": "zz-newer",
                "mode": "DISABLE",
                "status": "shadowed",
                "status_reason": "An older namespace-wide policy wins.",
            },
            {
                "namespace": "shop",
                "name": "cart-strict",
                "mode": "STRICT",
                "selector": {"app": "cart"},
                "port_modes": {"9090": "PERMISSIVE"},
            },
            {
                "namespace": "shop",
                "name": "legacy-strict",
                "mode": "STRICT",
                "selector": {"app": "legacy"},
            },
            {
                "kind": "DestinationRule",
                "namespace": "shop",
                "name": "cart",
                "mode": "ISTIO_MUTUAL",
            },
            {
                "kind": "DestinationRule",
                "namespace": "shop",
                "name": "ledger-plain",
                "host": "ledger.pay.svc.cluster.local",
                "mode": "DISABLE",
            },
        ],
        services=[
            {"namespace": "shop", "name": "cart-svc", "selector": {"app": "cart"}},
            {"namespace": "pay", "name": "ledger", "selector": {"app": "ledger"}},
        ],
    )
    sync_run(snapshot=snapshot)
    return snapshot


def text(response) -> str:
    """The page's HTML without <wbr> (a break opportunity, invisible to the reader)."""
    return response.content.decode().replace("<wbr>", "")


# --- Overview ------------------------------------------------------------------------------


def test_overview_shows_mesh_mode_and_the_policy_behind_it(auditor_client, mesh):
    page = text(auditor_client.get("/"))
    assert "Mesh-wide mode" in page
    assert '<span class="badge badge-PERMISSIVE"' in page
    assert "Set by <code>istio-system/default</code>" in page


def test_overview_never_calls_permissive_secured(auditor_client, mesh):
    page = text(auditor_client.get("/")).lower()
    assert "not</strong> required to be encrypted" in page
    assert "secured" not in page
    assert "🔒" not in page


def test_overview_headline_is_strict_enforced_then_declared(auditor_client, mesh):
    page = text(auditor_client.get("/"))
    # ledger by pay's namespace policy, cart and legacy by their own; shop/web is PERMISSIVE.
    # Only ledger is enforced: cart's port 9090 is PERMISSIVE (not declared) and legacy has
    # no sidecar (declared, on paper only). The workload-wide mode alone would say 75%.
    assert 'Workloads <span class="count">4</span>' in page
    assert 'Namespaces <span class="count">2</span>' in page
    assert "<strong>25%</strong> of workloads STRICT enforced" in page
    assert "STRICT declared: <strong>50%</strong> (2 of 4)" in page
    assert "1 STRICT on paper only" in page
    assert page.index("STRICT enforced") < page.index("STRICT declared")


def test_overview_lists_findings_by_severity_worst_first(auditor_client, mesh):
    page = text(auditor_client.get("/"))
    assert "1 error" in page and "2 warnings" in page and "1 info" in page
    assert (
        page.index("DESTINATION_RULE_DISABLES_MTLS_TO_STRICT")
        < page.index("STRICT_WITHOUT_SIDECAR")
        < page.index("MESH_PERMISSIVE")
    )


def test_overview_shows_last_sync_time_duration_and_result(auditor_client, mesh):
    page = text(auditor_client.get("/"))
    assert "Last sync" in page
    assert "Succeeded" in page
    assert "1200 ms" in page
    assert "Stale data" not in page


def test_overview_without_a_snapshot_says_so(auditor_client, db):
    page = text(auditor_client.get("/"))
    assert "No snapshot yet" in page
    assert "No data yet." in page


def test_stale_banner_when_the_last_sync_failed(auditor_client, mesh):
    sync_run(status="failed", error="Forbidden: cannot list pods", ago=timedelta(seconds=1))
    page = text(auditor_client.get("/"))
    assert "Stale data." in page
    assert "The last sync failed" in page
    assert "Forbidden: cannot list pods" in page


@override_settings(MESHUI_SYNC_INTERVAL=60)
def test_stale_banner_when_last_good_sync_is_older_than_three_intervals(auditor_client, db):
    snapshot = snapshot_from_manifests([namespace("shop")])
    sync_run(snapshot=snapshot, ago=timedelta(minutes=4))
    page = text(auditor_client.get("/namespaces/"))
    assert "Stale data." in page
    assert "more than 3 sync intervals" in page


@override_settings(MESHUI_SYNC_INTERVAL=60)
def test_a_no_change_sync_keeps_old_data_fresh(auditor_client, db):
    snapshot = snapshot_from_manifests([namespace("shop")])
    sync_run(snapshot=snapshot, ago=timedelta(hours=2))
    sync_run(status="no_change", ago=timedelta(seconds=10))
    assert "Stale data." not in text(auditor_client.get("/"))


@override_settings(MESHUI_SYNC_INTERVAL=600, MESHUI_SYNC_TIME_LIMIT=300)
def test_a_sync_stuck_running_past_its_time_limit_makes_the_data_stale(auditor_client, db):
    snapshot = snapshot_from_manifests([namespace("shop")])
    sync_run(snapshot=snapshot, ago=timedelta(minutes=10))  # well within 3 intervals
    sync_run(status="running", ago=timedelta(minutes=6))  # its worker died
    page = text(auditor_client.get("/"))
    assert "Stale data." in page
    assert "The last sync never finished" in page
    assert "A sync is running" not in page


@override_settings(MESHUI_SYNC_INTERVAL=60, MESHUI_SYNC_TIME_LIMIT=300)
def test_a_sync_running_now_keeps_fresh_data_fresh(auditor_client, db):
    snapshot = snapshot_from_manifests([namespace("shop")])
    sync_run(snapshot=snapshot, ago=timedelta(minutes=1))
    sync_run(status="running", ago=timedelta(seconds=20))
    page = text(auditor_client.get("/"))
    assert "Stale data." not in page
    assert "A sync is running" in page


# --- Namespace detail ----------------------------------------------------------------------


def test_namespace_detail_explains_why_with_winner_and_losers(auditor_client, mesh):
    page = text(auditor_client.get("/namespaces/pay/"))
    assert "Why this mode?" in page
    assert "decided at the <strong>namespace</strong> level by <code>pay/default</code>" in page
    assert "overridden by a more specific level" in page  # the mesh step
    assert "Ignored: <code>pay/zz-newer</code> (DISABLE)" in page
    assert "lost because it was created later, and the older creation time wins" in page


def test_namespace_detail_lists_workloads_policies_and_findings(auditor_client, mesh):
    page = text(auditor_client.get("/namespaces/shop/"))
    assert 'href="/namespaces/shop/workloads/Deployment/cart/"' in page
    assert '9090: <span class="badge badge-PERMISSIVE"' in page  # port override
    assert "no sidecar" in page
    assert "cart-strict" in page and "ISTIO_MUTUAL" in page  # PA and DR
    assert "nothing enforces mTLS for it" in page  # shop/legacy's finding


def test_policy_yaml_is_shown_without_managed_fields(auditor_client, mesh):
    page = text(auditor_client.get("/namespaces/shop/"))
    assert "kind: PeerAuthentication" in page
    assert "matchLabels:" in page
    assert "managedFields" not in page


def test_unknown_namespace_is_a_404_in_words(auditor_client, mesh):
    response = auditor_client.get("/namespaces/nowhere/")
    assert response.status_code == 404
    assert "is not in the current snapshot" in text(response)


# --- Workload detail -----------------------------------------------------------------------


def test_workload_detail_shows_each_port_with_its_own_reason(auditor_client, mesh):
    page = text(auditor_client.get("/namespaces/shop/workloads/Deployment/cart/"))
    assert "Per port" in page
    assert '<th scope="row">9090</th>' in page
    assert "Port 9090 is set to PERMISSIVE by shop/cart-strict." in page
    assert '<th scope="row">8080</th>' in page
    assert "no port setting: the workload's mode applies" in page


def test_workload_detail_names_the_deciding_policy_and_its_services(auditor_client, mesh):
    page = text(auditor_client.get("/namespaces/shop/workloads/Deployment/cart/"))
    assert "Deciding policy <code>shop/cart-strict</code>" in page
    assert "cart-svc" in page


def test_workload_without_sidecar_is_flagged(auditor_client, mesh):
    page = text(auditor_client.get("/namespaces/shop/workloads/Deployment/legacy/"))
    assert "No sidecar" in page


# --- Policies and findings -----------------------------------------------------------------


def test_policies_page_lists_peer_authentications_and_destination_rules(auditor_client, mesh):
    page = text(auditor_client.get("/policies/"))
    peer_authentications = page[page.index('id="pa-table"') : page.index('id="dr-title"')]
    assert "Showing 1–5 of 5" in peer_authentications
    assert "shadowed" in peer_authentications
    assert "An older namespace-wide policy wins." in peer_authentications
    assert "app=cart" in peer_authentications
    assert '9090: <span class="badge badge-PERMISSIVE"' in peer_authentications
    destination_rules = page[page.index('id="dr-table"') :]
    assert "cart.shop.svc.cluster.local" in destination_rules
    assert "ISTIO_MUTUAL" in destination_rules
    assert "ledger.pay.svc.cluster.local" in destination_rules


def test_policies_page_filters_by_namespace_and_mode(auditor_client, mesh):
    page = text(auditor_client.get("/policies/?namespace=pay&mode=DISABLE"))
    peer_authentications = page[page.index('id="pa-table"') : page.index('id="dr-title"')]
    assert "Showing 1–1 of 1" in peer_authentications
    assert "zz-newer" in peer_authentications
    assert "No DestinationRule matches these filters." in page  # the namespace applies to both


def test_policies_page_can_show_one_kind(auditor_client, mesh):
    page = text(auditor_client.get("/policies/?kind=DestinationRule&tls_mode=ISTIO_MUTUAL"))
    assert 'id="pa-table"' not in page
    assert "cart.shop.svc.cluster.local" in page


def test_policy_tables_page_independently(auditor_client, db):
    snapshot_from_manifests(
        [
            namespace("shop"),
            # Workload policies, so no verdict names another (a shadowed one names its winner).
            *[
                peer_auth("shop", f"pa-{i:02d}", mode="STRICT", selector={"app": f"pa-{i:02d}"})
                for i in range(30)
            ],
            *[
                destination_rule("shop", f"dr-{i:02d}", f"dr-{i:02d}.shop.svc.cluster.local")
                for i in range(30)
            ],
        ]
    )
    response = auditor_client.get(
        "/policies/?per_page=25&pa_page=2",
        headers={"HX-Request": "true", "HX-Target": "pa-table"},
    )
    page = text(response)
    assert page.lstrip().startswith('<div id="pa-table"')
    assert "pa-29" in page and "pa-00" not in page
    full = text(auditor_client.get("/policies/?per_page=25&pa_page=2"))
    assert "dr-00" in full  # the DestinationRules stay on their first page
    assert 'href="?per_page=25&amp;pa_page=2&amp;dr_page=2"' in full


def test_policy_detail_shows_the_manifest_as_yaml(auditor_client, mesh):
    page = text(auditor_client.get("/policies/PeerAuthentication/shop/cart-strict/"))
    assert "portLevelMtls:" in page
    assert "&#x27;9090&#x27;:" in page or "9090:" in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("?severity=error", "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT", "STRICT_WITHOUT_SIDECAR"),
        ("?code=STRICT_WITHOUT_SIDECAR", "nothing enforces mTLS", "send plaintext"),
        ("?namespace=shop&severity=warning", "shop/legacy is STRICT", "pay/default (STRICT)"),
    ],
)
def test_findings_filter_by_code_severity_and_namespace(auditor_client, mesh, query, shown, hidden):
    page = text(auditor_client.get(f"/findings/{query}"))
    table = page[page.index('id="finding-table"') :]
    assert shown in table
    assert hidden not in table


@pytest.mark.parametrize(
    "url",
    [
        "/findings/?severity=fatal",
        "/policies/?kind=Gateway",
        "/namespaces/?page=zero",
        "/namespaces/?per_page=100000",
        "/namespaces/?sort=password",
        "/namespaces/shop/?page=minus-one",
    ],
)
def test_bad_filters_answer_400_with_a_message(auditor_client, mesh, url):
    response = auditor_client.get(url)
    assert response.status_code == 400
    assert "This filter cannot be applied." in text(response)


def test_workload_ports_are_listed_in_number_order(auditor_client, db):
    snapshot_from_manifests(
        [
            namespace("shop"),
            peer_auth("shop", "api", selector={"app": "api"}, ports={9090: "PERMISSIVE"}),
            deployment("shop", "api", ports=[15090, 8080, 9090]),
        ]
    )
    page = auditor_client.get("/namespaces/shop/workloads/Deployment/api/").content.decode()
    rows = [page.index(f'<th scope="row">{port}</th>') for port in (8080, 9090, 15090)]
    assert rows == sorted(rows)
    assert "shop/api sets port 9090 to PERMISSIVE." in page


def test_findings_link_to_the_object_they_are_about(auditor_client, mesh):
    page = text(auditor_client.get("/findings/"))
    assert 'Deployment <a href="/namespaces/shop/workloads/Deployment/legacy/">legacy</a>' in page


def test_workload_page_shows_a_destination_rule_elsewhere_that_breaks_it(auditor_client, db):
    # legacy's own DISABLE rule for pay's ledger: a finding about legacy/ledger-plain that
    # the STRICT ledger's page must show, counted on its row too.
    snapshot_from_manifests(
        [
            labelled_namespace("pay", {"istio-injection": "enabled"}),
            labelled_namespace("legacy", {}),
            peer_auth("pay", mode="STRICT"),
            deployment("pay", "ledger", ports=[8080]),
            service("pay", "ledger"),
            destination_rule(
                "legacy", "ledger-plain", "ledger.pay.svc.cluster.local", "DISABLE", export_to=["."]
            ),
        ]
    )
    page = text(auditor_client.get("/namespaces/pay/workloads/Deployment/ledger/"))
    assert "DESTINATION_RULE_DISABLES_MTLS_TO_STRICT" in page
    assert 'href="/namespaces/legacy/">legacy</a>' in page
    assert "clients in legacy send plaintext to STRICT workloads (pay/ledger)" in page
    assert WorkloadRecord.objects.get(name="ledger").findings_count == 1


def test_policy_detail_says_its_verdict_in_one_sentence_with_one_full_stop(auditor_client, db):
    snapshot_from_manifests(
        [
            namespace("shop"),
            deployment("shop", "cart"),
            peer_auth("shop", "cart-strict", mode="STRICT", selector={"app": "cart"}),
        ]
    )
    html = text(auditor_client.get("/policies/PeerAuthentication/shop/cart-strict/"))
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert "Scope workload, mode STRICT, effective: It applies to 1 of the 1 workloads it " in words
    assert "selects. " in words
    assert ".." not in words
