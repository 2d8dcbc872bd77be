"""Celery tasks: each takes names and ids, calls one service, and owns its retries."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings

from policies import cluster
from policies.cluster.errors import ClusterError, Unauthorized

logger = logging.getLogger(__name__)

# --- Cluster sync (issue 4) ------------------------------------------------------------------

# Options for publishing a sync from a request or a service. A broker that is down must
# cost a moment, not Celery's default publish retries nor, unless the result is ignored
# (nobody waits for it), ~20 s of reconnecting to the result backend; the one immediate
# retry still survives a pooled connection the broker has closed since.
PUBLISH_AT_ONCE = {
    "ignore_result": True,
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0},
}
# How often one task may run the sync again for requests that arrived while it ran.
SYNC_RERUNS_PER_TASK = 3
SYNC_BACKOFF_SECONDS = 5
SYNC_BACKOFF_CAP_SECONDS = 120


def _sync_retry_countdown(error: ClusterError, retries: int) -> float:
    """Exponential backoff with jitter, but never sooner than the server's Retry-After."""
    backoff = min(SYNC_BACKOFF_CAP_SECONDS, SYNC_BACKOFF_SECONDS * 2**retries)
    backoff = backoff * (0.5 + random.random() / 2)
    return max(backoff, getattr(error, "retry_after", None) or 0)


@shared_task(
    name="policies.sync_cluster",
    bind=True,
    max_retries=settings.MESHUI_SYNC_MAX_RETRIES,
    soft_time_limit=settings.MESHUI_SYNC_SOFT_TIME_LIMIT,
    time_limit=settings.MESHUI_SYNC_TIME_LIMIT,
    acks_late=True,
)
def sync_cluster(self, trigger: str = "schedule", cluster_id: int | None = None) -> dict:
    """Sync one cluster into a snapshot, unless its sync is running: then ask it to go again.

    `cluster_id` names a registered cluster of the fleet; None is the configured one. Each
    cluster has its own lock, so syncs of different clusters run side by side on as many
    workers as there are, and a cluster that does not answer holds up only itself.
    Idempotent: running it twice on an unchanged cluster records a cheap no-change run.
    Retries (with backoff, honouring Retry-After) only when the cluster is unavailable or
    rate limiting; a 401, 403 or a missing resource fails at once with its reason recorded.
    """
    from policies.models import SyncRun
    from policies.selectors.fleet import fleet_member_by_id, fleet_scope
    from policies.services.sync import cluster_sync, sync_run_record_failure
    from policies.sync_lock import LOCK_OPERATION, sync_lock

    member = fleet_member_by_id(cluster_id)
    if member is None:  # removed since it was queued
        return {"status": "removed", "cluster": cluster_id}
    lock = sync_lock(timeout=settings.MESHUI_SYNC_TIME_LIMIT, cluster_id=cluster_id)
    result: dict = {"status": "coalesced"}
    with fleet_scope(member):
        try:
            for _attempt in range(SYNC_RERUNS_PER_TASK + 1):
                if not lock.acquire():
                    lock.request_rerun()
                    # The holder may have finished between our two looks: try once more so
                    # the request is never left with nobody to run it.
                    if not lock.acquire():
                        return result
                lock.take_rerun()  # this run reads after every request made so far
                try:
                    run = cluster_sync(trigger=trigger)
                finally:
                    lock.release()
                result = {"status": run.status, "run": run.pk, "snapshot": run.snapshot_id}
                if run.status == SyncRun.Status.SUCCEEDED:  # a new snapshot
                    _comparisons_carry_forward(run.snapshot_id, here=self.request.is_eager)
                if not lock.take_rerun():
                    break
                trigger = "coalesced"
            return result
        except ClusterError as error:
            if error.operation == LOCK_OPERATION:  # cluster_sync records its own failures
                sync_run_record_failure(trigger=trigger, reason=error.summary)
            if isinstance(error, Unauthorized):
                # Credentials rotate (a token, a remote secret): read them again next time.
                cluster.forget_client(member.connection)
            if not error.retryable or self.request.is_eager:
                # Eager (no Redis): the next periodic sync is the retry; never block a request.
                return {"status": "failed", "error": error.summary}
            if self.request.retries >= self.max_retries:
                logger.warning(
                    "sync of %s gave up after %s retries: %s",
                    member.name,
                    self.request.retries,
                    error,
                )
                return {"status": "failed", "error": error.summary}
            raise self.retry(
                exc=error, countdown=_sync_retry_countdown(error, self.request.retries)
            ) from error


def _comparisons_carry_forward(snapshot_id: int, *, here: bool) -> None:
    """Queue the new snapshot's comparisons, or (`here`: a sync without a worker) run them now.

    Here by `apply`, not an eager `apply_async`: that one sets Celery's process-wide "never
    wait for a result inside a task" flag while it runs, and syncs of other clusters running
    in other threads of this process would trip over it.
    """
    kwargs = {"snapshot_id": snapshot_id}
    if here:
        snapshot_differences_carry_forward.apply(kwargs=kwargs)  # failures logged, not raised
        return
    from kombu.exceptions import OperationalError

    try:
        snapshot_differences_carry_forward.apply_async(kwargs=kwargs, **PUBLISH_AT_ONCE)
    except (OperationalError, OSError) as error:  # the next visit works the pair out itself
        logger.warning("could not queue the comparisons of snapshot %s: %s", snapshot_id, error)


@shared_task(
    name="policies.snapshot_differences_carry_forward",
    soft_time_limit=120,
    time_limit=180,
    ignore_result=True,
)
def snapshot_differences_carry_forward(snapshot_id: int) -> dict:
    """Compare a new snapshot with the earlier snapshots of the comparisons last worked out
    up to the one before it, so "from X to now" reads stored rows after a sync too.

    Idempotent (a pair is worked out once) and never retried: if it fails, the first visit
    of a pair works it out, as it would without this task.
    """
    from policies.services.snapshot_differences import (
        snapshot_differences_carry_forward as carry_forward,
    )

    return {"pairs": carry_forward(snapshot_id=snapshot_id)}


@shared_task(name="policies.sync_fleet", soft_time_limit=30, time_limit=60)
def sync_fleet(trigger: str = "schedule") -> dict:
    """Queue one sync task per registered cluster whose interval has passed (beat's fan-out;
    the configured cluster keeps its own beat entry). Quick: it only publishes."""
    from policies.selectors.fleet import fleet_syncs_due

    queued = []
    for cluster_id in fleet_syncs_due():
        sync_cluster.apply_async(
            kwargs={"trigger": trigger, "cluster_id": cluster_id}, **PUBLISH_AT_ONCE
        )
        queued.append(cluster_id)
    return {"queued": queued}


# --- Timed restores of namespace modes (issue 6) ---------------------------------------------


@shared_task(
    name="policies.restore_namespace_mode",
    soft_time_limit=120,
    time_limit=180,  # restores.RESTORE_CLAIM_SECONDS: an attempt is dead after this
    acks_late=True,
)
def restore_namespace_mode(restore_id: int | None = None) -> dict:
    """Restore one namespace's mode after a timed change, or (no id: beat's sweep) every due one.

    Queued with an eta when the change is made, and again for each retry; beat sweeps too, in
    case the broker lost one. Idempotent: a restore that already ran, was cancelled or is not
    due yet does nothing. Celery does not retry it: the restore's attempts and next try live
    in the database, so they survive restarts and run the same without a broker (serve's
    sweep), and each attempt is audited and shown.
    """
    from policies.services.changes import timed_restore_run, timed_restores_sweep

    if restore_id is None:
        return {"restores": timed_restores_sweep()}
    return {"restores": {restore_id: timed_restore_run(restore_id=restore_id).status}}


# --- Traffic from Prometheus (issue 14) ----------------------------------------------------


@shared_task(
    name="policies.traffic_read",
    soft_time_limit=240,
    time_limit=300,
    acks_late=True,
    ignore_result=True,
)
def traffic_read(trigger: str = "schedule") -> dict:
    """Read the window's traffic from Prometheus into the database, on its own beat.

    Idempotent (each run stores a new read; old ones are pruned) and never retried by Celery:
    Prometheus failing is recorded on the read, and the next beat is the retry.
    """
    from policies.services.traffic import traffic_read as read_traffic

    read = read_traffic(trigger=trigger)
    if read is None:
        return {"status": "off"}
    return {"status": read.status, "read": read.pk, "error": read.error}
