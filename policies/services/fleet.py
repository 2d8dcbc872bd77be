"""Registering, checking and removing the clusters of the fleet (admins only, audited).

A registration stores where the credentials are (a kubeconfig file and context, a mounted
token and CA, or an Istio remote secret in the configured cluster), never a credential, and
checks the connection at once: the API server's version, or why it did not answer. Removing
a cluster stops its syncs and takes it off the pages; its snapshots, sync runs and audit
entries stay, so reports of the past still name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from policies import cluster
from policies.cluster.errors import ClusterError
from policies.cluster_sources import (
    ALL_CLUSTERS,
    CLUSTER_NAME_PATTERN,
    SOURCE_KUBECONFIG,
    SOURCE_REMOTE_SECRET,
    SOURCE_TOKEN,
)
from policies.cluster_sources import credential_path_problem as credential_path_rule
from policies.errors import MeshuiError
from policies.models import AuditAction, AuditEntry, Cluster
from policies.roles import can_manage_policies
from policies.selectors.cluster_limits import cluster_unlimited_refusal
from policies.selectors.fleet import (
    FleetMember,
    cluster_connection,
    configured_cluster_name,
    fleet_scope,
)
from policies.services.audit import audit_entry_record
from policies.services.sync import sync_request

NAME_THE_REMOTE_SECRET = (
    "Give the remote secret's name (istioctl names it istio-remote-secret-NAME)."  # noqa: E501, S105
)


class ClusterRegistrationInvalid(MeshuiError):
    """A registration that cannot work as given; `.problems` maps fields to sentences."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class ClusterSpec:
    """What an admin gives to register a cluster (the form's and the command's fields)."""

    name: str
    source: str
    kubeconfig: str = ""
    context: str = ""
    server: str = ""
    token_file: str = ""
    ca_file: str = ""
    secret_namespace: str = "istio-system"  # noqa: S105 (where, not what)
    secret_name: str = ""
    secret_key: str = ""
    sync_interval: int | None = None


def credential_path_problem(path: str) -> str:
    """'' when `path` is a file in MESHUI_CLUSTER_CREDENTIAL_DIRS (symlinks resolved), else why
    not (`cluster_sources.credential_path_problem`)."""
    return credential_path_rule(path, settings.MESHUI_CLUSTER_CREDENTIAL_DIRS)


def _spec_problems(spec: ClusterSpec) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not re.match(CLUSTER_NAME_PATTERN, spec.name or ""):
        problems["name"] = (
            "A cluster name is 1-63 letters, digits, '.', '_' or '-', starting and ending "
            "with a letter or digit."
        )
    elif spec.name == ALL_CLUSTERS:
        problems["name"] = f'"{ALL_CLUSTERS}" stands for every cluster; choose another name.'
    elif spec.name == configured_cluster_name():
        problems["name"] = f"{spec.name} is the configured cluster's name (MESHUI_KUBECONFIG)."
    elif Cluster.objects.filter(name=spec.name).exists():
        problems["name"] = (
            f"A cluster named {spec.name} is registered already, or was removed; its history "
            "keeps the name."
        )
    if spec.source == SOURCE_KUBECONFIG:
        if not spec.kubeconfig:
            problems["kubeconfig"] = "Give the kubeconfig file's path as meshui's pods see it."
        elif problem := credential_path_problem(spec.kubeconfig):
            problems["kubeconfig"] = problem
    elif spec.source == SOURCE_TOKEN:
        if not re.match(r"^https?://[^\s/]+", spec.server or ""):
            problems["server"] = "Give the API server's URL, e.g. https://10.0.0.1:6443."
        if not spec.token_file:
            problems["token_file"] = "Give the mounted token file's path."  # noqa: S105
        elif problem := credential_path_problem(spec.token_file):
            problems["token_file"] = problem
        if spec.ca_file and (problem := credential_path_problem(spec.ca_file)):
            problems["ca_file"] = problem
    elif spec.source == SOURCE_REMOTE_SECRET:
        if not spec.secret_name:
            problems["secret_name"] = NAME_THE_REMOTE_SECRET
    else:
        problems["source"] = "Choose where the credentials are: kubeconfig, token or remote_secret."
    return problems


def _require_admin(user, *, action: AuditAction, name: str) -> None:
    # None is the operator at the command line (manage.py cluster), who holds the database.
    if user is None:
        return
    problem = "" if can_manage_policies(user) else "Only admins register and remove clusters."
    problem = problem or cluster_unlimited_refusal(
        user=user, doing="Registering and removing clusters"
    )
    if problem:
        audit_entry_record(
            user=user,
            action=action,
            outcome=AuditEntry.Outcome.DENIED,
            target_kind="Cluster",
            target_name=name[:63],
            error=problem,
            cluster_name=name[:63],
        )
        raise PermissionDenied(problem)


def cluster_check(*, registered: Cluster) -> Cluster:
    """Connect to a registered cluster and record the answer (its version, or the error)."""
    member = FleetMember(name=registered.name, cluster=registered)
    cluster.forget_client(cluster_connection(registered))  # credentials are read afresh
    try:
        with fleet_scope(member):
            version = cluster.server_version()
        registered.check_version, registered.check_error = version[:64], ""
    except ClusterError as error:
        registered.check_version, registered.check_error = "", error.summary
    registered.checked_at = timezone.now()
    registered.save(update_fields=["check_version", "check_error", "checked_at"])
    return registered


def cluster_register(*, user, spec: ClusterSpec) -> Cluster:
    """Register a cluster (admins only) and check its connection at once.

    A cluster that does not answer is registered all the same, with the reason shown: it may
    be a network policy still to open. Raises ClusterRegistrationInvalid for what cannot work.
    """
    _require_admin(user, action=AuditAction.CLUSTER_REGISTER, name=spec.name or "")
    problems = _spec_problems(spec)
    if problems:
        raise ClusterRegistrationInvalid(problems)
    with transaction.atomic():
        registered = Cluster.objects.create(
            name=spec.name,
            source=spec.source,
            kubeconfig=spec.kubeconfig if spec.source == SOURCE_KUBECONFIG else "",
            context=spec.context if spec.source == SOURCE_KUBECONFIG else "",
            server=spec.server if spec.source == SOURCE_TOKEN else "",
            token_file=spec.token_file if spec.source == SOURCE_TOKEN else "",
            ca_file=spec.ca_file if spec.source == SOURCE_TOKEN else "",
            secret_namespace=spec.secret_namespace if spec.source == SOURCE_REMOTE_SECRET else "",
            secret_name=spec.secret_name if spec.source == SOURCE_REMOTE_SECRET else "",
            secret_key=spec.secret_key if spec.source == SOURCE_REMOTE_SECRET else "",
            sync_interval=spec.sync_interval,
            created_at=timezone.now(),
            created_by=user.get_username() if user is not None else "manage.py",
        )
        audit_entry_record(
            user=user,
            action=AuditAction.CLUSTER_REGISTER,
            outcome=AuditEntry.Outcome.APPLIED,
            target_kind="Cluster",
            target_name=registered.name,
            object_sent={
                "cluster": registered.name,
                "credentials": cluster_connection(registered).where,
            },
            cluster_name=registered.name,
        )
    return cluster_check(registered=registered)


def cluster_remove(*, user, name: str) -> Cluster:
    """Take a cluster out of the fleet (admins only): no more syncs, gone from the pages;
    its snapshots, runs and audit entries stay for reports."""
    _require_admin(user, action=AuditAction.CLUSTER_REMOVE, name=name or "")
    registered = Cluster.objects.registered().filter(name=name).first()
    if registered is None:
        raise ClusterRegistrationInvalid({"name": f"No registered cluster is named {name}."})
    with transaction.atomic():
        registered.removed_at = timezone.now()
        registered.removed_by = user.get_username() if user is not None else "manage.py"
        registered.save(update_fields=["removed_at", "removed_by"])
        audit_entry_record(
            user=user,
            action=AuditAction.CLUSTER_REMOVE,
            outcome=AuditEntry.Outcome.APPLIED,
            target_kind="Cluster",
            target_name=registered.name,
            cluster_name=registered.name,
        )
    cluster.forget_client(cluster_connection(registered))
    return registered


def cluster_sync_request(*, registered: Cluster, trigger: str) -> None:
    """Ask for a sync of a registered cluster (after registering it), on its own task."""
    with fleet_scope(FleetMember(name=registered.name, cluster=registered)):
        sync_request(trigger=trigger)
