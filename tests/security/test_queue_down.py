"""With Redis down, "Sync now" answers within seconds that the queue is unreachable.

Celery's defaults would retry the publish and, unless the result is ignored, reconnect to
the result backend for about 20 seconds before a 500. The requests here run in autocommit,
as in production, so the sync is published during the request.
"""

from __future__ import annotations

import time

import pytest

from policies.models import SyncRun
from policies.services.sync import sync_request
from tests.celery_support import celery_on_redis
from tests.factories import snapshot_with, sync_run

NOTHING_LISTENS = "redis://127.0.0.1:1/5"
HTMX = {"HX-Request": "true", "HX-Target": "sync-status"}
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_down(settings, users):
    sync_run(snapshot=snapshot_with(namespaces=["shop"]))
    settings.REDIS_URL = NOTHING_LISTENS
    with celery_on_redis(NOTHING_LISTENS):
        yield


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_sync_now_says_the_queue_is_unreachable_within_seconds(client, users, redis_down, headers):
    client.force_login(users["oncall"])
    started = time.monotonic()
    response = client.post("/sync/", headers=headers, follow=True)
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    assert (
        "Could not queue the sync: the task queue (Redis) is unreachable"
        in response.content.decode()
    )


def test_a_sync_asked_for_after_a_change_is_recorded_as_failed_within_seconds(redis_down):
    started = time.monotonic()
    sync_request(trigger="change")
    assert time.monotonic() - started < 5
    failed = SyncRun.objects.filter(trigger="change").get()
    assert "the task queue (Redis) is unreachable" in failed.error
