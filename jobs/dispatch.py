"""The RQ side of the outbox: schedule a delivery job right after a change is stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from rq import Queue

RESULT_TTL = 300  # seconds; results are only for debugging, the outbox is the record
FAILURE_TTL = 7 * 24 * 3600


class QueueDispatcher:
    """Enqueue delivery jobs for a change. Kinds in `delays` wait that many seconds first,
    so a burst of changes to one ticket folds into one delivery; kinds in `urgent` go to
    `urgent_queue`, which workers empty first, so what people wait to see (cards, replies)
    never queues behind bookkeeping."""

    def __init__(
        self,
        queue: Queue,
        delays: Mapping[str, float] | None = None,
        urgent_queue: Queue | None = None,
        urgent: frozenset[str] = frozenset(),
    ) -> None:
        self.queue = queue
        self.delays = dict(delays or {})
        self.urgent_queue = urgent_queue or queue
        self.urgent = urgent

    def queue_for(self, kind: str) -> Queue:
        return self.urgent_queue if kind in self.urgent else self.queue

    def dispatch(self, ticket_id: str, keys: Sequence[str]) -> None:
        groups: dict[tuple[float, str], list[str]] = {}
        for key in keys:
            kind = key.split(":", 1)[0]
            place = (self.delays.get(kind, 0.0), self.queue_for(kind).name)
            groups.setdefault(place, []).append(key)
        queues = {self.queue.name: self.queue, self.urgent_queue.name: self.urgent_queue}
        for (delay, name), group in sorted(groups.items()):
            args = ("jobs.deliver.deliver", ticket_id, group)
            options = {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}
            if delay:
                queues[name].enqueue_in(timedelta(seconds=delay), *args, **options)
            else:
                queues[name].enqueue(*args, **options)
