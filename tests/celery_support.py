"""Running Celery against a real Redis in tests without disturbing other test runs.

Several test runs may share one Redis at the same time: each test gets a queue and key
prefix of its own and deletes only its own keys, never the whole db.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import kombu.pools
import pytest
import redis

from meshui.celery import app


def redis_or_skip(url: str) -> redis.Redis:
    """A client for the Redis at `url`, or skip the test when nothing answers there."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis at {url}: {error}")
    return client


def unique_key_prefix(purpose: str) -> str:
    """A Redis key prefix of this test alone: other test runs share the Redis db at once."""
    return f"meshui-test-{purpose}-{uuid.uuid4().hex[:12]}:"


@contextmanager
def celery_on_redis(url: str, **conf) -> Iterator[None]:
    """Point the Celery app at a real broker and result backend (plus `conf`), then put it back.

    Whatever an earlier test published through stays in Celery's cached connection pool, and
    a changed broker_url alone would keep publishing there: the pools are dropped both ways.
    """
    keys = ("broker_url", "result_backend", "task_always_eager", "task_default_queue", *conf)
    saved = {key: app.conf[key] for key in keys}

    def forget_connections():
        # Celery and kombu cache connection and producer pools per broker; start clean.
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        # The AMQP helper caches the producer pool and the queues built from
        # task_default_queue: a fresh one reads the conf as it is now.
        vars(app).pop("amqp", None)
        kombu.pools.reset()
        vars(app._local).pop("backend", None)

    forget_connections()
    app.conf.update(broker_url=url, result_backend=url, task_always_eager=False, **conf)
    try:
        yield
    finally:
        forget_connections()
        app.conf.update(saved)


@contextmanager
def celery_queue_on_redis(settings, url: str, *, purpose: str) -> Iterator[str]:
    """meshui pointed at a real Redis (settings.REDIS_URL set) with a queue and key prefix of
    this test's own, kept across worker restarts; yields the queue name.

    Another test run on the same Redis db has its own worker, which must not take our tasks
    (nor we theirs); flushing the db would break theirs, so only our keys are deleted.
    """
    client = redis_or_skip(url)
    settings.REDIS_URL = url
    settings.MESHUI_REDIS_KEY_PREFIX = unique_key_prefix(purpose)
    queue = settings.MESHUI_REDIS_KEY_PREFIX.rstrip(":")
    try:
        with celery_on_redis(url, task_default_queue=queue):
            yield queue
    finally:
        # The queue, its kombu binding (named after the queue's exchange) and our locks.
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)


@contextmanager
def celery_worker() -> Iterator[None]:
    """A real Celery worker (solo pool, in a thread) on the app's current broker and queue;
    leaving the block stops it, as a restart of the worker process would."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield


@contextmanager
def celery_beat(schedule: dict, schedule_dir) -> Iterator[None]:
    """A real beat (in a thread) sending `schedule` (beat_schedule entries) to the current
    broker; leaving the block stops it, as a restart of the beat process would."""
    from celery.beat import EmbeddedService

    saved = app.conf.beat_schedule
    app.conf.beat_schedule = schedule
    beat = EmbeddedService(
        app, thread=True, schedule_filename=str(schedule_dir / "celerybeat-schedule")
    )
    beat.start()
    try:
        yield
    finally:
        beat.stop()
        beat.join(timeout=10)
        app.conf.beat_schedule = saved


@contextmanager
def celery_worker_on_redis(settings, url: str, *, purpose: str) -> Iterator[None]:
    """A real Celery worker (solo pool, in a thread) on a queue and key prefix of its own."""
    with celery_queue_on_redis(settings, url, purpose=purpose), celery_worker():
        yield
