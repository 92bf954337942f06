"""What a job needs at hand, installed once per worker process by `helpdesk worker`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rq import Queue

from jobs.dispatch import QueueDispatcher
from ticketcore.accounts import AccountProvider
from ticketcore.clock import Clock
from ticketcore.effects import EffectTable
from ticketcore.flows_file import FlowsFile, FlowsFileHolder
from ticketcore.macros import Macros
from ticketcore.models import Channel, HistoryEntry
from ticketcore.outbox import Outbox
from ticketcore.search.port import SearchIndex
from ticketcore.service import TicketService
from ticketcore.store import Document, Store

QUEUE_NAME = "helpdesk"
URGENT_QUEUE_NAME = "helpdesk-urgent"  # deliveries people wait for; workers empty it first
# Kinds only one worker may carry out (the embedded search index has one writer): the
# worker that runs the cron also works this queue, after the others are empty.
SINGLE_QUEUE_NAME = "helpdesk-single"

# A handler carries out one effect and returns fields to record on the ticket (or None).
Handler = Callable[["Runtime", Document, Document], Document | None]
# A batch handler carries out one kind's effects for many tickets at once (jobs.drain):
# each ticket with its records of the kind. It does them all or raises, and then each
# record is retried on its own backoff.
Claimed = Sequence[tuple[Document, list[Document]]]
BatchHandler = Callable[["Runtime", Claimed], None]
# A reply route carries one agent reply to the player over one channel.
ReplyRoute = Callable[["Runtime", Document, HistoryEntry], Document | None]


def check_handlers(
    effects: EffectTable, handlers: Mapping[str, Handler], batch: Mapping[str, BatchHandler]
) -> None:
    """Refuse to start with an enabled kind of effect nothing carries out, or carried out
    the wrong way: owed effects would wait in the outbox until they gave up."""
    for kind in effects:
        table, how = (batch, "batch handler") if kind.drained else (handlers, "handler")
        if kind.name not in table:
            raise ValueError(f"effect kind {kind.name} is enabled but has no {how}")


@dataclass(frozen=True)
class QueueRoutes:
    """Which queue each kind of effect goes to."""

    queue: Queue
    urgent_queue: Queue | None = None
    urgent: frozenset[str] = frozenset()
    single_queue: Queue | None = None
    single: frozenset[str] = frozenset()
    drained: frozenset[str] = frozenset()  # kinds carried out by drains, not a job per change

    def queue_for(self, kind: str) -> Queue:
        if self.single_queue is not None and kind in self.single:
            return self.single_queue
        return self.urgent_queue if self.urgent_queue and kind in self.urgent else self.queue

    def dispatcher(self, delays: Mapping[str, float] | None = None) -> QueueDispatcher:
        return QueueDispatcher(self.queue, delays, route=self.queue_for, drained=self.drained)


@dataclass
class Runtime:
    store: Store
    service: TicketService
    queue: Queue
    clock: Clock
    sweep_grace: timedelta = timedelta(seconds=30)
    urgent_queue: Queue | None = None
    urgent: frozenset[str] = frozenset()
    single_queue: Queue | None = None
    single: frozenset[str] = frozenset()
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)
    reply_routes: dict[Channel, ReplyRoute] = field(default_factory=dict)
    # The flows file as last loaded well (rules, SLA, escalation, auto-close); None: the
    # helpdesk does nothing by itself.
    flows_file: FlowsFileHolder | None = None
    macros: Macros = field(default_factory=lambda: Macros([]))
    search: SearchIndex | None = None
    accounts: AccountProvider | None = None  # the game's admin API, when configured
    digest: Any = None  # jobs.digest.Digest: the leads' daily numbers, when Slack is set
    metrics: Any = None  # jobs.metrics.Metrics: the counts behind /metrics

    @property
    def flows_in_force(self) -> FlowsFile | None:
        return self.flows_file.current() if self.flows_file else None

    @property
    def outbox(self) -> Outbox:
        return self.service.outbox

    @property
    def routes(self) -> QueueRoutes:
        return QueueRoutes(
            self.queue,
            self.urgent_queue,
            self.urgent,
            self.single_queue,
            self.single,
            frozenset(self.batch_handlers),
        )

    def queue_for(self, kind: str) -> Queue:
        return self.routes.queue_for(kind)

    def handler_for(self, kind: str) -> Handler | None:
        """The handler for one record of `kind`; a drained kind's batch handler serves a
        job that names a record (the sweeper's hand-over of an older release's jobs)."""
        handler = self.handlers.get(kind)
        if handler is None and (batch := self.batch_handlers.get(kind)) is not None:

            def one(rt: Runtime, ticket: Document, record: Document) -> None:
                batch(rt, [(ticket, [record])])

            return one
        return handler

    def dispatcher(self, delays: Mapping[str, float] | None = None) -> QueueDispatcher:
        return self.routes.dispatcher(delays)


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no runtime installed: jobs run inside `helpdesk worker`")
    return _current
