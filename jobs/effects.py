"""Handlers for the effects the core owes: one function per effect kind."""

from __future__ import annotations

from jobs.deliver import NoRoute
from jobs.runtime import Handler, Runtime
from ticketcore.effects import PLAYER_SYNC, REPLY_DELIVER
from ticketcore.models import Channel, MessageKind
from ticketcore.outbox import HISTORY_STORE
from ticketcore.store import Document, save_entries
from ticketcore.writes import entry_from_record, is_worth_keeping


def store_history(rt: Runtime, ticket: Document, record: Document) -> None:
    """Store the history entry if the request that made it died before it could."""
    entry = entry_from_record(record)
    if is_worth_keeping(entry):
        save_entries(rt.store, [entry])
        if rt.metrics is not None:
            rt.metrics.event(entry.event, str(ticket.get("channel", "")))
    return None


def sync_player(rt: Runtime, ticket: Document, record: Document) -> None:
    """Keep one player record per identity, filled in from what each ticket tells us."""
    player = {k: v for k, v in ticket["player"].items() if v is not None}
    for identity in ("player_id", "email", "telegram_user_id"):
        if identity in player:
            rt.store.players.update_one(
                {identity: player[identity]},
                {
                    "$set": {**player, "last_seen_at": ticket["updated_at"]},
                    "$setOnInsert": {"first_seen_at": ticket["created_at"]},
                },
                upsert=True,
            )
            return None
    return None


def deliver_reply(rt: Runtime, ticket: Document, record: Document) -> None:
    """Send an agent's reply on the ticket's channel (email when we know an address)."""
    entry = rt.service.entry(ticket, record["entry_id"])
    if entry.message is None or entry.message.kind is not MessageKind.REPLY:
        return None  # a flow that fired without answering
    channel = Channel(ticket["channel"])
    has_email = ticket["player"].get("email") is not None
    if channel in (Channel.EMAIL, Channel.API) and has_email:
        channel = Channel.EMAIL
    elif channel is Channel.API:
        return None  # the game shows replies in-app through the API; nothing to push
    route = rt.reply_routes.get(channel)
    if route is None:
        raise NoRoute(f"replies on {channel} are not configured")
    delivery = route(rt, ticket, entry)
    if delivery:
        # Stored together with the entry: its own history record may not have run yet.
        save_entries(rt.store, [entry], delivery=delivery)
    return None


CORE_HANDLERS: dict[str, Handler] = {
    HISTORY_STORE: store_history,
    PLAYER_SYNC: sync_player,
    REPLY_DELIVER: deliver_reply,
}
