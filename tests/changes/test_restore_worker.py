"""A real Celery worker on Redis fires a timed restore at its eta."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import TimedRestore
from policies.services import changes
from policies.tasks import restore_namespace_mode
from tests.celery_support import celery_worker_on_redis
from tests.changes.conftest import resync, shop_mesh

REDIS_TEST_URL = "redis://127.0.0.1:6379/6"


@pytest.fixture
def redis_worker(settings):
    """A real worker on a queue of this test's own: other runs share the Redis db."""
    with celery_worker_on_redis(settings, REDIS_TEST_URL, purpose="changes"):
        yield


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fires_the_timed_restore_at_its_eta(kube, users, redis_worker):
    kube.seed(shop_mesh())
    resync()
    result = changes.namespace_mode_set(
        user=users["oncall"],
        namespace="shop",
        mode="STRICT",
        reason="INC-3 for a while",
        duration=timedelta(minutes=15),
    )
    assert kube.get("PeerAuthentication", "shop", "default")["spec"]["mtls"]["mode"] == "STRICT"
    # The change queued its restore 15 minutes out; bring it forward instead of waiting.
    soon = timezone.now() + timedelta(seconds=1)
    TimedRestore.objects.filter(pk=result.restore.pk).update(restore_at=soon)
    fired = restore_namespace_mode.apply_async(kwargs={"restore_id": result.restore.pk}, eta=soon)
    outcome = fired.get(timeout=60)
    # Results travel as JSON: the restore id comes back as a string key.
    assert outcome == {"restores": {str(result.restore.pk): "done"}}
    assert kube.get("PeerAuthentication", "shop", "default") is None
    restore = TimedRestore.objects.get()
    assert restore.restore_entry.action == "restore"
    assert restore.restore_entry.username == "meshui"
