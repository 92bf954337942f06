"""The account lookup as an effect of the outbox: a ticket that learns of its player, or
hears from them again, asks the game's admin API (bot.game.accounts) about them and keeps
the answer on the ticket."""

from __future__ import annotations

from datetime import timedelta

from bot.game.accounts import cache_life
from jobs.runtime import Runtime
from ticketcore.accounts import AccountStatus
from ticketcore.effects import Change, EffectKind, Needless, effect_kind
from ticketcore.events import Event
from ticketcore.models import Actor, ActorKind
from ticketcore.store import Document

ACCOUNT_LOOKUP = "account.lookup"
# A ticket learns of its player, or hears from them again (a failed lookup is retried then).


def lookup_needless(ttl: int) -> Needless:
    """A change owes no lookup when the ticket names no player to ask about (a Telegram or
    e-mail player not linked to a game account: the lookup would read the ticket to find
    nothing, for every message they send; the change that names one is looked up), or
    when the answer the ticket keeps is still fresh (`answered_from_cache`)."""
    fresh = answered_from_cache(ttl)

    def needless(change: Change) -> bool:
        if change.event != Event.PLAYER_CHANGED and not change.ticket.player.player_id:
            return True
        return fresh(change)

    return needless


def kind(ttl: int) -> EffectKind:
    """The lookup's declaration, with answers kept `ttl` seconds. Coalesced: it asks about
    the player the ticket has when it runs."""
    events = {Event.TICKET_CREATED, Event.PLAYER_CHANGED, Event.MESSAGE_RECEIVED}
    return effect_kind(ACCOUNT_LOOKUP, events, needless=lookup_needless(ttl), coalesced=True)


def answered_from_cache(ttl: int) -> Needless:
    """A player writing again is looked up again only if the ticket's account could be out
    of date: while the answer it keeps is still in the cache (same player, younger than
    the cache keeps it), the lookup would get that answer back and change nothing. A new
    ticket and a new player are always looked up."""

    def needless(change: Change) -> bool:
        kept = change.ticket.account
        if change.event != Event.MESSAGE_RECEIVED or not kept:
            return False
        if kept.get("player_id") != change.ticket.player.player_id:
            return False
        life = cache_life(AccountStatus(str(kept.get("status"))), ttl)
        fetched = kept.get("fetched_at")
        return (
            life is not None
            and fetched is not None
            and change.at - fetched < timedelta(seconds=life)
        )

    return needless


LOOKUP_ACTOR = Actor(kind=ActorKind.SYSTEM, id="account-lookup", via="game-api")


def look_up_account(rt: Runtime, doc: Document, record: Document) -> None:
    """The effect handler: ask (or the cache) about the ticket's player, and keep the answer
    on the ticket, whose change redraws the card and lets flow rules see it."""
    if rt.accounts is None:
        return None
    fresh = rt.store.tickets.find_one({"_id": doc["_id"]}, {"player": 1, "number": 1})
    if fresh is None or not (player_id := fresh.get("player", {}).get("player_id")):
        return None
    summary = rt.accounts.lookup(player_id)
    rt.service.set_account(int(fresh["number"]), summary, actor=LOOKUP_ACTOR)
    return None
