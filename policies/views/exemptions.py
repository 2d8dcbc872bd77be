"""Exemptions: everyone with a role reads them; only admins record, revoke or renew them.

Recording, revoking and renewing each have a page of their own (GET shows the form, POST
acts), so each works without JavaScript and asks for a reason before anything is lost. The
role is checked here and again in the service; a refused attempt is audited like any other.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from policies.forms.exemptions import (
    ExemptionForm,
    ExemptionListForm,
    ExemptionRenewForm,
    ExemptionRevokeForm,
)
from policies.models import Exemption
from policies.roles import can_manage_exemptions
from policies.selectors.reports import exemption_get, exemption_list_read, exemption_state
from policies.services.audit import AuditAction
from policies.services.exemptions import (
    EXEMPTION_LONGEST,
    exemption_create,
    exemption_refusal_record,
    exemption_renew,
    exemption_revoke,
    require_exemption_reason,
)
from policies.views.access import reader_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest


def exemption_page(
    request: MeshuiHttpRequest, form: ExemptionForm | None, *, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    may_manage = can_manage_exemptions(request.user)
    if form is None and may_manage:
        form = ExemptionForm(today=now.date())
    filters = ExemptionListForm(
        request.GET, auto_id="filter_%s"
    )  # apart from the new-exemption form
    context = {"form": form, "filters": filters, "may_manage": may_manage, "now": now}
    if filters.is_valid():
        context["listing"] = exemption_list_read(
            now=now,
            state=filters.cleaned_data["state"],
            namespace=filters.cleaned_data["namespace"],
            page=filters.cleaned_data["page"] or 1,
        )
    elif status == 200:
        status = 400
    return page_response(
        request,
        "policies/exemption_list.html",
        context,
        partials=("exemption-table",),
        status=status,
    )


@require_GET
@reader_required
def exemption_index(request: MeshuiHttpRequest) -> HttpResponse:
    return exemption_page(request, None)


def put_on_form(form: ExemptionForm, error: ValidationError) -> None:
    """A service's ValidationError, field by field where it names fields."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _target(exemption: Exemption) -> str:
    return exemption.namespace + (f"/{exemption.workload}" if exemption.workload else "")


def _action_page(request: MeshuiHttpRequest, context: dict, *, status: int = 200):
    return page_response(request, "policies/exemption_action.html", context, status=status)


@require_http_methods(["GET", "POST"])
@reader_required
def exemption_create_view(request: MeshuiHttpRequest) -> HttpResponse:
    if request.method == "GET":
        if not can_manage_exemptions(request.user):
            raise PermissionDenied("Only an admin records exemptions; everyone reads them.")
        initial = {key: request.GET.get(key, "") for key in ("namespace", "workload")}
        form = ExemptionForm(initial=initial, today=timezone.now().date())
        return _action_page(
            request, {"title": "Record an exemption", "form": form, "verb": "create"}
        )
    if not can_manage_exemptions(request.user):
        exemption_refusal_record(
            user=request.user,
            action=AuditAction.EXEMPTION_CREATE,
            namespace=request.POST.get("namespace", ""),
            workload=request.POST.get("workload", ""),
            now=timezone.now(),
        )
    form = ExemptionForm(request.POST)
    if not form.is_valid():
        return exemption_page(request, form, status=400)
    try:
        exemption = exemption_create(
            user=request.user,
            namespace=form.cleaned_data["namespace"],
            workload=form.cleaned_data["workload"],
            owner=form.cleaned_data["owner"],
            justification=form.cleaned_data["justification"],
            expires_at=form.expires_at,
            now=timezone.now(),
        )
    except ValidationError as error:
        put_on_form(form, error)
        return exemption_page(request, form, status=400)
    target = exemption.namespace + (f"/{exemption.workload}" if exemption.workload else "")
    messages.success(
        request, f"Exemption recorded for {target} until {exemption.expires_at:%Y-%m-%d} (UTC)."
    )
    return redirect("policies:exemption-list")


def _exemption_or_404(pk: int) -> Exemption:
    exemption = exemption_get(exemption_id=pk)
    if exemption is None:
        raise Http404("No such exemption.")
    return exemption


def _exemption_context(exemption: Exemption, verb: str, *, now) -> dict:
    """What the revoke and renew pages show above their form: the exemption as it stands."""
    return {
        "title": f"{verb.capitalize()} the exemption for {_target(exemption)}",
        "exemption": exemption,
        "state": exemption_state(exemption, now=now),
        "verb": verb,
    }


@require_http_methods(["GET", "POST"])
@reader_required
def exemption_revoke_view(request: MeshuiHttpRequest, pk: int) -> HttpResponse:
    """Revoke: a page that says what is lost and asks why; POST revokes (admins)."""
    exemption = _exemption_or_404(pk)
    now = timezone.now()
    context = _exemption_context(exemption, "revoke", now=now)
    if request.method == "GET":
        if not can_manage_exemptions(request.user):
            raise PermissionDenied("Only an admin revokes exemptions.")
        return _action_page(request, {**context, "form": ExemptionRevokeForm()})
    form = ExemptionRevokeForm(request.POST)
    form.is_valid()
    try:
        # The service checks the role (a refusal is audited, 403) and the reason (audited).
        exemption_revoke(
            user=request.user, exemption_id=pk, reason=request.POST.get("reason", ""), now=now
        )
    except ValidationError as error:
        _put_reason_error(form, error)
        return _action_page(request, {**context, "form": form}, status=400)
    messages.success(request, f"Exemption for {_target(exemption)} revoked.")
    return redirect("policies:exemption-list")


@require_http_methods(["GET", "POST"])
@reader_required
def exemption_renew_view(request: MeshuiHttpRequest, pk: int) -> HttpResponse:
    """Renew: a later expiry in one audited step (admins), no revoke-then-record gap."""
    exemption = _exemption_or_404(pk)
    now = timezone.now()
    context = _exemption_context(exemption, "renew", now=now)
    if request.method == "GET":
        if not can_manage_exemptions(request.user):
            raise PermissionDenied("Only an admin renews exemptions.")
        proposed = min(max(exemption.expires_at, now) + timedelta(days=90), now + EXEMPTION_LONGEST)
        form = ExemptionRenewForm(initial={"expires_on": proposed.date()}, today=now.date())
        return _action_page(request, {**context, "form": form})
    form = ExemptionRenewForm(request.POST, today=now.date())
    if not can_manage_exemptions(request.user):
        exemption_refusal_record(
            user=request.user,
            action=AuditAction.EXEMPTION_RENEW,
            namespace=exemption.namespace,
            workload=exemption.workload,
            now=now,
        )
    if not form.is_valid():
        if "reason" in form.errors:
            # A missing reason is a refused change like any other: on the record.
            with suppress(ValidationError):
                require_exemption_reason(
                    user=request.user,
                    action=AuditAction.EXEMPTION_RENEW,
                    exemption=exemption,
                    reason=request.POST.get("reason", ""),
                    now=now,
                )
        return _action_page(request, {**context, "form": form}, status=400)
    try:
        renewed = exemption_renew(
            user=request.user,
            exemption_id=pk,
            expires_at=form.expires_at,
            reason=form.cleaned_data["reason"],
            now=now,
        )
    except ValidationError as error:
        _put_reason_error(form, error, expiry_field="expires_on")
        return _action_page(request, {**context, "form": form}, status=400)
    messages.success(
        request,
        f"Exemption for {_target(renewed)} renewed until {renewed.expires_at:%Y-%m-%d} (UTC).",
    )
    return redirect("policies:exemption-list")


def _put_reason_error(form, error: ValidationError, *, expiry_field: str = "") -> None:
    """The service's refusal on the field it names (reason, expiry) or on the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            name = expiry_field if field == "expires_at" and expiry_field else field
            if name in form.fields and name in form.errors:
                continue
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)
