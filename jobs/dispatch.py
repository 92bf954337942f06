"""The RQ side of the outbox: schedule a delivery job right after a change is stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from rq import Queue

RESULT_TTL = 300  # seconds; results are only for debugging, the outbox is the record
FAILURE_TTL = 7 * 24 * 3600


class QueueDispatcher:
    """Enqueue a delivery job per change; kinds in `delays` wait that many seconds first,
    so a burst of changes to one ticket folds into one delivery."""

    def __init__(self, queue: Queue, delays: Mapping[str, float] | None = None) -> None:
        self.queue = queue
        self.delays = dict(delays or {})

    def dispatch(self, ticket_id: str, keys: Sequence[str]) -> None:
        by_delay: dict[float, list[str]] = {}
        for key in keys:
            by_delay.setdefault(self.delays.get(key.split(":", 1)[0], 0.0), []).append(key)
        for delay, group in sorted(by_delay.items()):
            args = ("jobs.deliver.deliver", ticket_id, group)
            options = {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}
            if delay:
                self.queue.enqueue_in(timedelta(seconds=delay), *args, **options)
            else:
                self.queue.enqueue(*args, **options)
