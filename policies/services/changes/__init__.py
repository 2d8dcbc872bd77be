"""Changing posture: plan a change, preview it (impact, YAML, kubectl, server dry run), apply it.

Every change goes to the cluster through the gateway with server-side apply as field manager
"meshui"; meshui's database only records what was attempted (the audit log) and what to undo
later (timed restores). Every way into a write (forms, retries, rollbacks, timed restores)
goes plan -> permission check (in the service) -> dry run -> apply, and every attempt is
audited, whatever happens: denied, dry run, conflict, failed, unknown, applied.

One module per operation: `plans` (what to send), `preview`, `apply`, `toggle` (the on-call
namespace switch), `takeover` (whether the toggle may take a mode over from the tool that
manages it), `half_done` (retry and rollback), `restores` (timed restores: scheduled,
swept, attempted until they run), `restore_actions` (run now, extend, cancel), `permissions`,
`records` (audit entries) and `failures` (the cluster's errors in words).
The reads they need live in `policies.selectors.changes`.
"""

from policies.kinds import ABSENT, TOGGLE_MODES
from policies.services.changes.apply import (
    ChangeResult,
    namespace_change_lock,
    peer_authentication_apply,
    peer_authentication_mode_update,
    policy_delete,
)
from policies.services.changes.failures import ChangeFailure, PartialChange, describe_cluster_error
from policies.services.changes.half_done import change_retry, change_rollback
from policies.services.changes.permissions import change_denied, root_namespace_refusal
from policies.services.changes.plans import (
    SEEN_ABSENT,
    ChangePlan,
    kubectl_apply_command,
    kubectl_delete_command,
    manifests_yaml,
    namespace_mode_plan,
    peer_authentication_plan,
    policy_delete_plan,
    policy_mode_plan,
)
from policies.services.changes.preview import ChangePreview, change_preview, impact_of
from policies.services.changes.restore_actions import (
    timed_restore_cancel,
    timed_restore_extend,
    timed_restore_plan,
    timed_restore_run_now,
)
from policies.services.changes.restores import timed_restore_run, timed_restores_sweep
from policies.services.changes.takeover import (
    TakeOver,
    require_takeover_permitted,
    toggle_takeover,
)
from policies.services.changes.toggle import namespace_mode_set

__all__ = [
    "ABSENT",
    "SEEN_ABSENT",
    "TOGGLE_MODES",
    "ChangeFailure",
    "ChangePlan",
    "ChangePreview",
    "ChangeResult",
    "PartialChange",
    "TakeOver",
    "change_denied",
    "change_preview",
    "change_retry",
    "change_rollback",
    "describe_cluster_error",
    "impact_of",
    "kubectl_apply_command",
    "kubectl_delete_command",
    "manifests_yaml",
    "namespace_change_lock",
    "namespace_mode_plan",
    "namespace_mode_set",
    "peer_authentication_apply",
    "peer_authentication_mode_update",
    "peer_authentication_plan",
    "policy_delete",
    "policy_delete_plan",
    "policy_mode_plan",
    "require_takeover_permitted",
    "root_namespace_refusal",
    "timed_restore_cancel",
    "timed_restore_extend",
    "timed_restore_plan",
    "timed_restore_run",
    "timed_restore_run_now",
    "timed_restores_sweep",
    "toggle_takeover",
]
