from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from policies.selectors.restores import restores_overdue


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for probes. Public, and says nothing sensitive.

    Overdue timed restores make the status "degraded", listed in `detail` by id, due time and
    attempts (no namespace names nor the cluster's words: anyone may read this). The answer
    stays 200: restarting meshui fixes neither a stopped worker nor a cluster that refuses.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "unavailable"}, status=503)
    now = timezone.now()
    overdue = restores_overdue(now=now)
    if not overdue:
        return JsonResponse({"status": "ok"})
    return JsonResponse(
        {
            "status": "degraded",
            "detail": {
                "timed_restores_overdue": [
                    {
                        "restore": restore.pk,
                        "due_at": restore.restore_at.isoformat(),
                        "overdue_seconds": int((now - restore.restore_at).total_seconds()),
                        "attempts": restore.attempts,
                        "next_try_at": restore.next_try_at and restore.next_try_at.isoformat(),
                    }
                    for restore in overdue
                ]
            },
        }
    )
