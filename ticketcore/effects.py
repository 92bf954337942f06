"""Which outward effects each kind of action owes, and the port that schedules them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ticketcore.models import Message, Ticket

# Effect kinds the core knows how to owe. Edges register handlers for them.
PLAYER_SYNC = "player.sync"  # keep the player directory in step with tickets
REPLY_DELIVER = "reply.deliver"  # carry an agent's reply to the player's channel

EVERY_EVENT = "*"


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
    every later change too, so they owe no more of it (see ServiceBase._change)."""

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


CORE_SUBSCRIPTIONS: dict[str, set[str]] = {
    PLAYER_SYNC: {"ticket.created"},
    REPLY_DELIVER: {"reply.sent", "flow.fired"},  # a flow's auto-reply goes out the same way
}
CORE_NEEDLESS: dict[str, Needless] = {
    REPLY_DELIVER: without_message,
    PLAYER_SYNC: of_unverified_sender,
}
