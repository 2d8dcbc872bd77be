"""The sync-now button: queue a sync, then show its progress until fresh data is in."""

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from policies.forms.filters import SyncProgressForm
from policies.models import SyncRun
from policies.roles import can_sync
from policies.selectors.posture import sync_progress_read, sync_run_latest_id
from policies.services.sync import sync_request
from policies.views.access import reader_required, role_required
from policies.views.rendering import page_response
from policies.views.requests import MeshuiHttpRequest

# Browsers without JavaScript reload the status page this often while a sync runs.
NO_SCRIPT_REFRESH_SECONDS = 2
# The event every page listens for to reload its data once a sync has finished.
SNAPSHOT_UPDATED_EVENT = "meshui:snapshot-updated"


@require_POST
@role_required(can_sync)
def sync_now(request: MeshuiHttpRequest) -> HttpResponse:
    """Queue a sync; answer with the progress widget (htmx) or the progress page."""
    running = (
        SyncRun.objects.in_scope().filter(status=SyncRun.Status.RUNNING).order_by("-id").first()
    )
    # A sync already running absorbs this request (the task coalesces): follow that one.
    after = running.id - 1 if running else sync_run_latest_id()
    # The one way to queue a sync: a queue that cannot be reached leaves a failed run with
    # the reason, which the progress shows like any failed sync.
    sync_request(trigger="manual")
    if not request.htmx:
        return HttpResponseRedirect(f"{reverse('policies:sync-status')}?after={after}")
    return _progress_response(request, after=after)


@require_GET
@reader_required
def sync_status(request: MeshuiHttpRequest) -> HttpResponse:
    """Where the requested sync is: queued, running, or done (then pages reload their data)."""
    form = SyncProgressForm(request.GET)
    after = (form.cleaned_data.get("after") or 0) if form.is_valid() else 0
    return _progress_response(request, after=after)


def _progress_response(request: MeshuiHttpRequest, *, after: int) -> HttpResponse:
    progress = sync_progress_read(after=after)
    response = page_response(
        request,
        "policies/sync_status.html",
        {
            "progress": progress,
            "refresh_seconds": NO_SCRIPT_REFRESH_SECONDS,
            "can_sync": can_sync(request.user),
        },
        partials=("sync-status",),
    )
    if progress.state == "done":
        response["HX-Trigger"] = SNAPSHOT_UPDATED_EVENT
    return response
