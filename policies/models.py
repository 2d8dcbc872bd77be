"""Stored posture snapshots, sync runs, the audit log, timed restores, exemptions, and the
logins that must replace a one-time password.

The cluster is the source of truth for policies; these tables hold what meshui *saw*
(snapshots, for history and fast pages) and what meshui *did* (the audit log).
Rows carry their snapshot id first in every index so a page's filter, sort and page
is one indexed query whatever the mesh size.
"""

from enum import StrEnum

from django.conf import settings
from django.db import models


class Mode(models.TextChoices):
    STRICT = "STRICT"
    PERMISSIVE = "PERMISSIVE"
    DISABLE = "DISABLE"


class Severity(models.TextChoices):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_RANK = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


class SyncRun(models.Model):
    """One attempt to read the cluster; a success points at the snapshot it stored."""

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

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "-started_at"])]


class Snapshot(models.Model):
    """The posture computed from one complete read of the cluster.

    Written in one transaction (rows first, the snapshot becomes visible with them), so a
    reader never sees half of one. The current snapshot is the newest one.
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
    mesh_mode = models.CharField(max_length=16, choices=Mode.choices)
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
    findings_error = models.PositiveIntegerField(default=0)
    findings_warning = models.PositiveIntegerField(default=0)
    findings_info = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-taken_at", "-id"]
        get_latest_by = ["taken_at", "id"]


class NamespacePosture(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=63)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    source = models.CharField(max_length=16)  # namespace, mesh, default
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


class WorkloadPosture(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="workloads")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    kind = models.CharField(max_length=32)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    source = models.CharField(max_length=16)  # workload, namespace, mesh, default
    policy = models.CharField(max_length=317, blank=True)
    ports = models.JSONField(default=dict)  # {"8080": "PERMISSIVE"}: only ports the winner names
    has_port_exceptions = models.BooleanField(default=False)
    reason = models.JSONField(default=dict)
    labels = models.JSONField(default=dict)
    container_ports = models.JSONField(default=list)
    has_sidecar = models.BooleanField(default=False)
    ambient = models.BooleanField(default=False)
    findings_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["namespace", "name"]
        indexes = [
            models.Index(fields=["snapshot", "namespace", "name"]),
            models.Index(fields=["snapshot", "mode", "namespace", "name"]),
        ]


class FindingRecord(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
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
    scope = models.CharField(max_length=16, blank=True)  # mesh, namespace, workload, ignored
    mode = models.CharField(
        max_length=16, blank=True
    )  # PA: declared mode incl. UNSET; DR: tls mode
    selector = models.JSONField(default=dict)
    port_modes = models.JSONField(default=dict)
    host = models.CharField(max_length=253, blank=True)
    status = models.CharField(max_length=16, blank=True)  # effective, ignored, shadowed
    status_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    resource_version = models.CharField(max_length=64, blank=True)
    uid = models.CharField(max_length=64, blank=True)
    api_version = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict)

    class Meta:
        ordering = ["kind", "namespace", "name"]
        indexes = [
            models.Index(fields=["snapshot", "kind", "namespace", "name"]),
            models.Index(fields=["snapshot", "kind", "scope"]),
        ]


class ServiceRecord(models.Model):
    """A Service as seen in a snapshot: maps DestinationRule hosts to the workloads it selects."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="services")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    selector = models.JSONField(default=dict)
    ports = models.JSONField(default=list)  # [{"port": 80, "targetPort": 8080, "name": "http"}]

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
    ROLLBACK = "rollback"
    # Exemptions change no cluster object, but an auditor filters and reads them like changes.
    EXEMPTION_CREATE = "exemption_create"
    EXEMPTION_REVOKE = "exemption_revoke"

    @property
    def label(self) -> str:
        return {
            "namespace_mode_set": "Namespace mode set",
            "peer_authentication_apply": "PeerAuthentication applied",
            "peer_authentication_mode_update": "Policy mode edited",
            "policy_delete": "Policy deleted",
            "restore": "Timed restore",
            "rollback": "Rollback",
            "exemption_create": "Exemption recorded",
            "exemption_revoke": "Exemption revoked",
        }[self.value]


class AuditEntry(models.Model):
    """One attempted change, append-only. meshui offers no way to edit or delete one."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        DRY_RUN = "dry_run"
        FAILED = "failed"
        DENIED = "denied"
        CONFLICT = "conflict"
        ROLLED_BACK = "rolled_back"
        # The first object of a pair applied, a later one not: the only kind of entry that
        # may be retried or rolled back.
        PARTIAL = "partial", "Half done"
        # No answer after sending (a timeout): re-read, and not found in force.
        UNKNOWN = "unknown"

    created_at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    username = models.CharField(max_length=150)  # kept when the account is gone
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

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["username", "-created_at"]),
            models.Index(fields=["action", "-created_at"]),
        ]


class TimedRestore(models.Model):
    """A temporary namespace mode change that meshui undoes by itself at `restore_at`."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    namespace = models.CharField(max_length=63, db_index=True)
    restore_mode = models.CharField(max_length=16)  # STRICT, PERMISSIVE or ABSENT (delete policy)
    restore_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    change = models.ForeignKey(AuditEntry, on_delete=models.PROTECT, related_name="timed_restores")
    restore_entry = models.ForeignKey(
        AuditEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)

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
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["namespace", "workload", "-created_at"]
        indexes = [models.Index(fields=["namespace", "workload"])]


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
