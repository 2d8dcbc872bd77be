"""Reads of the audit log: the filtered list, CSV rows, a namespace's recent changes, and
the check of its hash chain."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.paginator import Page
from django.db.models import CharField, Max, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.utils import timezone

from policies.audit_integrity import HASHED_FIELDS, HASHED_WHEN_SET, audit_entry_hash
from policies.audit_modes import mode_change
from policies.exports import AUDIT_COLUMNS, AUDIT_STORED, audit_values, spreadsheet_safe
from policies.models import AuditAction, AuditEntry
from policies.selectors.fleet import configured_cluster_name
from policies.selectors.paging import page_clamped

# The column names, the timestamp format and the cell escaping are the exports' own, so the
# audit page's CSV and the report's audit table stay one published shape.
CSV_COLUMNS = AUDIT_COLUMNS


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_entry_list(
    *,
    username: str = "",
    namespace: str = "",
    action: str = "",
    outcome: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    clusters: list[str] | None = None,
) -> QuerySet[AuditEntry]:
    """Entries newest first, narrowed by any of the filters (dates inclusive, in UTC) and to
    the `clusters` a user may see (AuditEntry.cluster values; None: every cluster)."""
    entries = AuditEntry.objects.all()
    if clusters is not None:
        entries = entries.filter(cluster__in=clusters)
    if username:
        entries = entries.filter(username=username)
    if namespace:
        entries = entries.filter(target_namespace=namespace)
    if action:
        entries = entries.filter(action=action)
    if outcome:
        entries = entries.filter(outcome=outcome)
    if date_from:
        entries = entries.filter(created_at__gte=_day_start(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=_day_start(date_to + timedelta(days=1)))
    return entries.order_by("-created_at", "-id")


def audit_entry_get(*, entry_id: int, clusters: list[str] | None = None) -> AuditEntry:
    """One entry; DoesNotExist too when it is about a cluster outside `clusters`."""
    entries = AuditEntry.objects.select_related("restore_of")
    if clusters is not None:
        entries = entries.filter(cluster__in=clusters)
    return entries.get(pk=entry_id)


def audit_usernames() -> list[str]:
    return list(
        AuditEntry.objects.order_by("username").values_list("username", flat=True).distinct()
    )


def audit_recorded_actions() -> list[str]:
    """Every action name that appears in the log (other features add their own)."""
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_csv_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[str]]:
    """The header, then one row per entry (every attempt, previews included), streamed."""
    yield list(CSV_COLUMNS)
    configured = configured_cluster_name()
    for values in entries.values(*AUDIT_STORED).iterator(chunk_size=1000):
        row = audit_values(values, configured_cluster=configured)
        yield [spreadsheet_safe(row[column]) for column in CSV_COLUMNS]


def action_label(action: str) -> str:
    """An action in words ("Namespace mode set"); one another feature records is spelled out."""
    try:
        return AuditAction(action).label
    except ValueError:
        return action.replace("_", " ").capitalize()


# Actions that put back what an earlier change replaced: applied, they read "Restored".
RESTORING_ACTIONS = frozenset({AuditAction.RESTORE, AuditAction.RESTORE_NOW})


def outcome_label(action: str, outcome: str) -> str:
    """An outcome in words: "Refused" (never a dry run), "Previewed", "Applied", "Restored"."""
    if outcome == AuditEntry.Outcome.APPLIED and action in RESTORING_ACTIONS:
        return "Restored"
    try:
        return AuditEntry.Outcome(outcome).label
    except ValueError:
        return outcome.replace("_", " ").capitalize()


def with_action_labels(entries) -> list[AuditEntry]:
    """The entries with what the pages show of them: `.action_label` ("Namespace mode
    set"), `.outcome_label` ("Refused") and `.mode_from` / `.mode_to`."""
    labelled = list(entries)
    for entry in labelled:
        entry.action_label = action_label(entry.action)
        entry.outcome_label = outcome_label(entry.action, entry.outcome)
        entry.mode_from, entry.mode_to = mode_change(
            object_sent=entry.object_sent,
            object_before=entry.object_before,
            outcome=entry.outcome,
        )
    return labelled


@dataclass(frozen=True)
class AuditChange:
    """One change as the log shows it: its deciding attempt (the confirm, a refusal, or the
    last preview of a change never confirmed) with the other attempts folded under it."""

    lead: AuditEntry
    folded: list[AuditEntry]  # oldest first

    @property
    def folded_summary(self) -> str:
        """ "3 more attempts: 2 previewed, 1 refused"."""
        counts: dict[str, int] = {}
        for entry in self.folded:
            label = getattr(entry, "outcome_label", entry.outcome).lower()
            counts[label] = counts.get(label, 0) + 1
        total = len(self.folded)
        kinds = ", ".join(f"{count} {label}" for label, count in counts.items())
        return f"{total} more attempt{'s' if total != 1 else ''}: {kinds}"


def _lead_of(entries: list[AuditEntry]) -> AuditEntry:
    """The newest attempt that is not a preview, else the newest preview."""
    decided = [entry for entry in entries if entry.outcome != AuditEntry.Outcome.DRY_RUN]
    return max(decided or entries, key=lambda entry: (entry.created_at, entry.id))


def audit_change_page(entries: QuerySet[AuditEntry], *, page_number: int, per_page: int) -> Page:
    """One page of changes made of `entries` (already filtered), newest change first.

    Attempts that share a change id are one change; an entry without one stands alone. The
    page is cut by change, not by entry, and costs two queries whatever it holds.
    """
    group = Coalesce(
        NullIf("change_id", Value("")),
        Concat(Value("#"), Cast("id", CharField())),
        output_field=CharField(),
    )
    groups = (
        entries.annotate(group=group)
        .values("group")
        .annotate(latest=Max("created_at"), newest_id=Max("id"))
        .order_by("-latest", "-newest_id")
    )
    # A change's newest id is unique: the order is total, so a deep page is read reversed.
    page = page_clamped(groups, per_page, page_number, tie_breaker="newest_id")
    keys = [row["group"] for row in page.object_list]
    ids = [int(key[1:]) for key in keys if key.startswith("#")]
    members = with_action_labels(
        entries.filter(
            Q(change_id__in=[key for key in keys if not key.startswith("#")])
            | Q(change_id="", id__in=ids)
        ).order_by("created_at", "id")
    )
    by_group: dict[str, list[AuditEntry]] = {}
    for entry in members:
        by_group.setdefault(entry.change_id or f"#{entry.id}", []).append(entry)
    changes = []
    for key in keys:
        attempts = by_group.get(key, [])
        if not attempts:
            continue
        lead = _lead_of(attempts)
        changes.append(AuditChange(lead=lead, folded=[e for e in attempts if e is not lead]))
    page.object_list = changes
    return page


def audit_change_attempts(*, entry: AuditEntry) -> list[AuditEntry]:
    """Every attempt of the change `entry` belongs to, oldest first (just it, alone)."""
    if not entry.change_id:
        return with_action_labels([entry])
    return with_action_labels(
        AuditEntry.objects.filter(change_id=entry.change_id).order_by("created_at", "id")
    )


def namespace_recent_changes(
    *, namespace: str, limit: int = 10, clusters: list[str] | None = None
) -> list[AuditEntry]:
    """The namespace's newest entries, in the `clusters` a user may see (None: every one)."""
    return with_action_labels(audit_entry_list(namespace=namespace, clusters=clusters)[:limit])


def _expected_records(entry: AuditEntry) -> list[tuple[str, str, str, str | None]]:
    """(kind, namespace, name, mode or None for "gone") the snapshot should show after `entry`."""
    sent = entry.object_sent
    if isinstance(sent, dict) and "delete" in sent:
        target = sent["delete"]
        return [(target["kind"], target["namespace"], target["name"], None)]
    if entry.action == "rollback" and not sent:
        return [(entry.target_kind, entry.target_namespace, entry.target_name, None)]
    manifests = sent if isinstance(sent, list) else [sent] if isinstance(sent, dict) else []
    expected = []
    for manifest in manifests:
        if not isinstance(manifest, dict) or "kind" not in manifest:
            continue
        spec = manifest.get("spec") or {}
        if manifest["kind"] == "DestinationRule":
            mode = ((spec.get("trafficPolicy") or {}).get("tls") or {}).get("mode", "")
        else:
            mode = (spec.get("mtls") or {}).get("mode", "UNSET")
        metadata = manifest.get("metadata") or {}
        expected.append(
            (manifest["kind"], metadata.get("namespace", ""), metadata.get("name", ""), mode)
        )
    return expected


def change_sync_state(*, entry: AuditEntry) -> dict:
    """Whether the newest snapshot shows what `entry` applied ("applied, waiting for the
    cluster" until it does), and the last sync's error if one failed since."""
    from policies.models import PolicyRecord, SyncRun
    from policies.selectors.sync import snapshot_current

    waiting_for = entry.outcome in (AuditEntry.Outcome.APPLIED, AuditEntry.Outcome.ROLLED_BACK)
    if not waiting_for:
        return {"applies": False, "reflected": False}
    snapshot = snapshot_current()
    reflected = snapshot is not None
    for kind, namespace, name, mode in _expected_records(entry) if snapshot else ():
        record = PolicyRecord.objects.filter(
            snapshot=snapshot, kind=kind, namespace=namespace, name=name
        ).first()
        if (mode is None) != (record is None) or (record and mode and record.mode != mode):
            reflected = False
    failed_sync = (
        SyncRun.objects.filter(started_at__gte=entry.created_at, status=SyncRun.Status.FAILED)
        .order_by("-started_at")
        .first()
    )
    waited = (timezone.now() - entry.created_at).total_seconds()
    return {
        "applies": True,
        "reflected": reflected,
        "snapshot": snapshot,
        "failed_sync": failed_sync,
        "waited_seconds": int(waited),
    }


def half_done_change_open(*, entry: AuditEntry) -> bool:
    """A half-done pair that no retry or rollback has completed yet (what those act on)."""
    return (
        entry.outcome == AuditEntry.Outcome.PARTIAL
        and not entry.restores.filter(
            outcome__in=(AuditEntry.Outcome.APPLIED, AuditEntry.Outcome.ROLLED_BACK)
        ).exists()
    )


@dataclass(frozen=True)
class AuditChainCheck:
    """What a walk of the hash chain found: `problem` is "" when the chain is intact."""

    entries: int
    newest_id: int | None = None
    newest_hash: str = ""
    problem: str = ""


def audit_chain_check(*, anchor: str = "") -> AuditChainCheck:
    """Walk the chain in id order; stop at the first entry whose content or link is wrong.

    `anchor` is an entry hash kept outside meshui (verify_audit prints the newest): a chain
    without it lost its end, which the links alone cannot show.
    """
    previous_hash, previous_id, count, anchor_found = "", None, 0, not anchor
    rows = AuditEntry.objects.order_by("id").values(
        "id", "previous_hash", "entry_hash", *HASHED_FIELDS, *HASHED_WHEN_SET
    )
    for row in rows.iterator(chunk_size=2000):
        if row["previous_hash"] != previous_hash:
            follows = f"entry #{previous_id}" if previous_id else "the start of the log"
            return AuditChainCheck(
                entries=count,
                problem=f"audit log broken at entry #{row['id']}: it does not follow "
                f"{follows} (an entry was removed, inserted or rewritten before it)",
            )
        if audit_entry_hash(row, previous_hash) != row["entry_hash"]:
            return AuditChainCheck(
                entries=count,
                problem=f"audit log broken at entry #{row['id']}: its content no longer "
                "matches its hash (edited after it was written)",
            )
        previous_hash, previous_id, count = row["entry_hash"], row["id"], count + 1
        anchor_found = anchor_found or previous_hash == anchor
    if not anchor_found:
        return AuditChainCheck(
            entries=count,
            problem=f"audit log broken: no entry has the hash {anchor} any more "
            "(the entries from that one on were removed)",
        )
    return AuditChainCheck(entries=count, newest_id=previous_id, newest_hash=previous_hash)
