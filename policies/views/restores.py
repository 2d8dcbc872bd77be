"""Acting on a pending timed restore: run it now, extend it, or cancel it (on-call, admins).

One form, a reason and a button per action; each button posts to its own URL, so it works
without JavaScript. GET shows the same form on a page of its own (where a refused form comes
back with its errors). The services check the role and the namespace themselves and audit
every attempt; these views refuse early too (audited), like every change view.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from policies import roles
from policies.forms.changes import TimedRestoreExtendForm, TimedRestoreForm
from policies.models import AuditAction, TimedRestore
from policies.selectors.restores import timed_restore_get, timed_state_of
from policies.services import changes as change_services
from policies.services.changes import ChangeFailure, ChangeResult
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


def restore_form(restore: TimedRestore, data=None, form_class=TimedRestoreForm):
    """The actions form of one restore, its field ids its own (a page may show several)."""
    return form_class(data, auto_id=f"id_restore{restore.pk}_%s", initial={"duration_minutes": 60})


def _restore_or_404(restore_id: int) -> TimedRestore:
    restore = timed_restore_get(restore_id=restore_id)
    if restore is None:
        raise Http404("No such timed restore.")
    return restore


def _form_page(request: MeshuiHttpRequest, restore: TimedRestore, form, *, status: int = 200):
    if not roles.can_toggle_namespace(request.user):
        raise PermissionDenied("Only on-call staff and admins act on a timed restore.")
    pending = restore.status == TimedRestore.Status.PENDING
    context = {
        "restore": restore,
        "restore_form": form,
        "timed": timed_state_of(restore) if pending else None,
    }
    return page_response(request, "policies/timed_restore.html", context, status=status)


def _refuse_unless_allowed(
    request: MeshuiHttpRequest, restore: TimedRestore, action: AuditAction
) -> None:
    """403 for a role that may not act on restores, audited like every other attempt."""
    if not roles.can_toggle_namespace(request.user):
        plan = change_services.timed_restore_plan(restore, action, request.POST.get("reason", ""))
        change_services.change_denied(user=request.user, plan=plan)


@dataclass(frozen=True)
class RestoreAction:
    """One action on a pending restore: what it is audited as, its form, and its service."""

    audit_action: AuditAction
    form_class: type[TimedRestoreForm]
    apply: Callable[..., ChangeResult]  # (user, restore, valid form) -> the service's result


RESTORE_ACTIONS = {
    # Restore the namespace now instead of at its time (plan, dry run, apply).
    "run": RestoreAction(
        AuditAction.RESTORE_NOW,
        TimedRestoreForm,
        lambda user, restore, form: change_services.timed_restore_run_now(
            user=user, restore_id=restore.pk, reason=form.cleaned_data["reason"]
        ),
    ),
    # Keep the timed mode longer: the restore moves by the chosen time.
    "extend": RestoreAction(
        AuditAction.RESTORE_EXTEND,
        TimedRestoreExtendForm,
        lambda user, restore, form: change_services.timed_restore_extend(
            user=user,
            restore_id=restore.pk,
            duration=form.duration,
            reason=form.cleaned_data["reason"],
        ),
    ),
    # Never run the restore: the namespace keeps its current mode.
    "cancel": RestoreAction(
        AuditAction.RESTORE_CANCEL,
        TimedRestoreForm,
        lambda user, restore, form: change_services.timed_restore_cancel(
            user=user, restore_id=restore.pk, reason=form.cleaned_data["reason"]
        ),
    ),
}


@require_http_methods(["GET", "POST"])
def timed_restore_action(request: MeshuiHttpRequest, restore_id: int, verb: str):
    """Run a pending timed restore now, extend it or cancel it (`verb`, fixed by the URL),
    with a reason; then show the audit entry the service wrote, whether it worked or not."""
    action = RESTORE_ACTIONS[verb]
    restore = _restore_or_404(restore_id)
    if request.method == "GET":
        return _form_page(request, restore, restore_form(restore))
    _refuse_unless_allowed(request, restore, action.audit_action)
    form = restore_form(restore, request.POST, action.form_class)
    if not form.is_valid():
        return _form_page(request, restore, form, status=400)
    try:
        result = action.apply(request.user, restore, form)
    except ChangeFailure as failure:
        if failure.entry is None:
            raise
        return redirect("policies:change-detail", entry_id=failure.entry.pk)
    return redirect("policies:change-detail", entry_id=result.entry.pk)
