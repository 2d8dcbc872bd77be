"""Exempt namespaces and workloads are shown as such on the browsing pages, and the overview
scores coverage as the report does: exempt rows below STRICT leave the share while valid."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import snapshot_with
from tests.reports.builders import exemption_build


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def mesh(db):
    """legacy (PERMISSIVE, exempt), shop (PERMISSIVE, one exempt workload), pay (STRICT)."""
    snapshot_with(
        mesh_mode="PERMISSIVE",
        namespaces=[
            {"name": "legacy", "mode": "PERMISSIVE"},
            {"name": "shop", "mode": "PERMISSIVE"},
            {"name": "pay", "mode": "STRICT", "source": "namespace", "policy": "pay/default"},
        ],
        workloads=[
            {"namespace": "legacy", "name": "batch", "mode": "PERMISSIVE"},
            {"namespace": "shop", "name": "cart", "mode": "PERMISSIVE"},
            {"namespace": "shop", "name": "web", "mode": "PERMISSIVE"},
            {"namespace": "pay", "name": "ledger", "mode": "STRICT"},
        ],
    )
    now = timezone.now()
    exemption_build(
        namespace="legacy",
        created_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=30),
        owner="team-legacy",
        justification="mainframe bridge speaks plaintext",
    )
    exemption_build(
        namespace="shop",
        workload="cart",
        created_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=10),
        owner="team-cart",
        justification="payment gateway callback",
    )
    # Neither an expired nor a revoked exemption makes a row exempt.
    exemption_build(
        namespace="shop",
        workload="web",
        created_at=now - timedelta(days=20),
        expires_at=now - timedelta(days=1),
    )
    exemption_build(
        namespace="pay",
        created_at=now - timedelta(days=5),
        expires_at=now + timedelta(days=5),
        revoked_at=now - timedelta(days=1),
    )
    return now


def _row(html: str, name: str) -> str:
    """The table row whose header cell links to `name`."""
    for row in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S):
        if re.search(rf">{re.escape(name)}</a>", row):
            return row
    raise AssertionError(f"no row for {name}")


def test_namespace_list_badges_exempt_namespaces_only(auditor_client, mesh):
    page = auditor_client.get("/namespaces/").content.decode()
    legacy = _row(page, "legacy")
    expires = (mesh + timedelta(days=30)).strftime("%Y-%m-%d")
    assert 'class="exempt"' in legacy
    assert f"Exempt until {expires}" in legacy
    assert "owner team-legacy: mainframe bridge speaks plaintext" in legacy
    # A workload's exemption does not make its namespace exempt; a revoked one is over.
    assert "Exempt until" not in _row(page, "shop")
    assert "Exempt until" not in _row(page, "pay")


def test_namespace_list_htmx_table_badges_exempt_namespaces(auditor_client, mesh):
    response = auditor_client.get(
        "/namespaces/?q=leg", headers={"HX-Request": "true", "HX-Target": "namespace-table"}
    )
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert "Exempt until" in _row(fragment, "legacy")


def test_namespace_page_says_the_namespace_and_its_workloads_are_exempt(auditor_client, mesh):
    page = auditor_client.get("/namespaces/legacy/").content.decode()
    text = _text(page)
    assert "Exempt until" in _text(page.split("</h1>")[0])
    assert "(owner team-legacy): mainframe bridge speaks plaintext" in text
    assert "left out of the coverage score" in text
    # The namespace's exemption covers its workloads too.
    assert "Exempt until" in _row(page, "batch")


def test_namespace_page_badges_only_the_exempt_workload(auditor_client, mesh):
    page = auditor_client.get("/namespaces/shop/").content.decode()
    assert "Exempt until" not in page.split("</h1>")[0]
    assert "Exempt until" in _row(page, "cart")
    # web's exemption expired yesterday: no badge.
    assert "Exempt until" not in _row(page, "web")


def test_workload_page_names_its_own_exemption(auditor_client, mesh):
    text = _text(auditor_client.get("/namespaces/shop/workloads/Deployment/cart/").content.decode())
    assert "Exempt until" in text
    assert "(owner team-cart): payment gateway callback" in text
    assert "through its namespace" not in text


def test_workload_page_says_when_the_exemption_is_its_namespaces(auditor_client, mesh):
    text = _text(
        auditor_client.get("/namespaces/legacy/workloads/Deployment/batch/").content.decode()
    )
    assert "through its namespace's exemption (owner team-legacy)" in text


def test_workload_with_an_expired_exemption_is_not_shown_exempt(auditor_client, mesh):
    response = auditor_client.get("/namespaces/shop/workloads/Deployment/web/")
    assert response.status_code == 200
    assert "web" in _text(response.content.decode())
    assert "Exempt until" not in _text(response.content.decode())


def test_overview_leaves_exempt_rows_below_strict_out_of_the_strict_share(auditor_client, mesh):
    text = _text(auditor_client.get("/").content.decode())
    # Namespaces: pay STRICT; legacy exempt leaves the score: 1 of 2 scored.
    assert "50% of namespaces STRICT" in text
    assert "Exempt and below STRICT: 1 namespace, left out of this share" in text
    assert "(1 of 2 scored)" in text
    # Workloads: ledger STRICT enforced; batch (namespace exemption) and cart exempt; web is
    # scored.
    assert "50% of workloads STRICT enforced" in text
    assert "Exempt and not enforced: 2 workloads, left out of the enforced share" in text


def test_overview_without_exemptions_scores_every_row(auditor_client, db):
    snapshot_with(
        namespaces=[{"name": "a", "mode": "STRICT"}, {"name": "b", "mode": "PERMISSIVE"}],
        workloads=[{"namespace": "a", "name": "x", "mode": "STRICT"}],
    )
    text = _text(auditor_client.get("/").content.decode())
    assert "50% of namespaces STRICT" in text
    assert "100% of workloads STRICT enforced" in text
    assert "Exempt and below STRICT" not in text
    assert "Exempt and not enforced" not in text


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/namespaces/?per_page=200",
        "/namespaces/shop/",
        "/namespaces/shop/workloads/Deployment/cart/",
    ],
)
def test_exemptions_cost_the_same_queries_however_many_rows_are_exempt(auditor_client, mesh, url):
    with CaptureQueriesContext(connection) as few:
        assert auditor_client.get(url).status_code == 200
    now = timezone.now()
    for index in range(40):
        exemption_build(
            namespace="shop",
            workload=f"extra-{index}",
            created_at=now - timedelta(hours=1),
            expires_at=now + timedelta(days=3),
        )
        exemption_build(
            namespace=f"gone-{index}",
            created_at=now - timedelta(hours=1),
            expires_at=now + timedelta(days=3),
        )
    with CaptureQueriesContext(connection) as many:
        auditor_client.get(url)
    assert len(many) == len(few)
