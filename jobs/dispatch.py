"""The RQ side of the outbox: schedule a delivery job right after a change is stored."""

from __future__ import annotations

from collections.abc import Sequence

from rq import Queue

RESULT_TTL = 300  # seconds; results are only for debugging, the outbox is the record
FAILURE_TTL = 7 * 24 * 3600


class QueueDispatcher:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def dispatch(self, ticket_id: str, keys: Sequence[str]) -> None:
        if keys:
            self.queue.enqueue(
                "jobs.deliver.deliver",
                ticket_id,
                list(keys),
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
            )
