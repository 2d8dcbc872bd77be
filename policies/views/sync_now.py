"""The sync-now button: queue a sync, then show its progress until fresh data is in."""

import logging

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from policies.forms.filters import SyncProgressForm
from policies.models import SyncRun
from policies.roles import can_sync
from policies.selectors.posture import sync_progress_read, sync_run_latest_id
from policies.views.access import reader_required, role_required
from policies.views.rendering import page_response

logger = logging.getLogger(__name__)

# Browsers without JavaScript reload the status page this often while a sync runs.
NO_SCRIPT_REFRESH_SECONDS = 2
# The event every page listens for to reload its data once a sync has finished.
SNAPSHOT_UPDATED_EVENT = "meshui:snapshot-updated"


def _sync_enqueue() -> str:
    """Queue one manual sync after the transaction commits; return an error for people, or ""."""
    try:
        from policies.tasks import PUBLISH_AT_ONCE, sync_cluster
    except ImportError:  # the sync task ships with the cluster-sync work
        return "This meshui cannot sync yet: the sync task is not installed."
    try:
        sync_cluster.apply_async_on_commit(kwargs={"trigger": "manual"}, **PUBLISH_AT_ONCE)
    except (OperationalError, OSError) as error:
        logger.warning("could not queue a manual sync: %s", error)
        return f"Could not queue the sync: the task queue is unreachable ({error})."
    return ""


@require_POST
@role_required(can_sync)
def sync_now(request):
    """Queue a sync; answer with the progress widget (htmx) or the progress page."""
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-id").first()
    # A sync already running absorbs this request (the task coalesces): follow that one.
    after = running.id - 1 if running else sync_run_latest_id()
    error = _sync_enqueue()
    if not request.htmx:
        if error:
            messages.error(request, error)
            return HttpResponseRedirect(reverse("policies:overview"))
        return HttpResponseRedirect(f"{reverse('policies:sync-status')}?after={after}")
    return _progress_response(request, after=after, error=error)


@require_GET
@reader_required
def sync_status(request):
    """Where the requested sync is: queued, running, or done (then pages reload their data)."""
    form = SyncProgressForm(request.GET)
    after = (form.cleaned_data.get("after") or 0) if form.is_valid() else 0
    return _progress_response(request, after=after, error="")


def _progress_response(request, *, after: int, error: str):
    progress = sync_progress_read(after=after)
    response = page_response(
        request,
        "policies/sync_status.html",
        {
            "progress": progress,
            "error": error,
            "refresh_seconds": NO_SCRIPT_REFRESH_SECONDS,
            "can_sync": can_sync(request.user),
        },
        partials=("sync-status",),
    )
    if progress.state == "done" and not error:
        response["HX-Trigger"] = SNAPSHOT_UPDATED_EVENT
    return response
