"""Roles limited to clusters: a user's cluster limit (`manage.py cluster_limit`) holds for
every role. A limited admin or auditor sees only those clusters on every page, export and
fleet view, the switcher offers only those, and every write service refuses (and audits) a
change in another cluster, whatever the view or a hand-made POST said."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from policies.models import AuditEntry, ClusterLimit, Exemption, TimedRestore
from policies.selectors.fleet import fleet_member_named, fleet_scope
from policies.services.changes import (
    change_rollback,
    namespace_mode_set,
    policy_delete,
    timed_restore_run_now,
)
from policies.services.cluster_limits import cluster_limit_set
from policies.services.exemptions import exemption_create
from policies.services.fleet import cluster_remove
from tests.fleet.conftest import register

pytestmark = pytest.mark.django_db


def limit(user, *clusters: str) -> None:
    cluster_limit_set(username=user.get_username(), clusters=clusters, set_by="test")


@pytest.fixture
def west_admin(fleet, users, client_as) -> Client:
    limit(users["admin"], "west")
    return client_as("admin")


@pytest.fixture
def west_auditor(fleet, users, client_as) -> Client:
    limit(users["auditor"], "we*")
    return client_as("auditor")


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def mode_in(double, namespace="payments") -> str | None:
    policy = double.get("PeerAuthentication", namespace, "default")
    return policy["spec"]["mtls"]["mode"] if policy else None


# --- The command ------------------------------------------------------------------------------


def test_cluster_limit_command_sets_lists_and_lifts_a_limit_audited(fleet, users, capsys):
    call_command("cluster_limit", "set", "--user", "aud", "--clusters", "west,prod-*")
    assert "aud now sees and changes only the clusters west, prod-* (today: west)" in (
        capsys.readouterr().out
    )
    assert ClusterLimit.objects.get(user=users["auditor"]).clusters == ["west", "prod-*"]
    call_command("cluster_limit", "list")
    assert "aud\twest, prod-*" in capsys.readouterr().out
    call_command("cluster_limit", "remove", "--user", "aud")
    assert not ClusterLimit.objects.exists()
    limits = AuditEntry.objects.filter(target_kind="User").order_by("id")
    assert list(limits.values_list("action", "target_name")) == [
        ("cluster_limit_set", "aud"),
        ("cluster_limit_clear", "aud"),
    ]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["set", "--user", "ghost", "--clusters", "west"], "No meshui user"),
        (["set", "--user", "aud", "--clusters", "we st"], "not a cluster name pattern"),
        (["set", "--user", "aud", "--clusters", ","], "at least one"),
        (["remove", "--user", "aud"], "has no cluster limit"),
    ],
)
def test_cluster_limit_command_refuses_bad_input_with_exit_code_2(fleet, users, arguments, words):
    with pytest.raises(CommandError, match=words) as refused:
        call_command("cluster_limit", *arguments)
    assert refused.value.returncode == 2
    assert not ClusterLimit.objects.exists()


# --- Reads ------------------------------------------------------------------------------------


def test_limited_user_without_a_choice_sees_their_first_cluster(west_auditor):
    page = west_auditor.get("/namespaces/payments/").content.decode()
    assert "PERMISSIVE" in page  # west's payments; the configured cluster's is STRICT


def test_limited_user_asking_for_another_cluster_gets_a_403_that_says_why(west_auditor):
    for url in ("/?cluster=test-cluster", "/reports/namespaces.csv?cluster=test-cluster"):
        response = west_auditor.get(url)
        assert response.status_code == 403, url
        assert "limited to the clusters we*; test-cluster is not one of them" in (
            response.content.decode()
        )


def test_a_session_cluster_outside_a_new_limit_falls_back_to_the_users_own(fleet, users, client_as):
    auditor = client_as("auditor")
    auditor.get("/?cluster=test-cluster")  # chosen before the limit
    limit(users["auditor"], "west")
    auditor = client_as("auditor")
    session = auditor.session
    session["meshui_cluster"] = "test-cluster"
    session.save()
    assert "PERMISSIVE" in auditor.get("/namespaces/payments/").content.decode()


def test_fleet_pages_and_switcher_show_only_the_users_clusters(west_auditor):
    overview = west_auditor.get("/fleet/").content.decode()
    assert "west" in overview and "test-cluster" not in overview
    switcher = west_auditor.get("/fleet/switch/?next=/").content.decode()
    assert "cluster=west" in switcher and "cluster=test-cluster" not in switcher
    side_by_side = west_auditor.get("/fleet/namespaces/payments/").content.decode()
    assert "test-cluster" not in side_by_side
    # One cluster seen: nothing to differ from, so no cross-cluster finding about the other.
    findings = west_auditor.get("/fleet/findings/").content.decode()
    assert "NAMESPACE_MODE_DIFFERS_ACROSS_CLUSTERS" not in findings


def test_exports_of_a_limited_user_hold_only_their_clusters(west_auditor):
    export = body(west_auditor.get("/reports/namespaces.csv"))
    rows = export.strip().splitlines()[1:]
    assert rows and all(row.endswith(",west") for row in rows)
    every = body(west_auditor.get("/reports/namespaces.csv?cluster=all"))
    assert {row.rsplit(",", 1)[1] for row in every.strip().splitlines()[1:]} == {"west"}


def test_audit_log_and_change_pages_hide_other_clusters_entries(
    fleet, users, west_auditor, client_as
):
    east_change = namespace_mode_set(
        user=users["admin"], namespace="shop", mode="PERMISSIVE", reason="INC-1 east"
    ).entry
    log = west_auditor.get("/audit/").content.decode()
    assert "INC-1 east" not in log
    assert west_auditor.get(f"/changes/{east_change.pk}/").status_code == 404
    assert "INC-1 east" not in body(west_auditor.get("/audit/export.csv"))
    # The compare page lists the audit entries between its dates: the user's clusters only.
    from policies.forms.reports import moment_param
    from policies.models import Snapshot

    first = Snapshot.objects.filter(cluster__name="west").order_by("taken_at").first().taken_at
    compare_query = {"from": moment_param(first), "cluster": "west"}
    compare = west_auditor.get("/reports/compare/", compare_query).content.decode()
    assert "INC-1 east" not in compare and "Audit" in compare
    unlimited = client_as("admin").get("/reports/compare/", compare_query).content.decode()
    assert "INC-1 east" in unlimited


def test_a_limit_matching_no_cluster_is_a_403_everywhere(fleet, users, client_as):
    limit(users["auditor"], "prod-*")
    response = client_as("auditor").get("/")
    assert response.status_code == 403
    assert "no cluster of the fleet has one of those names" in response.content.decode()


# --- Writes -----------------------------------------------------------------------------------


def test_a_limited_admins_toggle_in_another_cluster_is_refused_in_the_service(fleet, users):
    limit(users["admin"], "west")
    with fleet_scope(fleet_member_named("test-cluster")), pytest.raises(PermissionDenied) as no:
        namespace_mode_set(
            user=users["admin"], namespace="payments", mode="DISABLE", reason="INC-2"
        )
    assert "test-cluster is not one of them" in str(no.value)
    assert mode_in(fleet.east) == "STRICT"
    refused = AuditEntry.objects.get(action="namespace_mode_set")
    assert refused.outcome == "denied" and refused.cluster == "" and "limited" in refused.error
    with fleet_scope(fleet_member_named("west")):
        namespace_mode_set(user=users["admin"], namespace="shop", mode="PERMISSIVE", reason="INC-3")
    assert mode_in(fleet.west, "shop") == "PERMISSIVE"


def test_a_limited_admins_policy_delete_in_another_cluster_is_refused(fleet, users):
    limit(users["admin"], "west")
    seen = fleet.east.get("PeerAuthentication", "payments", "default")
    with pytest.raises(PermissionDenied):
        policy_delete(
            user=users["admin"],
            kind="PeerAuthentication",
            namespace="payments",
            name="default",
            resource_version=seen["metadata"]["resourceVersion"],
            reason="INC-4",
        )
    assert mode_in(fleet.east) == "STRICT"
    assert AuditEntry.objects.get(action="policy_delete").outcome == "denied"


def test_a_crafted_post_naming_another_cluster_is_refused_and_audited(fleet, west_admin):
    response = west_admin.post(
        "/namespaces/payments/mode/",
        {"mode": "DISABLE", "reason": "INC-5", "cluster": "test-cluster", "confirm": "1"},
    )
    assert response.status_code == 403
    assert mode_in(fleet.east) == "STRICT"
    refused = AuditEntry.objects.get(action="cluster_outside_limit")
    assert refused.outcome == "denied" and refused.cluster == "test-cluster"
    assert refused.target_name == "POST /namespaces/payments/mode/"


def test_the_fleet_toggle_of_a_limited_user_offers_and_applies_only_their_clusters(
    fleet, west_admin
):
    form = west_admin.get("/fleet/namespaces/payments/mode/").content.decode()
    assert 'value="west"' in form and 'value="test-cluster"' not in form
    crafted = west_admin.post(
        "/fleet/namespaces/payments/mode/",
        {"mode": "DISABLE", "reason": "INC-6", "clusters": ["test-cluster", "west"]},
    )
    assert crafted.status_code == 400
    assert mode_in(fleet.east) == "STRICT"


def test_a_rollback_in_another_cluster_is_refused_for_a_limited_admin(fleet, users):
    east_change = namespace_mode_set(
        user=users["admin"], namespace="shop", mode="PERMISSIVE", reason="INC-7"
    ).entry
    limit(users["admin"], "west")
    users["admin"] = type(users["admin"]).objects.get(pk=users["admin"].pk)  # a new request
    with fleet_scope(fleet_member_named("west")), pytest.raises(PermissionDenied):
        change_rollback(user=users["admin"], entry_id=east_change.pk, reason="INC-7 undo")
    assert AuditEntry.objects.filter(action="rollback", outcome="denied", cluster="").exists()


def test_registering_and_removing_clusters_needs_an_admin_without_a_limit(fleet, users, north):
    limit(users["admin"], "*")
    with pytest.raises(PermissionDenied, match="without a cluster limit"):
        register("north", north, user=users["admin"])
    with pytest.raises(PermissionDenied, match="without a cluster limit"):
        cluster_remove(user=users["admin"], name="west")
    assert list(
        AuditEntry.objects.filter(outcome="denied")
        .order_by("id")
        .values_list("action", "target_name")
    ) == [("cluster_register", "north"), ("cluster_remove", "west")]


def test_exemptions_need_an_admin_without_a_limit(fleet, users):
    limit(users["admin"], "west")
    now = timezone.now()
    with pytest.raises(PermissionDenied, match="Exemptions hold in every cluster"):
        exemption_create(
            user=users["admin"],
            namespace="payments",
            owner="team-payments",
            justification="legacy client",
            expires_at=now + timedelta(days=30),
            now=now,
        )
    assert not Exemption.objects.exists()
    assert AuditEntry.objects.get(action="exemption_create").outcome == "denied"


def test_no_limit_is_every_cluster(fleet, client_as):
    auditor = client_as("auditor")
    assert auditor.get("/?cluster=test-cluster").status_code == 200
    assert auditor.get("/?cluster=west").status_code == 200


def test_a_timed_restore_in_another_cluster_is_refused_for_a_limited_admin(fleet, users):
    with fleet_scope(fleet_member_named("west")):
        namespace_mode_set(
            user=users["admin"],
            namespace="shop",
            mode="PERMISSIVE",
            reason="INC-8",
            duration=timedelta(minutes=30),
        )
    restore = TimedRestore.objects.get()
    assert restore.cluster == fleet.west_cluster
    limit(users["admin"], "test-cluster")
    users["admin"] = type(users["admin"]).objects.get(pk=users["admin"].pk)  # a new request
    with pytest.raises(PermissionDenied, match="west is not one of them"):
        timed_restore_run_now(user=users["admin"], restore_id=restore.pk, reason="INC-8 done")
    assert mode_in(fleet.west, "shop") == "PERMISSIVE"
    refused = AuditEntry.objects.get(action="restore_now")
    assert refused.outcome == "denied" and refused.cluster == "west"


def test_a_limited_admin_cannot_check_another_clusters_connection(fleet, users, client_as):
    limit(users["admin"], "test-cluster")
    response = client_as("admin").post("/fleet/clusters/west/check/")
    assert response.status_code == 403
    assert "west is not one of them" in response.content.decode()


def test_the_overdue_restore_banner_keeps_to_the_users_clusters(fleet, users):
    from policies.selectors.restores import restores_overdue_for

    with fleet_scope(fleet_member_named("west")):
        namespace_mode_set(
            user=users["admin"],
            namespace="shop",
            mode="PERMISSIVE",
            reason="INC-9",
            duration=timedelta(minutes=30),
        )
    TimedRestore.objects.update(restore_at=timezone.now() - timedelta(hours=1))
    assert len(restores_overdue_for(user=users["auditor"])) == 1
    limit(users["auditor"], "test-cluster")
    auditor = type(users["auditor"]).objects.get(pk=users["auditor"].pk)
    assert restores_overdue_for(user=auditor) == []
