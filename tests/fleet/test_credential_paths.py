"""Credential paths: an admin registering a cluster names a kubeconfig, token or CA file only
inside MESHUI_CLUSTER_CREDENTIAL_DIRS (symlinks resolved), so meshui's own service-account
token, or any other file meshui can read, is never sent to a server the admin chose."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from policies.cluster.errors import ClusterError
from policies.cluster_sources import SOURCE_KUBECONFIG, SOURCE_TOKEN
from policies.models import Cluster, SyncRun
from policies.services.fleet import (
    ClusterRegistrationInvalid,
    ClusterSpec,
    cluster_check,
    cluster_register,
)
from tests.fleet.conftest import sync_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def credential_dirs(tmp_path, settings):
    """An allowed directory and, beside it, a directory standing for the pod's own
    /var/run/secrets/kubernetes.io/serviceaccount."""
    allowed = tmp_path / "clusters"
    pod_secrets = tmp_path / "serviceaccount"
    allowed.mkdir()
    pod_secrets.mkdir()
    (pod_secrets / "token").write_text("meshui-own-token\n")
    settings.MESHUI_CLUSTER_CREDENTIAL_DIRS = [str(allowed)]
    return allowed, pod_secrets


def _token_spec(token_file: str, *, ca_file: str = "") -> ClusterSpec:
    return ClusterSpec(
        name="evil",
        source=SOURCE_TOKEN,
        server="https://attacker.example:6443",
        token_file=token_file,
        ca_file=ca_file,
    )


def test_token_file_outside_the_credential_dirs_is_refused(kube, credential_dirs):
    allowed, pod_secrets = credential_dirs
    with pytest.raises(ClusterRegistrationInvalid) as refused:
        cluster_register(user=None, spec=_token_spec(str(pod_secrets / "token")))
    problem = refused.value.problems["token_file"]
    assert "outside the directories meshui reads cluster credentials from" in problem
    assert str(allowed) in problem and "MESHUI_CLUSTER_CREDENTIAL_DIRS" in problem
    assert not Cluster.objects.exists()


def test_a_symlink_inside_the_credential_dirs_to_a_file_outside_is_refused(kube, credential_dirs):
    allowed, pod_secrets = credential_dirs
    link = allowed / "east-token"
    link.symlink_to(pod_secrets / "token")
    with pytest.raises(ClusterRegistrationInvalid) as refused:
        cluster_register(user=None, spec=_token_spec(str(link)))
    assert f"resolves to {pod_secrets / 'token'}" in refused.value.problems["token_file"]


def test_dot_dot_out_of_the_credential_dirs_is_refused(kube, credential_dirs):
    allowed, _ = credential_dirs
    sneaky = f"{allowed}/../serviceaccount/token"
    with pytest.raises(ClusterRegistrationInvalid) as refused:
        cluster_register(user=None, spec=_token_spec(sneaky))
    assert "outside" in refused.value.problems["token_file"]


def test_ca_and_kubeconfig_files_outside_the_credential_dirs_are_refused(kube, credential_dirs):
    allowed, pod_secrets = credential_dirs
    (allowed / "east-token").write_text("t\n")
    with pytest.raises(ClusterRegistrationInvalid) as refused:
        cluster_register(
            user=None,
            spec=_token_spec(str(allowed / "east-token"), ca_file=str(pod_secrets / "token")),
        )
    assert set(refused.value.problems) == {"ca_file"}
    with pytest.raises(ClusterRegistrationInvalid) as refused:
        cluster_register(
            user=None,
            spec=ClusterSpec(
                name="w", source=SOURCE_KUBECONFIG, kubeconfig=str(pod_secrets / "token")
            ),
        )
    assert "outside" in refused.value.problems["kubeconfig"]


def test_a_file_in_the_credential_dirs_is_accepted(kube, west, credential_dirs):
    allowed, _ = credential_dirs
    kubeconfig = west.write_kubeconfig(allowed / "west.kubeconfig")
    registered = cluster_register(
        user=None,
        spec=ClusterSpec(name="west", source=SOURCE_KUBECONFIG, kubeconfig=str(kubeconfig)),
    )
    assert registered.check_error == ""


def test_a_cluster_registered_before_the_dirs_narrowed_is_not_connected(
    kube, west, credential_dirs, settings
):
    allowed, _ = credential_dirs
    kubeconfig = west.write_kubeconfig(allowed / "west.kubeconfig")
    registered = cluster_register(
        user=None,
        spec=ClusterSpec(name="west", source=SOURCE_KUBECONFIG, kubeconfig=str(kubeconfig)),
    )
    settings.MESHUI_CLUSTER_CREDENTIAL_DIRS = [str(allowed / "elsewhere")]
    checked = cluster_check(registered=registered)
    assert "outside the directories" in checked.check_error and checked.check_version == ""
    with pytest.raises(ClusterError, match="outside the directories"):
        sync_member("west")
    assert SyncRun.objects.get(cluster=registered).status == SyncRun.Status.FAILED


def test_cluster_command_refuses_a_path_outside_with_exit_code_2(kube, credential_dirs):
    _, pod_secrets = credential_dirs
    with pytest.raises(CommandError) as refused:
        call_command(
            "cluster", "add", "evil", "--server", "https://attacker.example:6443",
            "--token-file", str(pod_secrets / "token"),
        )  # fmt: skip
    assert refused.value.returncode == 2 and "outside the directories" in str(refused.value)


def test_register_form_shows_why_a_path_outside_is_refused(kube, credential_dirs, client_as):
    _, pod_secrets = credential_dirs
    admin: Client = client_as("admin")
    response = admin.post(
        "/fleet/clusters/new/",
        {
            "name": "evil",
            "source": "token",
            "server": "https://attacker.example:6443",
            "token_file": str(pod_secrets / "token"),
        },
    )
    assert response.status_code == 400
    assert (
        "outside the directories meshui reads cluster credentials from" in response.content.decode()
    )
    assert not Cluster.objects.exists()


def test_default_credential_dirs_are_var_clusters_the_secret_mount_and_the_kubeconfig_dir():
    from meshui.settings import BASE_DIR, cluster_credential_dirs_default

    kubeconfig = f"/etc/meshui/fleet.kubeconfig{os.pathsep}/kube/config"
    assert cluster_credential_dirs_default(kubeconfig) == [
        str(BASE_DIR / "var" / "clusters"),
        "/var/run/secrets/meshui/clusters",
        "/etc/meshui",
        "/kube",
    ]
    assert cluster_credential_dirs_default("") == cluster_credential_dirs_default("")[:2]
