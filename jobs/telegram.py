"""Deliver to players on Telegram: agents' replies, the 'ticket opened' notice, the
satisfaction question, and word that a game account moved to another Telegram user.
Paced to the Bot API's limits; a 429 reschedules, a block is noted."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden

from bot.refs import TELEGRAM_BLOCKED, TELEGRAM_CSAT_ASKED, TELEGRAM_OPENED_SENT
from bot.telegram.sender import TelegramSender
from bot.telegram.texts import Texts, csat_keyboard, split_message
from jobs.runtime import Handler, Runtime
from ticketcore.effects import REPLY_DELIVER, Lane, RetryLater, effect_kind
from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, HistoryEntry, Ticket, resolution_of
from ticketcore.notices import TELEGRAM_REBOUND
from ticketcore.store import Document, save_entries, to_ticket

log = logging.getLogger(__name__)

TELEGRAM_OPENED = "telegram.opened"
TELEGRAM_CSAT = "telegram.csat"

# Telegram tickets only.
KINDS = (
    effect_kind(TELEGRAM_OPENED, {Event.TICKET_CREATED}, lane=Lane.URGENT, channels={"telegram"}),
    effect_kind(
        TELEGRAM_CSAT,
        {Event.STATUS_CHANGED, Event.UPDATED, Event.REPLY_SENT},
        lane=Lane.URGENT,
        channels={"telegram"},
    ),
)


@dataclass
class TelegramDelivery:
    """The Telegram effects of tickets: what to tell the player; `sender` sends it."""

    sender: TelegramSender
    texts: Texts
    reply_hours: int = 24

    def chat_of(self, ticket: Ticket) -> int:
        chat = ticket.player.telegram_chat_id or ticket.player.telegram_user_id
        if chat is None:
            raise LookupError(f"ticket #{ticket.number} has no Telegram chat")
        return chat

    def blocked(self, rt: Runtime, ticket: Ticket) -> Document:
        """The player blocked the bot: note it on the ticket (the card shows it), stop."""
        return {f"refs.{TELEGRAM_BLOCKED}": rt.clock().isoformat()}

    # ------------------------------------------------------------------ effects

    def reply(self, rt: Runtime, doc: Document, entry: HistoryEntry) -> Document | None:
        """A reply route: the agent's text, split at Telegram's limit, each piece once."""
        ticket = to_ticket(doc)
        assert entry.message is not None
        pieces = split_message(entry.message.text)
        stored = rt.store.history.find_one({"_id": entry.id}, {"delivery": 1}) or {}
        sent: list[int] = list((stored.get("delivery") or {}).get("message_ids", []))
        for piece in pieces[len(sent) :]:
            try:
                sent.append(self.sender.send(self.chat_of(ticket), piece))
            except Forbidden:
                rt.store.tickets.update_one({"_id": doc["_id"]}, {"$set": self.blocked(rt, ticket)})
                return {"channel": "telegram", "blocked": True, "message_ids": sent}
            # Progress is kept piece by piece, so a retry resumes instead of repeating.
            delivery = {"channel": "telegram", "message_ids": sent, "pieces": len(pieces)}
            save_entries(rt.store, [entry], delivery=delivery)
        return {"channel": "telegram", "message_ids": sent, "pieces": len(pieces)}

    def notify_opened(self, rt: Runtime, doc: Document, record: Document) -> Document | None:
        ticket = to_ticket(doc)
        if ticket.channel is not Channel.TELEGRAM:
            return None
        text = self.texts.get(
            ticket.player.language, "ticket_opened", number=ticket.number, hours=self.reply_hours
        )
        try:
            self.send_once(rt, doc, TELEGRAM_OPENED_SENT, "sent", self.chat_of(ticket), text)
        except Forbidden:
            return self.blocked(rt, ticket)
        return None

    def send_once(
        self,
        rt: Runtime,
        doc: Document,
        mark: str,
        value: str,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Send a notice the player must never get twice (the "request registered" notice,
        the score question). Its mark is stored on the ticket before it leaves; a send the
        Bot API refused takes the mark back, and any other failure (a lost answer, a
        timeout, a crash) keeps it: the retry then sends nothing. A player may miss a
        notice after a crash mid-send; never gets it twice."""
        path = f"refs.{mark}"
        marked = rt.store.tickets.update_one(
            {"_id": doc["_id"], path: {"$ne": value}}, {"$set": {path: value}}
        )
        if marked.modified_count == 0:
            log.warning("ticket #%s: %s was sent or tried already: not again", doc["number"], mark)
            return
        try:
            self.sender.send(chat_id, text, markup)
        except (RetryLater, Forbidden, BadRequest):  # refused: nothing reached the player
            rt.store.tickets.update_one({"_id": doc["_id"], path: value}, {"$unset": {path: ""}})
            raise

    def ask_satisfaction(self, rt: Runtime, doc: Document, record: Document) -> Document | None:
        """Once per resolution of a Telegram ticket, ask the player for a score."""
        current = rt.store.tickets.find_one({"_id": doc["_id"]})
        assert current is not None
        ticket = to_ticket(current)
        if ticket.channel is not Channel.TELEGRAM or ticket.status is not Status.RESOLVED:
            return None
        if any(r["kind"] == REPLY_DELIVER for r in current.get("outbox", [])):
            raise RetryLater(2.0, "the agent's reply goes first")
        if ticket.csat is not None or ticket.refs.get(TELEGRAM_BLOCKED):
            return None
        resolution = resolution_of(ticket)
        if ticket.refs.get(TELEGRAM_CSAT_ASKED) == str(resolution):
            return None
        text = self.texts.get(ticket.player.language, "csat_question", number=ticket.number)
        keyboard = csat_keyboard(ticket.number, resolution)
        try:
            self.send_once(
                rt,
                current,
                TELEGRAM_CSAT_ASKED,
                str(resolution),
                self.chat_of(ticket),
                text,
                keyboard,
            )
        except Forbidden:
            return self.blocked(rt, ticket)
        return None

    def notify_rebound(self, rt: Runtime, record: Document, notice: Document) -> None:
        """A player notice: the chat that had the game account learns it was bound elsewhere,
        so a stolen link does not go unnoticed."""
        payload = notice["payload"]
        text = self.texts.get(payload.get("language"), "link_moved")
        try:
            self.sender.send(int(payload["chat_id"]), text)
        except Forbidden:
            return None  # that user blocked the bot: nobody left to tell there
        return None

    def handlers(self) -> dict[str, Handler]:
        return {
            TELEGRAM_OPENED: self.notify_opened,
            TELEGRAM_CSAT: self.ask_satisfaction,
            TELEGRAM_REBOUND: self.notify_rebound,
        }
