"""`/metrics` for Prometheus: outside the login, but never open; see policies/metrics.py."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from policies.metrics import metrics_text, scrape_refusal


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = scrape_refusal(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    if refusal is not None:
        response = HttpResponse(refusal + "\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="meshui metrics"'
        return response
    response = HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
