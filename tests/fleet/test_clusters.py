"""Clusters are data: registered from a kubeconfig and context, a mounted token, or an Istio
remote secret in the configured cluster; each with its connection state; removed with its
history kept; the configured cluster (MESHUI_KUBECONFIG) stays "the one cluster"."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError

from devcluster.cluster import DevCluster, kubeconfig_text
from policies.audit_integrity import HASHED_FIELDS, HASHED_WHEN_SET, audit_entry_hash
from policies.cluster_sources import SOURCE_REMOTE_SECRET, SOURCE_TOKEN
from policies.models import AuditEntry, Cluster, Snapshot, SyncRun
from policies.selectors.audit import audit_chain_check
from policies.selectors.fleet import fleet_members
from policies.selectors.sync import snapshot_current
from policies.services.fleet import (
    ClusterRegistrationInvalid,
    ClusterSpec,
    cluster_register,
    cluster_remove,
)
from policies.services.sync import cluster_sync
from tests.fleet.conftest import payments_mesh, register, sync_member

pytestmark = pytest.mark.django_db


def test_registered_cluster_syncs_into_a_snapshot_of_its_own(kube, west):
    kube.seed(payments_mesh(payments_mode="STRICT"))
    west.seed(payments_mesh(payments_mode="PERMISSIVE"))
    registered = register("west", west)
    assert registered.check_error == "" and registered.check_version.startswith("v1.32")

    cluster_sync(trigger="test")
    run = sync_member("west")

    assert run.status == SyncRun.Status.SUCCEEDED and run.cluster == registered
    west_snapshot = Snapshot.objects.get(cluster=registered)
    assert west_snapshot.cluster_name == "west"
    assert west_snapshot.namespaces.get(name="payments").mode == "PERMISSIVE"
    # Pages without a cluster in scope keep showing the configured cluster.
    current = snapshot_current()
    assert current.cluster is None and current.cluster_name == "test-cluster"
    assert current.namespaces.get(name="payments").mode == "STRICT"


def test_configured_cluster_stays_first_in_the_fleet(kube, west):
    register("west", west)
    assert [member.name for member in fleet_members()] == ["test-cluster", "west"]


def register_with_token(guarded: DevCluster, token: str, tmp_path) -> Cluster:
    """Register `guarded` as an admin would with a mounted service-account token."""
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    return cluster_register(
        user=None,
        spec=ClusterSpec(
            name="guarded", source=SOURCE_TOKEN, server=guarded.url, token_file=str(token_file)
        ),
    )


def test_a_cluster_read_through_a_mounted_token(kube, tmp_path):
    with DevCluster(token="s3cret-reader") as guarded:  # noqa: S106 - a test token
        guarded.seed(payments_mesh(payments_mode="DISABLE"))
        registered = register_with_token(guarded, "s3cret-reader", tmp_path)
        assert registered.check_error == ""
        run = sync_member("guarded")
        assert run.status == SyncRun.Status.SUCCEEDED
        assert run.snapshot.namespaces.get(name="payments").mode == "DISABLE"


def test_a_wrong_token_is_a_failed_check_and_a_failed_sync_named_unauthorized(kube, tmp_path):
    with DevCluster(token="right") as guarded:  # noqa: S106 - a test token
        registered = register_with_token(guarded, "wrong", tmp_path)
        assert "Unauthorized" in registered.check_error
        with pytest.raises(Exception, match="Unauthorized"):
            sync_member("guarded")
        assert SyncRun.objects.get(cluster=registered).status == SyncRun.Status.FAILED


def test_a_cluster_read_through_an_istio_remote_secret_in_the_configured_cluster(kube, west):
    west.seed(payments_mesh(payments_mode="PERMISSIVE"))
    # What `istioctl create-remote-secret --name west | kubectl apply -f -` leaves behind.
    remote_kubeconfig = kubeconfig_text(west.url, name="west")
    kube.seed(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "namespace": "istio-system",
                    "name": "istio-remote-secret-west",
                    "labels": {"istio/multiCluster": "true"},
                    "annotations": {"networking.istio.io/cluster": "west"},
                },
                "data": {"west": base64.b64encode(remote_kubeconfig.encode()).decode()},
            }
        ]
    )
    registered = cluster_register(
        user=None,
        spec=ClusterSpec(
            name="west",
            source=SOURCE_REMOTE_SECRET,
            secret_namespace="istio-system",
            secret_name="istio-remote-secret-west",
        ),
    )
    assert registered.check_error == ""
    run = sync_member("west")
    assert run.snapshot.namespaces.get(name="payments").mode == "PERMISSIVE"


def test_a_remote_secret_without_the_clusters_key_says_which_keys_it_has(kube):
    kube.seed(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"namespace": "istio-system", "name": "istio-remote-secret-x"},
                "data": {"other": base64.b64encode(b"{}").decode()},
            }
        ]
    )
    registered = cluster_register(
        user=None,
        spec=ClusterSpec(
            name="x", source=SOURCE_REMOTE_SECRET, secret_name="istio-remote-secret-x"
        ),
    )
    assert 'has no key "x" (it has: other)' in registered.check_error


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (ClusterSpec(name="-bad", source="kubeconfig", kubeconfig="/x"), "name", "letters"),
        (ClusterSpec(name="all", source="kubeconfig", kubeconfig="/x"), "name", "every cluster"),
        (
            ClusterSpec(name="test-cluster", source="kubeconfig", kubeconfig="/x"),
            "name",
            "configured",
        ),
        (ClusterSpec(name="w", source="kubeconfig", kubeconfig="/nope"), "kubeconfig", "No file"),
        (ClusterSpec(name="w", source="token", server="ftp://x", token_file="/t"), "server", "URL"),
        (ClusterSpec(name="w", source="remote_secret"), "secret_name", "istio-remote-secret"),
        (ClusterSpec(name="w", source="carrier-pigeon"), "source", "Choose"),
    ],
)
def test_registration_refuses_what_cannot_work_in_words(kube, spec, field, words):
    with pytest.raises(ClusterRegistrationInvalid) as refused:
        cluster_register(user=None, spec=spec)
    assert words in refused.value.problems[field]
    assert not Cluster.objects.exists()


def test_only_admins_register_clusters(kube, west, users):
    with pytest.raises(PermissionDenied):
        register("west", west, user=users["oncall"])
    assert register("west", west, user=users["admin"]).created_by == "alice"


def test_removing_a_cluster_keeps_its_history_and_takes_it_off_the_fleet(kube, west, users):
    west.seed(payments_mesh())
    registered = register("west", west, user=users["admin"])
    sync_member("west")

    cluster_remove(user=users["admin"], name="west")

    assert [member.name for member in fleet_members()] == ["test-cluster"]
    assert Snapshot.objects.filter(cluster=registered).count() == 1
    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "cluster_register",
        "cluster_remove",
    ]
    assert AuditEntry.objects.filter(cluster="west").count() == 2
    assert audit_chain_check().problem == ""
    with pytest.raises(ClusterRegistrationInvalid, match="keeps the name"):
        register("west", west, user=users["admin"])


def test_cluster_command_adds_lists_checks_and_removes(kube, west, capsys):
    call_command("cluster", "add", "west", "--kubeconfig", str(west.kubeconfig))
    assert "registered west (kubeconfig" in capsys.readouterr().out
    call_command("cluster", "list")
    listing = capsys.readouterr().out
    assert "test-cluster" in listing and "west" in listing
    call_command("cluster", "check", "west")
    assert "west: Kubernetes v1.32" in capsys.readouterr().out
    call_command("cluster", "remove", "west")
    assert "its snapshots and audit entries stay" in capsys.readouterr().out


def test_cluster_command_refuses_bad_input_with_exit_2(kube):
    with pytest.raises(CommandError) as refused:
        call_command("cluster", "add", "w", "--kubeconfig", "/no/such/file")
    assert refused.value.returncode == 2 and "No file at /no/such/file" in str(refused.value)
    with pytest.raises(CommandError) as refused:
        call_command("cluster", "remove", "nobody")
    assert refused.value.returncode == 2


def test_audit_chain_hashes_the_cluster_of_an_entry(kube, west, users):
    register("west", west, user=users["admin"])
    row = (
        AuditEntry.objects.filter(cluster="west")
        .values(*HASHED_FIELDS, *HASHED_WHEN_SET, "previous_hash", "entry_hash")
        .get()
    )
    assert audit_entry_hash(row, row["previous_hash"]) == row["entry_hash"]
    # An entry moved to another cluster by hand no longer matches its hash.
    assert audit_entry_hash({**row, "cluster": "east"}, row["previous_hash"]) != row["entry_hash"]
