"""Stored posture snapshots, sync runs, the audit log, timed restores, exemptions, the
logins that must replace a one-time password, and the on-call scopes.

The cluster is the source of truth for policies; these tables hold what meshui *saw*
(snapshots, for history and fast pages) and what meshui *did* (the audit log).
Rows carry their snapshot id first in every index so a page's filter, sort and page
is one indexed query whatever the mesh size.
"""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models

from policies.cluster_scope import cluster_scope_current
from policies.cluster_sources import (
    SOURCE_KUBECONFIG,
    SOURCE_REMOTE_SECRET,
    SOURCE_TOKEN,
)
from policies.engine import CoverageRule, Level, Mode, PolicyScope, PolicyStatus, Severity
from policies.engine.readiness import Readiness
from policies.ownership import OwnerKind, PolicyOwnership


def engine_choices(*values: StrEnum) -> list[tuple[str, str]]:
    """Field choices from the engine's values, labelled as TextChoices labels its members."""
    return [(value.value, value.name.replace("_", " ").title()) for value in values]


# The engine's vocabulary is the one vocabulary: rows store its values, never their own.
EFFECTIVE_MODE_CHOICES = engine_choices(Mode.STRICT, Mode.PERMISSIVE, Mode.DISABLE)
SEVERITY_CHOICES = engine_choices(*Severity)
NAMESPACE_SOURCE_CHOICES = engine_choices(Level.NAMESPACE, Level.MESH, Level.DEFAULT)
WORKLOAD_SOURCE_CHOICES = engine_choices(Level.WORKLOAD, Level.NAMESPACE, Level.MESH, Level.DEFAULT)
POLICY_SCOPE_CHOICES = engine_choices(*PolicyScope)
POLICY_STATUS_CHOICES = engine_choices(*PolicyStatus)
TRAFFIC_READINESS_CHOICES = engine_choices(
    Readiness.READY, Readiness.NOT_READY, Readiness.NO_TRAFFIC, Readiness.NOT_ENOUGH_HISTORY
)
COVERAGE_RULE_CHOICES = engine_choices(*CoverageRule)
OWNER_KIND_CHOICES = [(kind.value, kind.label) for kind in OwnerKind]


class ClusterQuerySet(models.QuerySet):
    def registered(self) -> ClusterQuerySet:
        """Clusters in the fleet now: removed ones keep their rows for history and reports."""
        return self.filter(removed_at__isnull=True)


class Cluster(models.Model):
    """A cluster of the fleet that an admin registered (policies.services.fleet).

    The cluster that MESHUI_KUBECONFIG (or the pod, or the demo) configures has no row: its
    snapshots and sync runs carry no cluster, so setups from before fleets work unchanged.
    Only where the credentials live is stored, never a credential.
    """

    class Source(models.TextChoices):
        KUBECONFIG = SOURCE_KUBECONFIG, "kubeconfig file and context"
        TOKEN = SOURCE_TOKEN, "mounted service-account token"
        REMOTE_SECRET = SOURCE_REMOTE_SECRET, "Istio remote secret"

    name = models.CharField(max_length=63, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    kubeconfig = models.CharField(max_length=1024, blank=True)
    context = models.CharField(max_length=253, blank=True)
    server = models.CharField(max_length=512, blank=True)
    token_file = models.CharField(max_length=1024, blank=True)
    ca_file = models.CharField(max_length=1024, blank=True)
    secret_namespace = models.CharField(max_length=63, blank=True)
    secret_name = models.CharField(max_length=253, blank=True)
    secret_key = models.CharField(max_length=253, blank=True)
    # Seconds between scheduled syncs; null = MESHUI_SYNC_INTERVAL.
    sync_interval = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.CharField(max_length=150, blank=True)
    # The last connection check (at registration, or on request): when, the API server's
    # version or the error in words.
    checked_at = models.DateTimeField(null=True, blank=True)
    check_error = models.TextField(blank=True)
    check_version = models.CharField(max_length=64, blank=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SyncRunQuerySet(models.QuerySet):
    def in_scope(self) -> SyncRunQuerySet:
        """The runs of the cluster in scope (policies.cluster_scope)."""
        return self.filter(cluster_id=cluster_scope_current().cluster_id)


class SyncRun(models.Model):
    """One attempt to read a cluster; a success points at the snapshot it stored."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        NO_CHANGE = "no_change"
        FAILED = "failed"

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    api_ms = models.PositiveIntegerField(null=True, blank=True)
    db_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=32, default="schedule")  # schedule, manual, change, cli
    error = models.TextField(blank=True)
    snapshot = models.ForeignKey(
        "Snapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_runs"
    )
    # Where the next sync may watch from instead of listing (kind -> list resourceVersion),
    # and the digest of the objects those lists held; empty when this run read nothing.
    list_resource_versions = models.JSONField(default=dict, blank=True)
    cluster_fingerprint = models.CharField(max_length=64, blank=True)
    # The registered cluster read; null = the configured cluster (MESHUI_KUBECONFIG).
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="sync_runs"
    )

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "-started_at"]),
            models.Index(fields=["cluster", "status", "-started_at"]),
        ]


class SnapshotQuerySet(models.QuerySet):
    """Snapshots, and the one rule for which is current: the newest of its cluster (a failed
    sync stores none, so the last good snapshot stays current)."""

    def newest_first(self) -> SnapshotQuerySet:
        return self.order_by("-taken_at", "-id")

    def in_scope(self) -> SnapshotQuerySet:
        """The snapshots of the cluster in scope (policies.cluster_scope)."""
        return self.filter(cluster_id=cluster_scope_current().cluster_id)

    def current(self) -> Snapshot | None:
        """The newest of these snapshots of the cluster in scope: of all, the one pages show;
        of those taken by a date, the one in force then."""
        return self.in_scope().newest_first().first()


class Snapshot(models.Model):
    """The posture computed from one complete read of the cluster.

    Written in one transaction (rows first, the snapshot becomes visible with them), so a
    reader never sees half of one. The current snapshot is the newest one:
    `Snapshot.objects.current()`.
    """

    taken_at = models.DateTimeField(db_index=True)
    cluster_name = models.CharField(max_length=253)
    cluster_server = models.CharField(max_length=512, blank=True)
    # The engine's inputs fingerprinted by their resourceVersions: equal means no change.
    source_fingerprint = models.CharField(max_length=64, blank=True)
    source_resource_version = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    object_counts = models.JSONField(default=dict)
    istio_installed = models.BooleanField(default=True)
    istio_versions = models.JSONField(
        default=dict
    )  # {"PeerAuthentication": "security.istio.io/v1", ...}
    root_namespace = models.CharField(max_length=63, default="istio-system")
    mesh_mode = models.CharField(max_length=16, choices=EFFECTIVE_MODE_CHOICES)
    mesh_policy = models.CharField(max_length=317, blank=True)  # "ns/name", "" = built-in default
    mesh_reason = models.JSONField(default=dict)
    # Aggregates so the overview is a single-row read.
    namespaces_total = models.PositiveIntegerField(default=0)
    namespaces_strict = models.PositiveIntegerField(default=0)
    namespaces_permissive = models.PositiveIntegerField(default=0)
    namespaces_disable = models.PositiveIntegerField(default=0)
    workloads_total = models.PositiveIntegerField(default=0)
    workloads_strict = models.PositiveIntegerField(default=0)
    workloads_permissive = models.PositiveIntegerField(default=0)
    workloads_disable = models.PositiveIntegerField(default=0)
    workloads_with_sidecar = models.PositiveIntegerField(default=0)
    workloads_ambient = models.PositiveIntegerField(default=0)
    # Coverage (policies/engine/coverage.py): every port STRICT by policy, and of those the
    # ones a sidecar or ztunnel enforces. Null on snapshots taken before they were counted.
    workloads_strict_declared = models.PositiveIntegerField(null=True)
    workloads_strict_enforced = models.PositiveIntegerField(null=True)
    findings_error = models.PositiveIntegerField(default=0)
    findings_warning = models.PositiveIntegerField(default=0)
    findings_info = models.PositiveIntegerField(default=0)
    # The registered cluster it was read from; null = the configured cluster. Every record
    # belongs to a snapshot, so this one column puts them all in their cluster.
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="snapshots"
    )

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-taken_at", "-id"]
        get_latest_by = ["taken_at", "id"]
        indexes = [models.Index(fields=["cluster", "-taken_at", "-id"])]

    @property
    def workloads_without_sidecar(self) -> int:
        """What the workloads list shows for `?sidecar=no` (ambient ones included)."""
        return self.workloads_total - self.workloads_with_sidecar


class NamespaceRecord(models.Model):
    """A namespace as a snapshot saw it: the engine's NamespacePosture, stored with counts."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=63)
    mode = models.CharField(max_length=16, choices=EFFECTIVE_MODE_CHOICES)
    source = models.CharField(max_length=16, choices=NAMESPACE_SOURCE_CHOICES)
    policy = models.CharField(max_length=317, blank=True)
    reason = models.JSONField(default=dict)
    labels = models.JSONField(default=dict)
    is_root = models.BooleanField(default=False)
    injection = models.CharField(
        max_length=32, blank=True
    )  # enabled, disabled, revision:X, ambient, ""
    workloads_total = models.PositiveIntegerField(default=0)
    workloads_strict = models.PositiveIntegerField(default=0)
    workloads_permissive = models.PositiveIntegerField(default=0)
    workloads_disable = models.PositiveIntegerField(default=0)
    workloads_with_port_exceptions = models.PositiveIntegerField(default=0)
    workloads_with_sidecar = models.PositiveIntegerField(default=0)
    workloads_strict_declared = models.PositiveIntegerField(null=True)
    workloads_strict_enforced = models.PositiveIntegerField(null=True)
    findings_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "name"], name="namespace_once_per_snapshot")
        ]
        indexes = [
            models.Index(fields=["snapshot", "mode", "name"]),
            models.Index(fields=["snapshot", "findings_count"]),
            models.Index(fields=["snapshot", "workloads_total"]),
        ]


class WorkloadRecord(models.Model):
    """A workload as a snapshot saw it: the engine's WorkloadPosture, stored."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="workloads")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    kind = models.CharField(max_length=32)
    mode = models.CharField(max_length=16, choices=EFFECTIVE_MODE_CHOICES)
    source = models.CharField(max_length=16, choices=WORKLOAD_SOURCE_CHOICES)
    policy = models.CharField(max_length=317, blank=True)
    ports = models.JSONField(default=dict)  # {"8080": "PERMISSIVE"}: only ports the winner names
    has_port_exceptions = models.BooleanField(default=False)
    reason = models.JSONField(default=dict)
    labels = models.JSONField(default=dict)
    container_ports = models.JSONField(default=list)
    has_sidecar = models.BooleanField(default=False)
    ambient = models.BooleanField(default=False)
    host_network = models.BooleanField(default=False)
    # The CoverageRule that decided it ("" on snapshots taken before coverage was recorded)
    # and what it means, stored so reports filter and count in the database.
    coverage_rule = models.CharField(max_length=32, blank=True, choices=COVERAGE_RULE_CHOICES)
    strict_declared = models.BooleanField(null=True)
    strict_enforced = models.BooleanField(null=True)
    findings_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["namespace", "name"]
        indexes = [
            models.Index(fields=["snapshot", "namespace", "name"]),
            # The workloads list sorted by mode, by what decided it (source), or by sidecar
            # (workloads without one first), in its total order (ids last): any page's offset
            # walks one of these indexes alone, from either end, instead of sorting up to
            # 150,000 rows for a middle page.
            models.Index(
                fields=["snapshot", "mode", "namespace", "name", "kind", "id"],
                name="workload_mode_order",
            ),
            models.Index(
                fields=["snapshot", "has_sidecar", "namespace", "name", "kind", "id"],
                name="workload_sidecar_order",
            ),
            models.Index(
                fields=["snapshot", "source", "namespace", "name", "kind", "id"],
                name="workload_source_order",
            ),
            # The report and the workloads list page through workloads in this order, ids
            # last to make it total (a page read from either end is exact): the offset walks
            # this index alone (PostgreSQL's index-only scan; elsewhere `include` is ignored).
            models.Index(
                fields=["snapshot", "namespace", "name", "kind", "id"],
                include=["mode", "has_port_exceptions"],
                name="workload_report_order",
            ),
            # The report counts workloads with a port below their mode on every visit.
            models.Index(
                fields=["snapshot"],
                condition=models.Q(has_port_exceptions=True),
                name="workload_port_exceptions",
            ),
            # The workloads list sorted by findings, most first (the useful direction).
            models.Index(
                fields=["snapshot", "-findings_count", "namespace", "name"],
                name="policies_wl_findings_idx",
            ),
        ]


# The name services/changes.py imports; removed once services/changes is split.


class FindingRecord(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    severity_rank = (
        models.PositiveSmallIntegerField()
    )  # error 3, warning 2, info 1: sorts worst first
    namespace = models.CharField(max_length=63, blank=True)
    name = models.CharField(max_length=253, blank=True)
    kind = models.CharField(max_length=32, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["-severity_rank", "namespace", "name", "code"]
        indexes = [
            models.Index(fields=["snapshot", "-severity_rank", "namespace", "name"]),
            models.Index(fields=["snapshot", "code"]),
            models.Index(fields=["snapshot", "namespace"]),
        ]


class FindingWorkload(models.Model):
    """A workload a finding breaks although the finding is about another object (a
    DestinationRule, possibly in another namespace), so the workload's page shows it too.

    The finding is named by its code and subject, as FindingRecord stores them.
    """

    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="finding_workloads"
    )
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    kind = models.CharField(max_length=32)
    finding_code = models.CharField(max_length=64)
    finding_namespace = models.CharField(max_length=63, blank=True)
    finding_name = models.CharField(max_length=253, blank=True)
    finding_kind = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = [models.Index(fields=["snapshot", "namespace", "name", "kind"])]


class PolicyRecord(models.Model):
    """A PeerAuthentication or DestinationRule as seen in a snapshot, with its verdict."""

    class Kind(models.TextChoices):
        PEER_AUTHENTICATION = "PeerAuthentication"
        DESTINATION_RULE = "DestinationRule"

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="policies")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    scope = models.CharField(max_length=16, blank=True, choices=POLICY_SCOPE_CHOICES)
    mode = models.CharField(
        max_length=16, blank=True
    )  # PA: declared mode incl. UNSET; DR: tls mode
    selector = models.JSONField(default=dict)
    port_modes = models.JSONField(default=dict)
    host = models.CharField(max_length=253, blank=True)
    status = models.CharField(max_length=16, blank=True, choices=POLICY_STATUS_CHOICES)
    status_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    resource_version = models.CharField(max_length=64, blank=True)
    uid = models.CharField(max_length=64, blank=True)
    api_version = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict)  # as `kubectl get` shows it, no managedFields
    # Who manages a PeerAuthentication's mode (policies.ownership), read at sync; "" for a
    # DestinationRule. `ownership` holds the rest: operation, changed_at, tool, source, rule.
    owner_kind = models.CharField(max_length=16, choices=OWNER_KIND_CHOICES, blank=True)
    owner_manager = models.CharField(max_length=128, blank=True)
    ownership = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["kind", "namespace", "name"]
        indexes = [
            models.Index(fields=["snapshot", "kind", "namespace", "name"]),
            models.Index(fields=["snapshot", "kind", "scope"]),
        ]

    @property
    def owner(self) -> PolicyOwnership:
        return PolicyOwnership.from_dict(self.ownership)


class ServiceRecord(models.Model):
    """A Service as seen in a snapshot: maps DestinationRule hosts to the workloads it selects."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="services")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    selector = models.JSONField(default=dict)
    ports = models.JSONField(default=list)  # [{"port": 80, "targetPort": 8080, "name": "http"}]
    # The effective modes its selected workloads serve in, sorted (cross-cluster findings
    # compare them, policies.engine.fleet); [] when it selects none.
    workload_modes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["namespace", "name"]
        indexes = [models.Index(fields=["snapshot", "namespace", "name"])]


class AuditAction(StrEnum):
    """What an AuditEntry records as its action; `.label` is how the audit page names it."""

    NAMESPACE_MODE_SET = "namespace_mode_set"
    PEER_AUTHENTICATION_APPLY = "peer_authentication_apply"
    PEER_AUTHENTICATION_MODE_UPDATE = "peer_authentication_mode_update"
    POLICY_DELETE = "policy_delete"
    RESTORE = "restore"
    # What on-call staff and admins do to a pending timed restore.
    RESTORE_NOW = "restore_now"
    RESTORE_EXTEND = "restore_extend"
    RESTORE_CANCEL = "restore_cancel"
    ROLLBACK = "rollback"
    # Exemptions change no cluster object, but an auditor filters and reads them like changes.
    EXEMPTION_CREATE = "exemption_create"
    EXEMPTION_REVOKE = "exemption_revoke"
    # A later expiry in one step: the old record ends as the new one starts, no gap.
    EXEMPTION_RENEW = "exemption_renew"
    # Stands for a user's further refusals within a minute, which are not recorded.
    REFUSALS_RATE_LIMITED = "refusals_rate_limited"
    # The fleet: an admin adds or removes a cluster (its history stays).
    CLUSTER_REGISTER = "cluster_register"
    CLUSTER_REMOVE = "cluster_remove"
    # A user's cluster limit set or lifted (manage.py cluster_limit), and a request refused
    # for asking for a cluster outside it.
    CLUSTER_LIMIT_SET = "cluster_limit_set"
    CLUSTER_LIMIT_CLEAR = "cluster_limit_clear"
    CLUSTER_OUTSIDE_LIMIT = "cluster_outside_limit"

    @property
    def label(self) -> str:
        return {
            "namespace_mode_set": "Namespace mode set",
            "peer_authentication_apply": "PeerAuthentication applied",
            "peer_authentication_mode_update": "Policy mode edited",
            "policy_delete": "Policy deleted",
            "restore": "Timed restore",
            "restore_now": "Timed restore run now",
            "restore_extend": "Timed restore extended",
            "restore_cancel": "Timed restore cancelled",
            "rollback": "Rollback",
            "exemption_create": "Exemption recorded",
            "exemption_revoke": "Exemption revoked",
            "exemption_renew": "Exemption renewed",
            "refusals_rate_limited": "Refusals no longer recorded",
            "cluster_register": "Cluster registered",
            "cluster_remove": "Cluster removed",
            "cluster_limit_set": "Cluster limit set",
            "cluster_limit_clear": "Cluster limit lifted",
            "cluster_outside_limit": "Cluster outside the user's limit",
        }[self.value]


class AuditEntry(models.Model):
    """One attempted change, append-only. meshui offers no way to edit or delete one, and the
    database refuses to (triggers, see policies/audit_integrity.py). So no deletion elsewhere
    may write to an entry: its own links never SET_NULL or CASCADE, and links to it PROTECT it.
    """

    class Outcome(models.TextChoices):
        """Stored values stay as written; the labels are what people read."""

        APPLIED = "applied", "Applied"
        # A preview: the impact and the cluster's dry run, nothing changed.
        DRY_RUN = "dry_run", "Previewed"
        FAILED = "failed", "Failed"
        # Refused by meshui (role, scope, reconciler, rate): nothing was sent to the cluster.
        DENIED = "denied", "Refused"
        CONFLICT = "conflict", "Failed: conflict"
        # A half-done pair undone, back to what was there before.
        ROLLED_BACK = "rolled_back", "Restored (rolled back)"
        # The first object of a pair applied, a later one not: the only kind of entry that
        # may be retried or rolled back.
        PARTIAL = "partial", "Half done"
        # No answer after sending (a timeout): re-read, and not found in force.
        UNKNOWN = "unknown", "Unknown: no answer"

    created_at = models.DateTimeField(db_index=True)
    # Deleting an account leaves its entries as written (SET_NULL would rewrite each one):
    # the id then names an account that is gone, and `username` still says who it was.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
    )
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=64)  # e.g. namespace_mode_set, policy_delete, restore
    target_kind = models.CharField(max_length=32, blank=True)
    target_namespace = models.CharField(max_length=63, blank=True, db_index=True)
    target_name = models.CharField(max_length=253, blank=True)
    reason = models.TextField(blank=True)
    object_sent = models.JSONField(null=True, blank=True)
    # The object as it was just before the change (None: it did not exist), for rollback and
    # restore, and so an auditor sees what changed without another snapshot.
    object_before = models.JSONField(null=True, blank=True)
    dry_run_result = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True)
    restore_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="restores"
    )
    # The change this attempt belongs to: its previews and its confirm share one id (32 hex
    # digits), so the log shows a change as one entry with its previews folded under it.
    # "" for an attempt that stands alone (and for every entry written before 0014).
    change_id = models.CharField(max_length=32, blank=True, db_index=True)
    # The hash chain (policies/audit_integrity.py): the entry before this one's entry_hash
    # ("" for the first), and the SHA-256 of this entry's content with it.
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    entry_hash = models.CharField(max_length=64, blank=True, editable=False)
    # The cluster the change went to, by name (entries outlive a removed cluster's row);
    # "" = the configured cluster. Hashed when set (audit_integrity.audit_entry_hash).
    cluster = models.CharField(max_length=63, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["username", "-created_at"]),
            models.Index(fields=["action", "-created_at"]),
        ]


class TimedRestoreQuerySet(models.QuerySet):
    def in_scope(self) -> TimedRestoreQuerySet:
        """The restores of namespaces in the cluster in scope (policies.cluster_scope)."""
        return self.filter(cluster_id=cluster_scope_current().cluster_id)


class TimedRestore(models.Model):
    """A temporary namespace mode change that meshui undoes by itself at `restore_at`.

    It stays pending until it runs or someone cancels it: an attempt the cluster refuses or
    does not answer is audited and tried again at `next_try_at`.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        # Only rows from before restores were retried: a failed attempt now stays pending.
        FAILED = "failed"
        CANCELLED = "cancelled"

    namespace = models.CharField(max_length=63, db_index=True)
    restore_mode = models.CharField(max_length=16)  # STRICT, PERMISSIVE or ABSENT (delete policy)
    restore_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    change = models.ForeignKey(AuditEntry, on_delete=models.PROTECT, related_name="timed_restores")
    # The entry of the latest attempt (each attempt has its own; entries are never updated).
    restore_entry = models.ForeignKey(
        AuditEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When it may be tried (again): null means at restore_at. While an attempt runs this is
    # its claim (a lease), so a second delivery waits and a crashed attempt is tried again.
    next_try_at = models.DateTimeField(null=True, blank=True)
    # When it stopped being pending (done or cancelled): reports as at a past moment need it.
    finished_at = models.DateTimeField(null=True, blank=True)
    # The registered cluster the namespace lives in; null = the configured cluster.
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="timed_restores"
    )

    objects = TimedRestoreQuerySet.as_manager()

    class Meta:
        ordering = ["restore_at"]


class Exemption(models.Model):
    """A recorded decision that a namespace or workload may stay below STRICT until expiry."""

    namespace = models.CharField(max_length=63)
    workload = models.CharField(max_length=253, blank=True)  # "" = the whole namespace
    owner = models.CharField(max_length=150)
    justification = models.TextField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    # When it stopped counting before its expiry: revoked, or renewed (then `renewal` names
    # the record that took over at that moment, so reports at any past date stay true).
    revoked_at = models.DateTimeField(null=True, blank=True)
    renewed_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewal"
    )

    class Meta:
        ordering = ["namespace", "workload", "-created_at"]
        indexes = [models.Index(fields=["namespace", "workload"])]


class ExportChecksum(models.Model):
    """The SHA-256 of one export of a report, so a filed report names the exact file.

    An export at a moment is a function of the snapshot in force then, the exemptions as they
    stood then and the audit entries of the period, all of which are history that no longer
    changes; so it is computed once per (snapshot, table, format, at, since) and kept. It goes
    with its snapshot when retention removes that.
    """

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="checksums")
    table = models.CharField(max_length=32)
    fmt = models.CharField(max_length=8)
    at = models.DateTimeField()
    since = models.DateTimeField()
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "table", "fmt", "at", "since"], name="export_checksum_once"
            )
        ]


class SnapshotDifference(models.Model):
    """Which namespaces and workloads changed between two snapshots, worked out once and kept.

    A snapshot is written whole in one transaction and its records are never updated after
    (the sync only inserts; retention only deletes), so what differs between two of them is
    history that no longer changes: the compare page joins their 300,000 workload rows once
    per pair, not on every visit. The snapshots are read in the cluster's scope before the
    pair is looked up, so a pair never shows one cluster's rows to another's reader. It goes
    with either snapshot when retention removes that; the newest MESHUI_COMPARISONS_KEPT are
    kept.
    """

    before = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+")
    after = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+")
    namespaces_changed = models.PositiveIntegerField(default=0)
    workloads_changed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["before", "after"], name="snapshot_difference_once")
        ]


class ChangedRecord(models.Model):
    """One namespace or workload of a SnapshotDifference, at its position in the page order."""

    class Section(models.TextChoices):
        NAMESPACES = "namespaces"
        WORKLOADS = "workloads"

    # A page is a range of positions, read along this key (no other index to fill).
    pk = models.CompositePrimaryKey("difference", "section", "position")
    # No constraint in the database: PostgreSQL would check it for each of 100,000 rows at
    # commit (longer than the join). The one INSERT that writes these rows takes the id of
    # the difference it has just created, and Django deletes them with it.
    difference = models.ForeignKey(
        SnapshotDifference,
        on_delete=models.CASCADE,
        related_name="changes",
        db_constraint=False,
        db_index=False,  # the primary key leads with it
    )
    section = models.CharField(max_length=16, choices=Section)
    position = models.PositiveIntegerField()
    # The NamespaceRecord or WorkloadRecord at each date (null: absent then). Plain ids, not
    # foreign keys: Django cascades a delete to what points at a model, so a key here would
    # make retention read a snapshot's 150,000 workload rows into Python before deleting
    # them; the records outlive this row anyway (both snapshots do).
    before_record_id = models.BigIntegerField(null=True)
    after_record_id = models.BigIntegerField(null=True)


class PasswordChangeRequired(models.Model):
    """A login whose password someone else chose (createuser's one-time password).

    Until the user picks their own, every page leads to the password change; changing it
    deletes the row.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="password_change_required",
    )
    since = models.DateTimeField(auto_now_add=True)


class OnCallScope(models.Model):
    """Namespaces the on-call of one group may switch: names matching a pattern, or namespaces
    carrying every label of the selector (the current snapshot's labels).

    `group` is a meshui (Django) group or, for single sign-on users, a value of the role claim
    at their last login. With no rows at all, on-call is global except system namespaces; once
    there is one, an on-call user whose groups no row names may switch nothing. System
    namespaces are in a row's scope only if it names them exactly or sets `include_system`.
    """

    group = models.CharField(max_length=150, db_index=True)
    namespace_patterns = models.JSONField(default=list, blank=True)  # fnmatch globs
    namespace_labels = models.JSONField(default=dict, blank=True)  # matchLabels: all must match
    include_system = models.BooleanField(default=False)
    # Cluster names (fnmatch globs) the scope holds in; [] = every cluster of the fleet.
    clusters = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["group", "id"]


class IdentityProviderGroups(models.Model):
    """The role claim's values at a single sign-on user's last login, for on-call scopes.

    Kept so a scope naming an identity provider group applies at once, without creating a
    Django group per IdP group; re-read (and replaced) at every login.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="identity_provider_groups",
    )
    names = models.JSONField(default=list)
    seen_at = models.DateTimeField(auto_now=True)


class ClusterLimit(models.Model):
    """The clusters of the fleet one user may see and change, by name or glob, whatever their
    role (an admin's and an auditor's too; on-call scopes narrow on-call further). No row: every
    cluster. A limited user sees only those clusters' data on every page, export and report,
    and every write service refuses (and audits) a change to another cluster. Registering and
    removing clusters, and exemptions (which hold in every cluster), need no limit at all.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="cluster_limit",
    )
    clusters = models.JSONField(default=list)  # fnmatch globs of cluster names, at least one
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)


# --- Traffic from Prometheus (issue 14) -------------------------------------------------------


class TrafficRead(models.Model):
    """One read of Istio's traffic metrics from Prometheus, beside the snapshots.

    A read is whole or failed: rows hang only off a succeeded read, so a page never shows
    numbers from a partial answer. Pages show the newest succeeded read and, when a later
    one failed, what failed.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=32, default="schedule")
    error = models.TextField(blank=True)
    # The moment every query was evaluated at (Prometheus' `time=`), and the window before it.
    at = models.DateTimeField()
    window_seconds = models.PositiveIntegerField()
    # How much of the window Prometheus holds (== window when it holds all of it).
    history_seconds = models.PositiveIntegerField(null=True, blank=True)
    query_count = models.PositiveSmallIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    queries = models.JSONField(default=list, blank=True)  # the PromQL, to paste into Prometheus
    prometheus_url = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "-started_at"])]


class TrafficVolume(models.Model):
    """Destination-reported volume over the window; plaintext is anything not mutual_tls."""

    mtls_requests = models.FloatField(default=0)
    plaintext_requests = models.FloatField(default=0)
    mtls_connections = models.FloatField(default=0)
    plaintext_connections = models.FloatField(default=0)
    plaintext_callers = models.PositiveIntegerField(default=0)
    # Plaintext over all requests and connections, null without traffic (sorted, exported).
    plaintext_share = models.FloatField(null=True, blank=True)
    readiness = models.CharField(max_length=24, choices=TRAFFIC_READINESS_CHOICES)

    class Meta:
        abstract = True


class TrafficNamespace(TrafficVolume):
    read = models.ForeignKey(TrafficRead, on_delete=models.CASCADE, related_name="namespaces")
    namespace = models.CharField(max_length=253)

    class Meta:
        indexes = [models.Index(fields=["read", "namespace"])]


class TrafficWorkload(TrafficVolume):
    read = models.ForeignKey(TrafficRead, on_delete=models.CASCADE, related_name="workloads")
    namespace = models.CharField(max_length=253)
    workload = models.CharField(max_length=253)

    class Meta:
        indexes = [models.Index(fields=["read", "namespace", "workload"])]


class TrafficCaller(models.Model):
    """A source that sent plaintext to a destination workload within the window."""

    read = models.ForeignKey(TrafficRead, on_delete=models.CASCADE, related_name="callers")
    destination_namespace = models.CharField(max_length=253)
    destination_workload = models.CharField(max_length=253)
    source_namespace = models.CharField(max_length=253)
    source_workload = models.CharField(max_length=253)
    source_principal = models.CharField(max_length=500)
    requests = models.FloatField(default=0)
    connections = models.FloatField(default=0)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["read", "destination_namespace", "destination_workload"])]
