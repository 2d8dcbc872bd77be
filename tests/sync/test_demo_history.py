"""The demo's month of history: made by meshui's own services against the demo cluster,
dated over the last 30 days, marked as demo data, so trends, compare and the report period
have something to show at once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import AuditEntry, Snapshot, SyncRun
from policies.selectors.audit import audit_chain_check
from policies.selectors.reports import coverage_trend
from policies.services.demo_history import (
    DEMO_MARK,
    DEMO_TRIGGER,
    demo_history_wanted,
    demo_history_write,
)
from policies.services.sync import cluster_sync
from tests.factories import user_with_role

from .test_sync_service import demo_mesh


@pytest.fixture
def demo(kube, db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    kube.seed(demo_mesh())
    users = {role: user_with_role(role, username=role) for role in ("admin", "oncall", "auditor")}
    now = timezone.now()
    snapshots = demo_history_write(now=now, users=users)
    return kube, now, snapshots


def test_demo_history_spreads_snapshots_over_the_last_30_days(demo):
    _kube, now, snapshots = demo
    taken = list(Snapshot.objects.order_by("taken_at").values_list("taken_at", flat=True))
    assert len(taken) == snapshots >= 6
    assert now - timedelta(days=31) < taken[0] < now - timedelta(days=29)
    assert taken[-1] < now - timedelta(days=2)
    trend = coverage_trend(start=now - timedelta(days=30), end=now)
    shares = {round(point.workloads_strict_share, 3) for point in trend}
    assert len(shares) > 1  # the line moves


def test_demo_history_is_made_of_real_changes_marked_as_demo(demo):
    kube, now, _snapshots = demo
    entries = list(AuditEntry.objects.order_by("id"))
    assert all(DEMO_MARK in entry.reason for entry in entries)
    assert all(now - timedelta(days=30) < entry.created_at < now for entry in entries)
    assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)
    outcomes = {entry.outcome for entry in entries}
    assert {"dry_run", "applied", "denied"} <= outcomes
    # Previews and their confirm share a change id; refusals are refusals.
    applied = [e for e in entries if e.outcome == "applied" and e.change_id]
    assert all(
        AuditEntry.objects.filter(change_id=e.change_id, outcome="dry_run").exists()
        for e in applied
    )
    assert audit_chain_check().problem == ""
    assert set(SyncRun.objects.values_list("trigger", flat=True)) == {DEMO_TRIGGER}
    # The cluster holds what the last change applied, and the newest snapshot shows it.
    assert kube.get("PeerAuthentication", "inventory", "default")["spec"]["mtls"]["mode"] == (
        "STRICT"
    )
    newest = Snapshot.objects.current()
    assert newest.namespaces.get(name="inventory").mode == "STRICT"
    # The last change was only previewed: its entries are previews, nothing applied.
    last = entries[-1]
    assert last.outcome == "dry_run"
    assert not AuditEntry.objects.filter(change_id=last.change_id, outcome="applied").exists()
    assert cluster_sync(trigger="test").status == SyncRun.Status.NO_CHANGE


def test_demo_history_only_on_an_empty_database(demo):
    assert not demo_history_wanted()


def test_trends_compare_and_report_period_show_the_history(client, demo):
    _kube, now, _snapshots = demo
    client.force_login(user_with_role("auditor", username="reader"))
    trends = client.get("/reports/trends/").content.decode()
    assert trends.count("<circle") >= 6 or "polyline" in trends
    month_ago = (now - timedelta(days=28)).date().isoformat()
    compare = client.get(f"/reports/compare/?from={month_ago}&to=now").content.decode()
    assert "batch" in compare
    report = client.get("/reports/").content.decode()
    assert DEMO_MARK in report
