"""Which outward effects each kind of action owes, and the port that schedules them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from ticketcore.events import Event
from ticketcore.models import Message, Ticket
from ticketcore.outbox import HISTORY_STORE

# Effect kinds the core knows how to owe. Edges register handlers for them.
PLAYER_SYNC = "player.sync"  # keep the player directory in step with tickets
REPLY_DELIVER = "reply.deliver"  # carry an agent's reply to the player's channel

EVERY_EVENT = "*"


class RetryLater(Exception):
    """A platform asked us to come back later (rate limit); not a failure of the effect."""

    def __init__(
        self, seconds: float, reason: str = "rate limited", *, first: bool = False
    ) -> None:
        super().__init__(f"{reason}; retry in {seconds:.0f}s")
        self.seconds = seconds
        # Something people wait to see appear (a new card): its retry goes to the front of
        # its queue when its moment comes, not behind everything queued meanwhile.
        self.first = first


class Dispatcher(Protocol):
    """Schedules delivery of effects just written; losing a call only delays them.
    `opening`: they are a new ticket's, owed by its creation (its card, the player's
    acknowledgement), which go ahead of the effects of changes to tickets already open."""

    def dispatch(self, ticket_id: str, keys: Sequence[str], *, opening: bool = False) -> None: ...


class NoDispatch:
    """For tools that write without a queue: the sweeper delivers what they owe."""

    def dispatch(self, ticket_id: str, keys: Sequence[str], *, opening: bool = False) -> None:
        return None


@dataclass(frozen=True)
class Change:
    """A change about to be stored, as the subscriptions see it: its event, the ticket
    before it (a new ticket's opening: the ticket as opened), its time, and what its
    history entry will carry."""

    event: str
    ticket: Ticket
    at: datetime
    message: Message | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


# Whether a change can do without a kind it is subscribed to, because carrying it out
# could change nothing.
Needless = Callable[[Change], bool]


def without_message(change: Change) -> bool:
    """For kinds that carry the change's message somewhere: a change without one (a flow
    rule that only routed the ticket) has nothing for them."""
    return change.message is None


def of_unverified_sender(change: Change) -> bool:
    """For kinds that learn who the player is from the ticket: a sender nobody vouched
    for must not write into the player directory."""
    return not change.ticket.sender_verified


class Subscriptions:
    """Effect kinds per event name, as configured by the features that are enabled; a kind
    in `channels` is owed only by tickets of those channels (a mail confirmation is no
    business of a Telegram ticket), and a kind in `needless` is not owed by a change it
    says could gain nothing from it, so no job runs just to find nothing to do.

    A kind in `coalesced` acts on the ticket as it is when carried out, not on the change
    that owed it (re-indexing it for search): one such effect still waiting stands for
    every later change too, so they owe no more of it (see TicketWriter._change)."""

    def __init__(
        self,
        table: Mapping[str, Iterable[str]],
        channels: Mapping[str, Iterable[str]] | None = None,
        needless: Mapping[str, Needless] | None = None,
        coalesced: Iterable[str] = (),
    ) -> None:
        self._table = {kind: frozenset(events) for kind, events in table.items()}
        self._channels = {kind: frozenset(c) for kind, c in (channels or {}).items()}
        self._needless = dict(needless or {})
        self.coalesced = frozenset(coalesced)

    def kinds_for(
        self, event: str, channel: str | None = None, *, change: Change | None = None
    ) -> list[str]:
        """The kinds the event owes on the channel; with the `change` known, without the
        ones it could gain nothing from."""
        return [
            kind
            for kind, events in self._table.items()
            if (event in events or EVERY_EVENT in events)
            and (channel is None or channel in self._channels.get(kind, (channel,)))
            and not (change is not None and kind in self._needless and self._needless[kind](change))
        ]


class Lane(StrEnum):
    """The line of workers a kind of effect waits in."""

    URGENT = "urgent"  # what people wait to see: workers empty this line first
    NORMAL = "normal"  # bookkeeping, which may wait behind it
    SINGLE = "single"  # carried out by one worker only (the embedded search index)


@dataclass(frozen=True)
class EffectKind:
    """One kind of outward effect, declared beside the code that carries it out: the
    events that owe it and when it is owed at all, and how its job goes.

    `after`: kinds carried out before this one in the same job, when they are enabled
    (a storm's ticket joins its incident before its card would be posted). They go with
    this kind's lane and delay, whatever they declare, so that they share its job."""

    name: str
    events: frozenset[str]  # empty: owed by the core itself, not by a subscription
    lane: Lane = Lane.NORMAL
    delay: float = 0.0  # seconds its job waits: a burst of changes becomes one delivery
    channels: frozenset[str] | None = None  # owed only by tickets of these channels
    needless: Needless | None = None  # a change that could gain nothing owes none
    drained: bool = False  # carried out for many tickets at once (jobs.drain)
    coalesced: bool = False  # acts on the ticket as it is then (see Subscriptions)
    after: tuple[str, ...] = ()


def effect_kind(
    name: str,
    events: Iterable[str],
    *,
    lane: Lane = Lane.NORMAL,
    delay: float = 0.0,
    channels: Iterable[str] | None = None,
    needless: Needless | None = None,
    drained: bool = False,
    coalesced: bool = False,
    after: Iterable[str] = (),
) -> EffectKind:
    """An EffectKind from plain sets, as the declarations write them."""
    return EffectKind(
        name,
        frozenset(events),
        lane=lane,
        delay=delay,
        channels=frozenset(channels) if channels is not None else None,
        needless=needless,
        drained=drained,
        coalesced=coalesced,
        after=tuple(after),
    )


@dataclass(frozen=True)
class EffectTable:
    """The enabled kinds of effect, in the order a job carries them out, and what their
    declarations add up to: which kinds each event owes, the lanes, delays and drains.

    Made once at start by `of`, which orders the kinds (each after those it names in
    `after`, otherwise as listed) and gives the kinds named in `after` the lane and delay
    of the kind that names them."""

    kinds: tuple[EffectKind, ...]

    @classmethod
    def of(cls, kinds: Iterable[EffectKind]) -> EffectTable:
        listed = {kind.name: kind for kind in kinds}
        ordered: list[EffectKind] = []
        placing: set[str] = set()

        def place(kind: EffectKind) -> None:
            if any(placed.name == kind.name for placed in ordered):
                return
            if kind.name in placing:
                raise ValueError(f"effect kinds run after each other in a circle: {kind.name}")
            placing.add(kind.name)
            for earlier in kind.after:
                if earlier in listed:
                    place(listed[earlier])
            ordered.append(kind)

        for kind in listed.values():
            place(kind)
        return cls(tuple(aligned(ordered)))

    def __iter__(self) -> Iterator[EffectKind]:
        return iter(self.kinds)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(kind.name for kind in self.kinds)

    def subscriptions(self) -> Subscriptions:
        owed = [kind for kind in self.kinds if kind.events]
        return Subscriptions(
            {kind.name: kind.events for kind in owed},
            channels={kind.name: kind.channels for kind in owed if kind.channels is not None},
            needless={kind.name: kind.needless for kind in owed if kind.needless is not None},
            coalesced=[kind.name for kind in owed if kind.coalesced],
        )

    @property
    def delays(self) -> dict[str, float]:
        return {kind.name: kind.delay for kind in self.kinds if kind.delay}

    def lane(self, lane: Lane) -> frozenset[str]:
        return frozenset(kind.name for kind in self.kinds if kind.lane is lane)

    @property
    def drained(self) -> frozenset[str]:
        return frozenset(kind.name for kind in self.kinds if kind.drained)


def aligned(ordered: Sequence[EffectKind]) -> list[EffectKind]:
    """The kinds, each named in another's `after` given that kind's lane and delay. From
    the last to the first, so that a chain (a before b before c) takes c's throughout."""
    by_name = {kind.name: kind for kind in ordered}
    set_by: dict[str, str] = {}
    for kind in reversed(ordered):
        kind = by_name[kind.name]
        for earlier in kind.after:
            if earlier not in by_name:
                continue
            before = by_name[earlier]
            if earlier in set_by and (before.lane, before.delay) != (kind.lane, kind.delay):
                raise ValueError(
                    f"{earlier} runs before both {set_by[earlier]} and {kind.name}, "
                    "which go in different jobs"
                )
            by_name[earlier] = replace(before, lane=kind.lane, delay=kind.delay)
            set_by[earlier] = kind.name
    return [by_name[kind.name] for kind in ordered]


# The kinds the core owes by itself. Bookkeeping drains wait a moment once asked, so the
# changes of that moment make one round: without it every change of a busy day queued a
# drain of its own, for a ticket or two, at the full price of a round (a lease, a read and
# a drop over all it took).
CORE_KINDS = (
    # Every change that keeps a history entry owes its storing (writes.outcome). Urgent:
    # until it runs, each entry rides on every update of its ticket, message and all, and
    # behind a busy day's queued jobs they piled up by the thousand and made every update
    # dearer. A drain is a hundred tickets in a few commands.
    effect_kind(HISTORY_STORE, (), lane=Lane.URGENT, delay=1.0, drained=True),
    effect_kind(
        PLAYER_SYNC, {Event.TICKET_CREATED}, delay=5.0, drained=True, needless=of_unverified_sender
    ),
    # A flow's auto-reply goes out the same way as an agent's.
    effect_kind(
        REPLY_DELIVER,
        {Event.REPLY_SENT, Event.FLOW_FIRED},
        lane=Lane.URGENT,
        needless=without_message,
    ),
)
