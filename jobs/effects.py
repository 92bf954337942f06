"""Handlers for the effects the core owes: one function per effect kind."""

from __future__ import annotations

from pymongo import UpdateOne

from jobs.deliver import NoRoute
from jobs.runtime import BatchHandler, Claimed, Handler, Runtime
from ticketcore.effects import PLAYER_SYNC, REPLY_DELIVER
from ticketcore.models import Channel, MessageKind
from ticketcore.outbox import HISTORY_STORE
from ticketcore.store import Document, save_entries
from ticketcore.writes import entry_from_record, is_worth_keeping


def store_history(rt: Runtime, claimed: Claimed) -> None:
    """Move the history entries the tickets carry into the history, in one write."""
    kept = [
        (entry, str(ticket.get("channel", "")))
        for ticket, records in claimed
        for entry in map(entry_from_record, records)
        if is_worth_keeping(entry)
    ]
    save_entries(rt.store, [entry for entry, _ in kept])
    if rt.metrics is not None:
        for entry, channel in kept:
            rt.metrics.event(entry.event, channel)


def sync_players(rt: Runtime, claimed: Claimed) -> None:
    """Keep one player record per identity, filled in from what each ticket tells us."""
    writes = [write for ticket, _ in claimed if (write := player_upsert(ticket)) is not None]
    if writes:
        rt.store.players.bulk_write(writes, ordered=True)  # in order: a player's latest last


def player_upsert(ticket: Document) -> UpdateOne | None:
    player = {k: v for k, v in ticket["player"].items() if v is not None}
    for identity in ("player_id", "email", "telegram_user_id"):
        if identity in player:
            return UpdateOne(
                {identity: player[identity]},
                {
                    "$set": {**player, "last_seen_at": ticket["updated_at"]},
                    "$setOnInsert": {"first_seen_at": ticket["created_at"]},
                },
                upsert=True,
            )
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


# The handlers of the kinds the core owes (ticketcore.effects.CORE_KINDS).
CORE_BATCH_HANDLERS: dict[str, BatchHandler] = {
    HISTORY_STORE: store_history,
    PLAYER_SYNC: sync_players,
}
CORE_HANDLERS: dict[str, Handler] = {REPLY_DELIVER: deliver_reply}
