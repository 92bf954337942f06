"""The RQ side of the outbox: schedule a delivery job right after a change is stored."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from rq import Queue

RESULT_TTL = 300  # seconds; results are only for debugging, the outbox is the record
FAILURE_TTL = 7 * 24 * 3600
# How long a kind's drain counts as on its way. Longer than a drain waits in a busy queue,
# so changes meanwhile add no job; a flag left by a lost job only delays the kind this
# long (the sweeper triggers it again anyway).
DRAIN_PENDING_TTL = 60  # seconds
# The jobs, by their import path: this module is imported by the ones that define them.
DELIVER_JOB, DRAIN_JOB = "jobs.deliver.deliver", "jobs.drain.drain"


def drain_flag(kind: str) -> str:
    return f"drain:{kind}"


def owing(kind: str) -> str:
    """The set of tickets that owe effects of a drained kind: what its drain leases. A
    ticket missing from it (Redis lost it, a drain died holding it) is added back by the
    sweeper once its effect is overdue."""
    return f"drain:{kind}:tickets"


class QueueDispatcher:
    """Enqueue delivery jobs for a change. Kinds in `delays` wait that many seconds first,
    so a burst of changes to one ticket folds into one delivery; `route` names each kind's
    queue (what people wait to see goes to the urgent one, which workers empty first, so
    cards and replies never queue behind bookkeeping).

    Kinds in `drained` get no job per change: the change names its ticket to the kind's
    drain and makes sure one drain of the kind is on its way (jobs.drain), which carries
    out that kind's due effects of every ticket named, a hundred at a time.

    A new ticket's jobs go to the front of their queues: on a busy day a queue holds
    hundreds of jobs (thread messages waiting their channel's turn, redraws, bookkeeping),
    and a new card behind them all waited many seconds before anyone could see it. New
    tickets are a few a second; nothing is starved by letting them pass."""

    def __init__(
        self,
        queue: Queue,
        delays: Mapping[str, float] | None = None,
        *,
        route: Callable[[str], Queue] | None = None,
        drained: frozenset[str] = frozenset(),
    ) -> None:
        self.queue = queue
        self.delays = dict(delays or {})
        self.route = route or (lambda kind: queue)  # the queue each kind of effect goes to
        self.drained = drained

    def dispatch(self, ticket_id: str, keys: Sequence[str], *, opening: bool = False) -> None:
        groups: dict[tuple[float, str], list[str]] = {}
        queues: dict[str, Queue] = {}
        for key in keys:
            kind = key.split(":", 1)[0]
            if kind in self.drained:
                self.drain(kind, [ticket_id])
                continue
            queue = self.route(kind)
            queues[queue.name] = queue
            groups.setdefault((self.delays.get(kind, 0.0), queue.name), []).append(key)
        for (delay, name), group in sorted(groups.items()):
            options = {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL, "at_front": opening}
            if delay:
                at = timedelta(seconds=delay)
                queues[name].enqueue_in(at, DELIVER_JOB, ticket_id, group, **options)
            else:
                queues[name].enqueue(DELIVER_JOB, ticket_id, group, **options)

    def drain(self, kind: str, tickets: Sequence[str] = (), *, again: bool = False) -> None:
        """Name `tickets` as owing `kind` and make sure a drain of it is queued: one job,
        however many changes ask; `again` queues one even if one is said to be queued (the
        sweeper: that one was lost)."""
        queue = self.route(kind)
        with queue.connection.pipeline(transaction=False) as pipe:  # one round trip
            if tickets:
                pipe.sadd(owing(kind), *tickets)
            pipe.set(drain_flag(kind), 1, nx=True, ex=DRAIN_PENDING_TTL)
            pending = not pipe.execute()[-1]
        if pending and not again:
            return  # one is queued and has not started: it will find this change's effect
        options = {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}
        delay = self.delays.get(kind, 0.0)
        try:
            if delay:
                queue.enqueue_in(timedelta(seconds=delay), DRAIN_JOB, kind, **options)
            else:
                queue.enqueue(DRAIN_JOB, kind, **options)
        except Exception:
            queue.connection.delete(drain_flag(kind))  # no drain is on its way after all
            raise
