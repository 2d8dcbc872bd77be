"""The sync lock: one holder at a time, and a rerun flag instead of a queue."""

import time

import pytest
import redis

from policies.cluster.errors import Unavailable
from policies.sync_lock import ProcessSyncLock, RedisSyncLock, sync_lock
from tests.celery_support import unique_key_prefix

REDIS_TEST_URL = "redis://127.0.0.1:6379/5"


@pytest.fixture
def redis_prefix(settings):
    """Keys of this test alone: other test runs share the Redis db, and clean up their own."""
    prefix = unique_key_prefix("lock")
    settings.MESHUI_REDIS_KEY_PREFIX = prefix
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis at {REDIS_TEST_URL}: {error}")
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def lock_pairs():
    return [
        pytest.param(
            lambda: ProcessSyncLock(scope="t1"), lambda: ProcessSyncLock(scope="t1"), id="process"
        ),
        pytest.param(
            lambda: RedisSyncLock(REDIS_TEST_URL, scope="t1", timeout=30),
            lambda: RedisSyncLock(REDIS_TEST_URL, scope="t1", timeout=30),
            id="redis",
        ),
    ]


@pytest.mark.parametrize(("first_lock", "second_lock"), lock_pairs())
def test_second_holder_is_refused_until_the_first_releases(redis_prefix, first_lock, second_lock):
    first, second = first_lock(), second_lock()
    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    second.release()


@pytest.mark.parametrize(("first_lock", "second_lock"), lock_pairs())
def test_rerun_request_is_taken_once(redis_prefix, first_lock, second_lock):
    holder, requester = first_lock(), second_lock()
    assert holder.take_rerun() is False
    requester.request_rerun()
    requester.request_rerun()  # ten requests while one sync runs cost one extra sync
    assert holder.take_rerun() is True
    assert holder.take_rerun() is False


def test_locks_of_different_clusters_do_not_block_each_other():
    one, other = ProcessSyncLock(scope="cluster-a"), ProcessSyncLock(scope="cluster-b")
    assert one.acquire() and other.acquire()
    one.release()
    other.release()


def test_redis_lock_expires_by_itself_after_its_timeout(redis_prefix):
    crashed = RedisSyncLock(REDIS_TEST_URL, scope="t2", timeout=0.2)
    assert crashed.acquire()
    # A worker killed mid-sync never releases; the timeout frees the lock for the next one.
    client = redis.Redis.from_url(REDIS_TEST_URL)
    key = f"{redis_prefix}sync:t2:lock"
    assert 0 < client.pttl(key) <= 200
    deadline = time.monotonic() + 30
    while client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert RedisSyncLock(REDIS_TEST_URL, scope="t2", timeout=30).acquire()


def test_unreachable_redis_is_reported_as_unavailable_in_words(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/5"
    lock = sync_lock(timeout=10)
    with pytest.raises(Unavailable) as caught:
        lock.acquire()
    assert "Redis is unreachable" in caught.value.message


def test_without_redis_url_the_lock_is_process_level(settings):
    settings.REDIS_URL = ""
    assert isinstance(sync_lock(timeout=10), ProcessSyncLock)
