"""The RQ side of the outbox: schedule a delivery job right after a change is stored."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from rq import Queue

RESULT_TTL = 300  # seconds; results are only for debugging, the outbox is the record
FAILURE_TTL = 7 * 24 * 3600


class QueueDispatcher:
    """Enqueue delivery jobs for a change. Kinds in `delays` wait that many seconds first,
    so a burst of changes to one ticket folds into one delivery; `route` names each kind's
    queue (what people wait to see goes to the urgent one, which workers empty first, so
    cards and replies never queue behind bookkeeping)."""

    def __init__(
        self,
        queue: Queue,
        delays: Mapping[str, float] | None = None,
        *,
        route: Callable[[str], Queue] | None = None,
    ) -> None:
        self.queue = queue
        self.delays = dict(delays or {})
        self.route = route or (lambda kind: queue)  # the queue each kind of effect goes to

    def dispatch(self, ticket_id: str, keys: Sequence[str]) -> None:
        groups: dict[tuple[float, str], list[str]] = {}
        queues: dict[str, Queue] = {}
        for key in keys:
            kind = key.split(":", 1)[0]
            queue = self.route(kind)
            queues[queue.name] = queue
            groups.setdefault((self.delays.get(kind, 0.0), queue.name), []).append(key)
        for (delay, name), group in sorted(groups.items()):
            args = ("jobs.deliver.deliver", ticket_id, group)
            options = {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}
            if delay:
                queues[name].enqueue_in(timedelta(seconds=delay), *args, **options)
            else:
                queues[name].enqueue(*args, **options)
