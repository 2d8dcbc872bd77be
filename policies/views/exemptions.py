"""Exemptions: everyone with a role reads them; only admins record or revoke them.

The role is checked here and again in the service; a refused attempt is audited like any other.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from policies.forms.exemptions import ExemptionForm
from policies.models import Exemption
from policies.roles import can_manage_exemptions
from policies.selectors.reports import exemption_list
from policies.services.audit import AuditAction
from policies.services.exemptions import (
    exemption_create,
    exemption_refusal_record,
    exemption_revoke,
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
    context = {
        "rows": exemption_list(now=now),
        "form": form,
        "may_manage": may_manage,
        "now": now,
    }
    return page_response(request, "policies/exemption_list.html", context, status=status)


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


@require_POST
@reader_required
def exemption_create_view(request: MeshuiHttpRequest) -> HttpResponse:
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


@require_POST
@reader_required
def exemption_revoke_view(request: MeshuiHttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Exemption, pk=pk)
    # The service checks the role, records a refusal in the audit log and raises 403.
    exemption = exemption_revoke(user=request.user, exemption_id=pk, now=timezone.now())
    target = exemption.namespace + (f"/{exemption.workload}" if exemption.workload else "")
    messages.success(request, f"Exemption for {target} revoked.")
    return redirect("policies:exemption-list")
