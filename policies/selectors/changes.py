"""Reads the change pages and change services need from the current snapshot: the toggle's
target, the namespace-wide policy seen, workload labels, Services, pending timed restores."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Case, When

from policies.engine import PolicyScope, PolicyStatus, selector_matches
from policies.kinds import DESTINATION_RULE, PEER_AUTHENTICATION
from policies.models import (
    NamespaceRecord,
    PolicyRecord,
    ServiceRecord,
    Snapshot,
    TimedRestore,
    WorkloadRecord,
)
from policies.ownership import OwnerKind, PolicyOwnership
from policies.selectors.sync import snapshot_current


def root_namespace() -> str:
    """Istio's root namespace as the current snapshot read it (settings before a sync)."""
    snapshot = snapshot_current()
    return snapshot.root_namespace if snapshot else settings.MESHUI_ROOT_NAMESPACE


def is_namespace_wide(policy: dict) -> bool:
    """Istio treats a missing selector and an empty matchLabels alike: the whole namespace."""
    return not (((policy.get("spec") or {}).get("selector") or {}).get("matchLabels"))


def _free_policy_names():
    yield "default"
    yield "namespace-mtls"
    for number in range(2, 1000):
        yield f"namespace-mtls-{number}"


def namespace_toggle_target(policies: list[dict]) -> tuple[str, dict | None]:
    """The policy the toggle edits among a namespace's PeerAuthentications: the namespace-wide
    one Istio uses (oldest creation time, then name), or else a name that no policy of the
    namespace holds, for a new one; never a policy with a selector."""
    wide = sorted(
        (policy for policy in policies if is_namespace_wide(policy)),
        key=lambda policy: (
            policy["metadata"].get("creationTimestamp") or "",
            policy["metadata"]["name"],
        ),
    )
    if wide:
        return wide[0]["metadata"]["name"], wide[0]
    taken = {policy["metadata"]["name"] for policy in policies}
    return next(name for name in _free_policy_names() if name not in taken), None


def namespace_toggle_target_seen(namespace: str) -> tuple[str, dict | None]:
    """The toggle's target as the current snapshot has it (what a form and preview show)."""
    name, record = _toggle_target_record(namespace)
    return name, record.manifest if record else None


def namespace_toggle_owner_seen(namespace: str) -> PolicyOwnership:
    """Who manages the mode of the toggle's target as the last sync read it."""
    _name, record = _toggle_target_record(namespace)
    return record.owner if record else PolicyOwnership(OwnerKind.NONE)


def _toggle_target_record(namespace: str) -> tuple[str, PolicyRecord | None]:
    snapshot = snapshot_current()
    if snapshot is None:
        return "default", None
    records = [
        record
        for record in PolicyRecord.objects.filter(
            snapshot=snapshot, kind=PEER_AUTHENTICATION, namespace=namespace
        )
        if record.manifest
    ]
    name, target = namespace_toggle_target([record.manifest for record in records])
    if target is None:
        return name, None
    return name, next(record for record in records if record.name == name)


def namespace_policy_seen(namespace: str) -> PolicyRecord | None:
    """The namespace-wide PeerAuthentication in force in the current snapshot, if any."""
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    records = PolicyRecord.objects.filter(
        snapshot=snapshot,
        kind=PEER_AUTHENTICATION,
        namespace=namespace,
        scope=PolicyScope.NAMESPACE,
    )
    return records.filter(status=PolicyStatus.EFFECTIVE).first() or records.first()


def _policy_record_seen(**lookup) -> PolicyRecord | None:
    snapshot = snapshot_current()
    if snapshot is None:
        return None
    return PolicyRecord.objects.filter(snapshot=snapshot, **lookup).first()


def policy_manifest_seen(kind: str, namespace: str, name: str) -> dict | None:
    """The object as the current snapshot holds it, or None."""
    record = _policy_record_seen(kind=kind, namespace=namespace, name=name)
    return record.manifest if record else None


def destination_rule_name_for_host(namespace: str, host: str) -> str | None:
    """The name of a DestinationRule of `namespace` for exactly `host`, if the snapshot has one."""
    record = _policy_record_seen(kind=DESTINATION_RULE, namespace=namespace, host=host)
    return record.name if record else None


def istio_api_versions_seen() -> dict[str, str]:
    """The Istio API versions the cluster served at the last sync ({} before one)."""
    snapshot = snapshot_current()
    return (snapshot.istio_versions if snapshot else None) or {}


def pending_restores_query(namespace: str):
    return TimedRestore.objects.in_scope().filter(
        namespace=namespace, status=TimedRestore.Status.PENDING
    )


def namespace_current_mode(namespace: str) -> str:
    snapshot = snapshot_current()
    if snapshot is None:
        return ""
    row = snapshot.namespaces.filter(name=namespace).first()
    return row.mode if row else ""


def workload_labels(namespace: str) -> dict[str, dict]:
    """Workload name -> labels, from the current snapshot (the workload form's choices)."""
    snapshot = snapshot_current()
    if snapshot is None:
        return {}
    rows = WorkloadRecord.objects.filter(snapshot=snapshot, namespace=namespace)
    return {row.name: row.labels or {} for row in rows}


def services_selecting_workloads(namespace: str, selector: dict) -> list[str]:
    """Services of the namespace that select workloads carrying every label of `selector`."""
    snapshot = snapshot_current()
    if snapshot is None or not selector:
        return []
    workloads = [
        row.labels or {}
        for row in WorkloadRecord.objects.filter(snapshot=snapshot, namespace=namespace)
        if selector_matches(selector, row.labels or {})
    ]
    names = []
    for service in ServiceRecord.objects.filter(snapshot=snapshot, namespace=namespace):
        service_selector = service.selector or {}
        # A Service without a selector selects nothing (its endpoints are managed by hand).
        if service_selector and any(
            selector_matches(service_selector, labels) for labels in workloads
        ):
            names.append(service.name)
    return names


def destination_rules_with_wildcard_hosts(snapshot: Snapshot) -> bool:
    """Whether any DestinationRule of the snapshot has a wildcard host (`*.local`, ...)."""
    return PolicyRecord.objects.filter(
        snapshot=snapshot, kind=PolicyRecord.Kind.DESTINATION_RULE, host__contains="*"
    ).exists()


def outside_plaintext_workloads(snapshot: Snapshot, namespaces: set[str]):
    """Sidecar-less workloads outside `namespaces` (callers a change may refuse): the first
    few, and how many in all."""
    from policies.engine.impact import PLAINTEXT_CALLERS_SHOWN, WorkloadRef

    rows = WorkloadRecord.objects.filter(
        snapshot=snapshot, has_sidecar=False, ambient=False
    ).exclude(namespace__in=namespaces)
    shown = [
        WorkloadRef(namespace, name, kind)
        for namespace, name, kind in rows.order_by("namespace", "name").values_list(
            "namespace", "name", "kind"
        )[:PLAINTEXT_CALLERS_SHOWN]
    ]
    return shown, rows.count()


# --- The new-policy form's pickers -----------------------------------------------------------

# How many matches a picker lists at once; more means "type more of the name".
PICKER_SHOWN = 20


@dataclass(frozen=True)
class PickerMatches:
    """What a search-as-you-type picker lists: the first matches, and how many in all."""

    rows: list
    total: int

    @property
    def more(self) -> int:
        return max(self.total - len(self.rows), 0)


@dataclass(frozen=True)
class PolicyTarget:
    """Where a new PeerAuthentication goes, as far as the user has picked it, read from the
    current snapshot: the namespace and workload when they exist there, the matches a picker
    lists while they do not, the picked workload's labels, and the namespace-wide policy Istio
    already uses there (a second one would be ignored)."""

    scope: str
    namespace_query: str
    namespace: str  # "" until it names a namespace of the snapshot
    workload_query: str
    workload: WorkloadRecord | None
    root_namespace: str
    namespace_matches: PickerMatches | None = None
    workload_matches: PickerMatches | None = None
    workload_labels: dict[str, dict] = field(default_factory=dict)
    policy_in_force: PolicyRecord | None = None

    @property
    def ready(self) -> bool:
        """Enough is picked to show the scope's own fields."""
        if self.scope == "mesh":
            return True
        return self.scope in ("namespace", "workload") and bool(self.namespace)


def policy_target_read(*, scope: str, namespace: str = "", workload: str = "") -> PolicyTarget:
    """The new-policy form's target and its pickers' matches, from the current snapshot."""
    snapshot = snapshot_current()
    root = snapshot.root_namespace if snapshot else settings.MESHUI_ROOT_NAMESPACE
    found = ""
    namespace_matches = workload_matches = None
    picked = None
    labels: dict[str, dict] = {}
    if scope == "mesh":
        found = root
    elif scope in ("namespace", "workload") and snapshot is None:
        namespace_matches = PickerMatches(rows=[], total=0)
    elif scope in ("namespace", "workload"):
        names = NamespaceRecord.objects.filter(snapshot=snapshot)
        if namespace and names.filter(name=namespace).exists():
            found = namespace
        else:
            namespace_matches = _matches(names, "name", namespace)
    if scope == "workload" and found and snapshot is not None:
        rows = WorkloadRecord.objects.filter(snapshot=snapshot, namespace=found)
        labels = {row.name: row.labels or {} for row in rows.only("name", "labels")}
        picked = rows.filter(name=workload).first() if workload else None
        if picked is None:
            workload_matches = _matches(rows, "name", workload)
    in_force = None
    if scope in ("mesh", "namespace") and found and snapshot is not None:
        in_force = (
            PolicyRecord.objects.filter(
                snapshot=snapshot,
                kind=PEER_AUTHENTICATION,
                namespace=found,
                scope__in=(PolicyScope.MESH, PolicyScope.NAMESPACE),
                status=PolicyStatus.EFFECTIVE,
            )
            .order_by("created_at", "name")
            .first()
        )
    return PolicyTarget(
        scope=scope,
        namespace_query=namespace,
        namespace=found,
        workload_query=workload,
        workload=picked,
        root_namespace=root,
        namespace_matches=namespace_matches,
        workload_matches=workload_matches,
        workload_labels=labels,
        policy_in_force=in_force,
    )


def _matches(rows, column: str, query: str) -> PickerMatches:
    """Rows whose `column` contains `query`, names starting with it first, then by name."""
    if query:
        rows = rows.filter(**{f"{column}__contains": query}).annotate(
            starts=Case(When(**{f"{column}__startswith": query}, then=0), default=1)
        )
        ordered = rows.order_by("starts", column)
    else:
        ordered = rows.order_by(column)
    return PickerMatches(rows=list(ordered[:PICKER_SHOWN]), total=rows.count())
