"""Pages that change posture: each is a form, a preview (impact, YAML, dry run), a confirm.

GET shows the form (for roles allowed to use it). POST without `confirm` previews; POST with
`confirm` applies. Every POST goes through a service that checks the role itself and audits
the attempt, denied ones included (so these views do not use `reader_required`, which would
turn a no-role user away unaudited); the view checks first so it can answer 403 at once.
"""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from policies import roles
from policies.forms import peer_authentication_schema as crd
from policies.forms.changes import (
    SCOPE_HELP,
    ChangeFollowUpForm,
    NamespaceModeForm,
    PeerAuthenticationForm,
    PolicyDeleteForm,
    PolicyModeForm,
    PolicyTargetForm,
    form_field_for_path,
    ignored_policy_words,
)
from policies.forms.filters import NAME_MAX, NAMESPACE_MAX
from policies.kinds import DESTINATION_RULE, PEER_AUTHENTICATION
from policies.models import AuditEntry
from policies.selectors import changes as change_reads
from policies.selectors.audit import (
    audit_change_attempts,
    audit_entry_get,
    change_sync_state,
    half_done_change_open,
)
from policies.selectors.cluster_limits import audit_cluster_values_visible
from policies.selectors.oncall_scopes import oncall_scope_refusal
from policies.selectors.posture import policy_read
from policies.selectors.restores import timed_restores_of, timed_state_of, timed_states
from policies.services import changes as change_services
from policies.services.audit import AuditAction, audit_change, change_id_new
from policies.services.changes import SEEN_ABSENT, ChangeFailure, ChangePlan
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest
from policies.views.restores import restore_form

DELETABLE_KINDS = (PEER_AUTHENTICATION, DESTINATION_RULE)


def _valid_names_or_404(namespace: str, name: str | None = None) -> None:
    """A namespace or object name Kubernetes could never hold is a page that does not exist."""
    if crd.namespace_name_problem(namespace) or (
        name is not None and crd.object_name_problem(name)
    ):
        raise Http404("No such namespace or object.")


@dataclass
class ChangePage:
    """What a change page shows around its form: its title, where it posts, its context."""

    title: str
    form_action: str
    extra: dict = field(default_factory=dict)
    # The form page (a change's own template when it has one) and its htmx regions.
    form_template: str = "policies/change_form.html"
    partials: tuple[str, ...] = ()


def _refuse_unless(allowed: bool, request, plan: ChangePlan) -> None:
    """403 for a POST the role may not make, audited like every other attempt."""
    if not allowed:
        change_services.change_denied(user=request.user, plan=plan)


def _put_failure_on_form(form, failure: ChangeFailure) -> None:
    """The cluster's 422 causes land on the fields they name; the rest on the form."""
    placed = False
    for path, messages in failure.field_errors.items():
        field_name = form_field_for_path(path, form) if path else None
        for message in messages:
            form.add_error(field_name, f"{message} ({path})" if path else message)
            placed = True
    if not placed:
        form.add_error(None, failure.message)


def _can_apply(form, preview, failure, *, can_force: bool) -> bool:
    """Offer "Apply" only when applying can work: the dry run passed, or what stands in the
    way is a conflict this user may force, or a newer version the user has now been shown."""
    if form.errors:
        return False
    problem = preview.failure if preview else failure
    if problem is None:
        return True
    if problem.field_manager_conflicts:
        return can_force
    return failure is not None and problem.status == 409


def _render(
    request: MeshuiHttpRequest,
    page: ChangePage,
    *,
    form,
    plan,
    preview=None,
    failure=None,
    status=200,
):
    can_force = _can_force(request, page, failure)
    context = {
        "form": form,
        "plan": plan,
        "title": page.title,
        "form_action": page.form_action,
        "preview": preview,
        "failure": failure,
        "can_force": can_force,
        "can_apply": _can_apply(form, preview, failure, can_force=can_force),
        **page.extra,
    }
    if getattr(failure, "takeover", None) is not None:
        context["takeover"] = failure.takeover  # who manages it in the cluster, said now
    if preview or failure:
        return page_response(request, "policies/change_preview.html", context, status=status)
    return page_response(
        request, page.form_template, context, partials=page.partials, status=status
    )


def _can_force(request: MeshuiHttpRequest, page: ChangePage, failure) -> bool:
    """Admins may take any field over; on the toggle, whoever the take-over decision allows
    (the cluster's, when the apply found another manager, else the snapshot's)."""
    takeover = getattr(failure, "takeover", None) or page.extra.get("takeover")
    if takeover is not None:
        return takeover.may_force
    return roles.can_force_conflicts(request.user)


def _invalid(request: MeshuiHttpRequest, page: ChangePage, *, form, plan):
    """The form again with its errors (400); nothing was asked of the cluster."""
    return _render(request, page, form=form, plan=plan, status=400)


def _wants_preview(request: MeshuiHttpRequest, form) -> bool:
    return bool(request.POST.get("edit")) or not form.cleaned_data.get("confirm")


def _preview(
    request: MeshuiHttpRequest, page: ChangePage, *, form, plan, force: bool | None = None
):
    """The impact, the exact objects, the kubectl command and the cluster's dry run."""
    if request.POST.get("edit"):
        return _render(request, page, form=form, plan=plan)
    force = bool(form.cleaned_data.get("force")) if force is None else force
    # The first preview starts the change; previewing again and confirming join it.
    change_id = form.cleaned_data.get("change_id") or change_id_new()
    with audit_change(change_id):
        preview = change_services.change_preview(user=request.user, plan=plan, force=force)
    form.data = form.data.copy()
    form.data["change_id"] = change_id
    if preview.failure and preview.failure.field_errors:
        _put_failure_on_form(form, preview.failure)
    return _render(request, page, form=form, plan=plan, preview=preview)


def _apply(request: MeshuiHttpRequest, page: ChangePage, *, form, plan, apply):
    """Confirm: `apply(force=...)` calls the service; a failure is shown on the page."""
    try:
        with audit_change(form.cleaned_data.get("change_id") or change_id_new()):
            result = apply(force=bool(form.cleaned_data.get("force")))
    except change_services.PartialChange as partial:
        return redirect("policies:change-detail", entry_id=partial.entry.pk)
    except ChangeFailure as failure:
        if failure.field_errors:
            _put_failure_on_form(form, failure)
        form = _form_with_current_version(form, failure)
        status = 409 if failure.status == 409 else 200
        return _render(request, page, form=form, plan=plan, failure=failure, status=status)
    return redirect("policies:change-detail", entry_id=result.entry.pk)


def _form_with_current_version(form, failure: ChangeFailure):
    """After a 409 the user has now seen the new state: confirming again applies to it."""
    version_field = next(
        (name for name in ("seen_resource_version", "resource_version") if name in form.fields),
        None,
    )
    if not failure.current_resource_version or version_field is None:
        return form
    data = form.data.copy()
    data[version_field] = failure.current_resource_version
    if failure.current_name and "seen_name" in form.fields:
        data["seen_name"] = failure.current_name
    refreshed = type(form)(data, **_form_kwargs(form))
    refreshed.is_valid()
    return refreshed


def _form_kwargs(form) -> dict:
    if not isinstance(form, PeerAuthenticationForm):
        return {}
    return {
        "scope": form.scope,
        "workload_labels": form.workload_labels,
        "policy_in_force": form.policy_in_force,
        "root_namespace": form.root_namespace,
    }


# --- The on-call toggle ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def namespace_mode_set(request: MeshuiHttpRequest, namespace: str):
    """Switch a namespace between STRICT and PERMISSIVE, maybe for a while, with a reason."""
    _valid_names_or_404(namespace)
    current_mode = change_reads.namespace_current_mode(namespace)
    target_name, target = change_reads.namespace_toggle_target_seen(namespace)
    target_version = (target or {}).get("metadata", {}).get("resourceVersion") or SEEN_ABSENT
    owner = change_reads.namespace_toggle_owner_seen(namespace)
    page = ChangePage(
        title=f"Change the mode of namespace {namespace}",
        form_action=reverse("policies:namespace-mode-set", args=[namespace]),
        extra={
            "namespace": namespace,
            "current_mode": current_mode,
            "seen_policy": change_reads.namespace_policy_seen(namespace),
            "target_name": target_name,
            "timed_states": list(timed_states(namespaces=[namespace]).values()),
        },
    )
    refusal = change_services.root_namespace_refusal(namespace)
    if roles.can_toggle_namespace(request.user) and not refusal:
        refusal = oncall_scope_refusal(user=request.user, namespace=namespace)
    may_toggle = roles.can_toggle_namespace(request.user) and not refusal
    if request.method == "GET":
        if not may_toggle:
            raise PermissionDenied(refusal or "Only on-call staff and admins change a mode.")
        # Who manages the policy, and what the toggle may do about it, before any typing.
        takeover = change_services.toggle_takeover(user=request.user, owner=owner, timed=False)
        page.extra["takeover"] = takeover
        mode = request.GET.get("mode") or ("PERMISSIVE" if current_mode == "STRICT" else "STRICT")
        form = NamespaceModeForm(
            initial={
                "mode": mode,
                "seen_name": target_name,
                "seen_resource_version": target_version,
            }
        )
        plan = change_services.namespace_mode_plan(namespace=namespace, mode=mode)
        offered = takeover.allowed or takeover.timed_only
        return _render(request, page, form=form, plan=plan, status=200 if offered else 403)

    data = request.POST.copy()
    if not data.get("confirm"):
        # A preview shows the snapshot's target, so the confirm it offers is bound to that.
        data["seen_name"], data["seen_resource_version"] = target_name, target_version
    form = NamespaceModeForm(data)
    valid = form.is_valid()
    mode = form.cleaned_data.get("mode") or request.POST.get("mode", "")
    plan = change_services.namespace_mode_plan(
        namespace=namespace,
        mode=mode,
        reason=form.cleaned_data.get("reason", "") if valid else request.POST.get("reason", ""),
        duration=form.duration if valid else None,
    )
    _refuse_unless(may_toggle, request, plan)
    takeover = change_services.toggle_takeover(
        user=request.user, owner=owner, timed=bool(valid and form.duration)
    )
    page.extra["takeover"] = takeover
    # A person's tool's mode is taken over as the page said; anything more needs the tick.
    previewed_force = bool(valid and form.cleaned_data.get("force")) or takeover.automatic
    if valid or not takeover.timed_only:
        # Refused here only when the page refused it; whether `force` may take the mode over
        # is the service's to decide, from who manages it in the cluster now.
        change_services.require_takeover_permitted(
            request.user, plan, takeover, force=False, object_before=target
        )
    if not valid:
        return _invalid(request, page, form=form, plan=plan)
    if _wants_preview(request, form):
        return _preview(request, page, form=form, plan=plan, force=previewed_force)
    return _apply(
        request,
        page,
        form=form,
        plan=plan,
        apply=lambda force: change_services.namespace_mode_set(
            user=request.user,
            namespace=namespace,
            mode=mode,
            reason=form.cleaned_data["reason"],
            duration=form.duration,
            seen_name=form.cleaned_data.get("seen_name") or None,
            seen_resource_version=form.cleaned_data["seen_resource_version"],
            force=force,
            take_over_from=takeover.owner.manager if takeover.automatic else "",
        ),
    )


# --- Admin forms ----------------------------------------------------------------------------


NEW_POLICY_PARTIALS = ("policy-builder", "namespace-matches", "workload-matches")


@require_http_methods(["GET", "POST"])
def peer_authentication_create(request: MeshuiHttpRequest):
    """A new PeerAuthentication (admins), scope first: GET picks the scope, then the namespace
    and workload (search-as-you-type over the snapshot with htmx, links and a Continue button
    without); then only that scope's fields; POST previews and applies like every change."""
    may_create = roles.can_manage_policies(request.user)
    if request.method == "GET" and not may_create:
        raise PermissionDenied("Only admins create policies.")
    picked = PolicyTargetForm(request.POST if request.method == "POST" else request.GET)
    picked.is_valid()
    target = change_reads.policy_target_read(**picked.target())
    page = ChangePage(
        title="New PeerAuthentication",
        form_action=reverse("policies:peer-authentication-create"),
        extra={
            "picked": picked,
            "target": target,
            "scope_help": SCOPE_HELP,
            # Said before anything is typed: a second namespace-wide policy changes nothing.
            "ignored_words": ignored_policy_words(
                target.policy_in_force, scope=target.scope, root_namespace=target.root_namespace
            )
            if target.policy_in_force
            else "",
        },
        form_template="policies/policy_new.html",
        partials=NEW_POLICY_PARTIALS,
    )
    form_kwargs = {
        "scope": target.scope or None,
        "workload_labels": target.workload_labels,
        "policy_in_force": target.policy_in_force,
        "root_namespace": target.root_namespace,
    }
    if request.method == "GET":
        workload = target.workload.name if target.workload else ""
        form = PeerAuthenticationForm(
            initial={
                "scope": target.scope,
                "namespace": target.namespace,
                "workload": workload,
                "name": workload or "default",
                "mode": "STRICT",
                "destination_rule": True,
            },
            **form_kwargs,
        )
        return _render(request, page, form=form, plan=None)

    form = PeerAuthenticationForm(request.POST, **form_kwargs)
    if not form.is_valid():
        # Audited as typed (a refused attempt is recorded), cut to what the columns hold.
        unplanned = ChangePlan(
            action=AuditAction.PEER_AUTHENTICATION_APPLY,
            namespace=target.namespace[:NAMESPACE_MAX],
            summary="New PeerAuthentication",
            target_name=request.POST.get("name", "")[:NAME_MAX],
            reason=request.POST.get("reason", ""),
        )
        _refuse_unless(may_create, request, unplanned)
        return _invalid(request, page, form=form, plan=None)
    cleaned = form.cleaned_data
    plan = change_services.peer_authentication_plan(
        scope=cleaned["scope"],
        namespace=cleaned.get("namespace", ""),
        name=cleaned["name"],
        spec=form.spec(),
        with_destination_rule=cleaned.get("destination_rule", False),
        reason=cleaned["reason"],
    )
    _refuse_unless(may_create, request, plan)
    if _wants_preview(request, form):
        return _preview(request, page, form=form, plan=plan)
    return _apply(
        request,
        page,
        form=form,
        plan=plan,
        apply=lambda force: change_services.peer_authentication_apply(
            user=request.user, plan=plan, force=force
        ),
    )


@require_http_methods(["GET", "POST"])
def policy_mode_update(request: MeshuiHttpRequest, namespace: str, name: str):
    """Edit an existing PeerAuthentication's mode, as of the version the user saw (admins)."""
    _valid_names_or_404(namespace, name)
    record = policy_read(kind=PEER_AUTHENTICATION, namespace=namespace, name=name)
    page = ChangePage(
        title=f"Edit the mode of PeerAuthentication {namespace}/{name}",
        form_action=reverse("policies:policy-mode-update", args=[namespace, name]),
        extra={"record": record},
    )
    may_edit = roles.can_manage_policies(request.user)
    if request.method == "GET":
        if not may_edit:
            raise PermissionDenied("Only admins edit policies.")
        if record is None:
            raise Http404(f"PeerAuthentication {namespace}/{name} is not in the current snapshot.")
        offered = request.GET.get("mode", "")  # the new-policy form's offer carries a mode
        mode = offered if offered in crd.mode_choices() else (record.mode or "STRICT")
        version = record.resource_version
        form = PolicyModeForm(initial={"mode": mode, "resource_version": version})
        plan = change_services.policy_mode_plan(
            namespace=namespace, name=name, mode=mode, resource_version=version
        )
        return _render(request, page, form=form, plan=plan)

    form = PolicyModeForm(request.POST)
    valid = form.is_valid()
    cleaned = form.cleaned_data
    plan = change_services.policy_mode_plan(
        namespace=namespace,
        name=name,
        mode=cleaned.get("mode", "UNSET"),
        resource_version=cleaned.get("resource_version", ""),
        reason=cleaned.get("reason", ""),
    )
    _refuse_unless(may_edit, request, plan)
    if not valid:
        return _invalid(request, page, form=form, plan=plan)
    if _wants_preview(request, form):
        return _preview(request, page, form=form, plan=plan)
    return _apply(
        request,
        page,
        form=form,
        plan=plan,
        apply=lambda force: change_services.peer_authentication_mode_update(
            user=request.user,
            namespace=namespace,
            name=name,
            mode=cleaned["mode"],
            resource_version=cleaned["resource_version"],
            reason=cleaned["reason"],
            force=force,
        ),
    )


@require_http_methods(["GET", "POST"])
def policy_delete(request: MeshuiHttpRequest, kind: str, namespace: str, name: str):
    """Delete a PeerAuthentication or DestinationRule, only the version the user saw (admins)."""
    if kind not in DELETABLE_KINDS:
        raise Http404(f"meshui deletes PeerAuthentications and DestinationRules, not {kind}.")
    _valid_names_or_404(namespace, name)
    record = policy_read(kind=kind, namespace=namespace, name=name)
    page = ChangePage(
        title=f"Delete {kind} {namespace}/{name}",
        form_action=reverse("policies:policy-delete", args=[kind, namespace, name]),
        extra={"record": record, "is_delete": True},
    )
    may_delete = roles.can_manage_policies(request.user)
    if request.method == "GET":
        if not may_delete:
            raise PermissionDenied("Only admins delete policies.")
        if record is None:
            raise Http404(f"{kind} {namespace}/{name} is not in the current snapshot.")
        form = PolicyDeleteForm(initial={"resource_version": record.resource_version})
        plan = change_services.policy_delete_plan(
            kind=kind, namespace=namespace, name=name, resource_version=record.resource_version
        )
        return _render(request, page, form=form, plan=plan)

    form = PolicyDeleteForm(request.POST)
    valid = form.is_valid()
    cleaned = form.cleaned_data
    plan = change_services.policy_delete_plan(
        kind=kind,
        namespace=namespace,
        name=name,
        resource_version=cleaned.get("resource_version", ""),
        reason=cleaned.get("reason", ""),
    )
    _refuse_unless(may_delete, request, plan)
    if not valid:
        return _invalid(request, page, form=form, plan=plan)
    if _wants_preview(request, form):
        return _preview(request, page, form=form, plan=plan)
    return _apply(
        request,
        page,
        form=form,
        plan=plan,
        apply=lambda force: change_services.policy_delete(
            user=request.user,
            kind=kind,
            namespace=namespace,
            name=name,
            resource_version=cleaned["resource_version"],
            reason=cleaned["reason"],
        ),
    )


# --- After a change -------------------------------------------------------------------------


def _entry_or_404(request: MeshuiHttpRequest, entry_id: int) -> AuditEntry:
    try:
        return audit_entry_get(
            entry_id=entry_id, clusters=audit_cluster_values_visible(user=request.user)
        )
    except AuditEntry.DoesNotExist as missing:
        raise Http404("No such change.") from missing


def _as_yaml(value) -> str:
    if not value:
        return ""
    return change_services.manifests_yaml(value if isinstance(value, list) else [value])


@require_GET
@reader_required
def change_detail(request: MeshuiHttpRequest, entry_id: int):
    """One change: what was sent, the outcome, and "waiting for the cluster" until synced."""
    return _change_detail_page(request, _entry_or_404(request, entry_id))


def _change_detail_page(
    request: MeshuiHttpRequest, entry: AuditEntry, follow_up=None, *, status: int = 200
):
    context = {
        "entry": entry,
        "attempts": audit_change_attempts(entry=entry),
        # A delete finds nothing to read before it when the object was gone already; the
        # cluster calls that a success, but nothing was deleted, and the page says so.
        "already_gone": entry.action == AuditAction.POLICY_DELETE
        and entry.outcome == AuditEntry.Outcome.APPLIED
        and not entry.object_before,
        "state": change_sync_state(entry=entry),
        "can_retry": roles.can_manage_policies(request.user) and half_done_change_open(entry=entry),
        "can_sync": roles.can_sync(request.user),
        "restores": _restore_rows(entry, can_act=roles.can_toggle_namespace(request.user)),
        "sent_yaml": _as_yaml(entry.object_sent),
        "before_yaml": _as_yaml(entry.object_before),
        "follow_up": follow_up or ChangeFollowUpForm(),
    }
    return page_response(
        request,
        "policies/change_detail.html",
        context,
        partials=("change-status",),
        status=status,
    )


def _restore_rows(entry: AuditEntry, *, can_act: bool) -> list[dict]:
    """The change's timed restores; a pending one with its timed state and, for those who
    may act on it, the form to run it now, extend or cancel it."""
    rows = []
    for restore in timed_restores_of(entry=entry):
        pending = restore.status == restore.Status.PENDING
        rows.append(
            {
                "restore": restore,
                "timed": timed_state_of(restore) if pending else None,
                "form": restore_form(restore) if pending and can_act else None,
            }
        )
    return rows


def _follow_up(request: MeshuiHttpRequest, entry_id: int, act):
    """Retry or roll back: the service checks the role, the reason and the entry, and audits;
    a missing reason comes back on the change's page with the error."""
    entry = _entry_or_404(request, entry_id)
    form = ChangeFollowUpForm(request.POST)
    form.is_valid()
    try:
        result = act(entry, request.POST.get("reason", ""))
    except ChangeFailure as failure:
        if failure.field_errors.get("reason"):
            if "reason" not in form.errors:
                for message in failure.field_errors["reason"]:
                    form.add_error("reason", message)
            return _change_detail_page(request, entry, form, status=400)
        if failure.entry is None:
            raise Http404(failure.message) from failure
        return redirect("policies:change-detail", entry_id=failure.entry.pk)
    return redirect("policies:change-detail", entry_id=result.entry.pk)


@require_POST
def change_retry(request: MeshuiHttpRequest, entry_id: int):
    """Complete a half-done pair (admins), with a reason."""
    return _follow_up(
        request,
        entry_id,
        lambda entry, reason: change_services.change_retry(
            user=request.user,
            entry_id=entry.pk,
            reason=reason,
            force=bool(request.POST.get("force")),
        ),
    )


@require_POST
def change_rollback(request: MeshuiHttpRequest, entry_id: int):
    """Undo the applied part of a half-done pair (admins), with a reason."""
    return _follow_up(
        request,
        entry_id,
        lambda entry, reason: change_services.change_rollback(
            user=request.user, entry_id=entry.pk, reason=reason
        ),
    )
