"""A month of made-up history for the demo cluster, so trends, compare and the report period
show something the first time a newcomer opens them.

Every step runs meshui's own code as a person would have: the change services preview and
apply the toggles against the demo cluster (previews, refusals and applied changes land in
the audit log exactly as real ones do, each change with its previews folded under it), the
exemption service records an exemption, and the sync stores a snapshot after each change.
Only the clock is set back: audit entries are dated with `audit_entries_dated`, syncs and
exemptions take their `now`. Every reason carries DEMO_MARK, so nobody mistakes it for
a real record, and the sync runs carry the trigger DEMO_TRIGGER.

It runs once, on an empty database (no snapshot, no audit entry), for the demo cluster only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction

from policies.models import AuditEntry, Snapshot
from policies.services import changes as change_services
from policies.services.audit import audit_change, audit_entries_dated, change_id_new
from policies.services.exemptions import exemption_create
from policies.services.sync import cluster_sync

DEMO_MARK = "[demo history]"
DEMO_TRIGGER = "demo-history"
DAYS = 30


@dataclass(frozen=True)
class Toggle:
    """Someone switches a namespace's mode `days_ago`, after `previews` previews."""

    days_ago: int
    hour: int  # UTC, working hours: a believable month
    who: str  # a role: the demo account of that name
    namespace: str
    mode: str
    reason: str
    previews: int = 1
    confirm: bool = True  # False: previewed only, never applied


@dataclass(frozen=True)
class Exempt:
    days_ago: int
    hour: int
    namespace: str
    owner: str
    justification: str
    runs_days: int


# The month, oldest first. Refused attempts are toggles by people who may not make them
# (an auditor; on-call against a policy Argo CD reconciles): meshui refuses and audits them.
STORY = (
    Toggle(27, 9, "oncall", "batch", "STRICT", "CHG-1102: batch jobs have sidecars now", 2),
    Toggle(26, 14, "auditor", "inventory", "STRICT", "Tried from the audit review", 0),
    Toggle(25, 7, "oncall", "batch", "PERMISSIVE", "INC-4821: nightly export refused; revert"),
    Exempt(21, 11, "legacy", "team-mainframe", "Mainframe bridge speaks plaintext until Q3", 120),
    Toggle(16, 15, "oncall", "shop", "STRICT", "CHG-1120: storefront to STRICT", 1),
    Toggle(12, 10, "oncall", "inventory", "STRICT", "CHG-1131: stock services ready", 3),
    Toggle(9, 16, "oncall", "inventory", "PERMISSIVE", "INC-4870: stock-db callers refused"),
    Toggle(3, 9, "oncall", "inventory", "STRICT", "CHG-1140: stock-db callers fixed", 1),
    Toggle(1, 13, "oncall", "batch", "STRICT", "CHG-1144: what would STRICT break?", 2, False),
)


def demo_history_wanted() -> bool:
    """Only an empty database gets a history: never one with real records."""
    return not Snapshot.objects.exists() and not AuditEntry.objects.exists()


def demo_history_write(*, now: datetime, users: dict) -> int:
    """Write the month before `now`; `users` maps a role name to its demo account.
    Returns how many snapshots it stored."""
    start = (now - timedelta(days=DAYS)).replace(hour=6, minute=0, second=0, microsecond=0)
    snapshots = 0
    # One transaction: a change asks for a sync when it commits, and those syncs (at the
    # real clock) must come after the history, not in the middle of it.
    with transaction.atomic():
        cluster_sync(trigger=DEMO_TRIGGER, now=start)
        snapshots += 1
        for step in STORY:
            day = now - timedelta(days=step.days_ago)
            moment = day.replace(hour=step.hour, minute=12, second=0, microsecond=0)
            if isinstance(step, Exempt):
                exemption_create(
                    user=users["admin"],
                    namespace=step.namespace,
                    owner=step.owner,
                    justification=f"{DEMO_MARK} {step.justification}",
                    expires_at=moment + timedelta(days=step.runs_days),
                    now=moment,
                )
                continue
            if _toggle(step, users[step.who], moment):
                # The sync meshui asks for after a change, a moment after it.
                done = moment + timedelta(minutes=step.previews * 3 + 2)
                cluster_sync(trigger=DEMO_TRIGGER, now=done)
                snapshots += 1
    return snapshots


def _toggle(step: Toggle, user, moment: datetime) -> bool:
    """Preview (maybe several times), then confirm; False when nothing was applied (only
    previewed, or refused)."""
    reason = f"{DEMO_MARK} {step.reason}"
    with audit_change(change_id_new()):
        try:
            for number in range(step.previews):
                with audit_entries_dated(moment + timedelta(minutes=number * 3)):
                    plan = change_services.namespace_mode_plan(
                        namespace=step.namespace, mode=step.mode, reason=reason
                    )
                    change_services.change_preview(user=user, plan=plan)
            if not step.confirm:
                return False
            with audit_entries_dated(moment + timedelta(minutes=step.previews * 3 + 1)):
                change_services.namespace_mode_set(
                    user=user, namespace=step.namespace, mode=step.mode, reason=reason
                )
        except (PermissionDenied, change_services.ChangeFailure):
            return False  # refused and audited, as it would have been
    return True
