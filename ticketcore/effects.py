"""Which outward effects each kind of action owes, and the port that schedules them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

# Effect kinds the core knows how to owe. Edges register handlers for them.
PLAYER_SYNC = "player.sync"  # keep the player directory in step with tickets
REPLY_DELIVER = "reply.deliver"  # carry an agent's reply to the player's channel

EVERY_EVENT = "*"


class Dispatcher(Protocol):
    """Schedules delivery of effects just written; losing a call only delays them."""

    def dispatch(self, ticket_id: str, keys: Sequence[str]) -> None: ...


class NoDispatch:
    """For tools that write without a queue: the sweeper delivers what they owe."""

    def dispatch(self, ticket_id: str, keys: Sequence[str]) -> None:
        return None


class Subscriptions:
    """Effect kinds per event name, as configured by the features that are enabled; a kind
    in `channels` is owed only by tickets of those channels (a mail confirmation is no
    business of a Telegram ticket), so no job runs just to find nothing to do."""

    def __init__(
        self,
        table: Mapping[str, Iterable[str]],
        channels: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._table = {kind: frozenset(events) for kind, events in table.items()}
        self._channels = {kind: frozenset(c) for kind, c in (channels or {}).items()}

    def kinds_for(self, event: str, channel: str | None = None) -> list[str]:
        return [
            kind
            for kind, events in self._table.items()
            if (event in events or EVERY_EVENT in events)
            and (channel is None or channel in self._channels.get(kind, (channel,)))
        ]


CORE_SUBSCRIPTIONS: dict[str, set[str]] = {
    PLAYER_SYNC: {"ticket.created"},
    REPLY_DELIVER: {"reply.sent", "flow.fired"},  # a flow's auto-reply goes out the same way
}
