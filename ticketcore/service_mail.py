"""Mail in the ticket core: threading a player's mail onto its ticket by Message-Id or
subject when the sender is that ticket's player, one ticket per Message-Id, and the ids of
the mail we send. Part of TicketService."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ticketcore.errors import TooManyNewTickets
from ticketcore.models import SYSTEM, Attachment, Channel, Message, MessageKind, Player, Ticket
from ticketcore.originals import check_original, keep_original, original_ref, read_original
from ticketcore.service_base import WITHOUT_BODIES, ServiceBase
from ticketcore.store import Document, to_ticket
from ticketcore.writes import Action


def always() -> bool:
    return True


def is_senders_ticket(ticket: Ticket, sender: Player, *, sender_verified: bool) -> bool:
    """Whether a mail from `sender` may join `ticket`: a verified sender whose address (or
    game player id, known from a verified address) is the ticket's player's; an unverified
    one only onto an unverified ticket of the same address, never a verified player's."""
    same_address = sender.email is not None and sender.email == ticket.player.email
    if not (sender_verified and ticket.sender_verified):
        return same_address and not sender_verified and not ticket.sender_verified
    same_player = sender.player_id is not None and sender.player_id == ticket.player.player_id
    return same_address or same_player


def not_threaded_note(ticket: Ticket, sender: Player, *, sender_verified: bool) -> str:
    """Why a mail that names another ticket opened this one instead."""
    who = f"{sender.email} ({'verified' if sender_verified else 'unverified'} sender)"
    return (
        f"This mail answers ticket #{ticket.number}, but {who} is not that ticket's player, "
        "so it was not added there."
    )


def mail_lookup(message_id: str, thread_ids: Sequence[str]) -> dict[str, Any]:
    """The query for the tickets holding a mail's own Message-Id or one it answers. No sort:
    the embedded server never sorts by index, and each id is on one ticket at most (a
    unique index), so the matches are few and the newest is picked in memory."""
    return {"mail_ids": {"$in": [message_id, *thread_ids]}}


class MailIntake(ServiceBase):
    def receive_mail(
        self,
        *,
        player: Player,
        message_id: str,
        text: str,
        sender_verified: bool,
        subject: str | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        thread_ids: Sequence[str] = (),
        subject_number: int | None = None,
        may_open: Callable[[], bool] = always,
        original: str | None = None,
    ) -> tuple[Ticket, bool]:
        """A player's mail: onto the ticket whose conversation it answers (its In-Reply-To
        or References name a Message-Id of the ticket, or its subject names `[#1234]`) when
        the sender is that ticket's player (`is_senders_ticket`); else a new ticket, linked
        to the one it named with a note why. A new ticket first asks `may_open`, and raises
        TooManyNewTickets, writing nothing, when refused. Returns the ticket and whether
        the mail was new (False: the same Message-Id was seen before). `original`: the
        mail as it arrived, when `text` shows less of it; kept beside the message."""
        if original is not None:
            check_original(original)
        ref = original_ref(message_id) if original is not None else None

        def kept(ticket: Ticket, new: bool) -> tuple[Ticket, bool]:
            # Also for a mail seen before: its first delivery may have ended in between.
            if original is not None and ref is not None:
                at = self.clock()
                keep_original(self.store, ref, number=ticket.number, text=original, at=at)
            return ticket, new

        seen, named_doc = self._mail_tickets(message_id, thread_ids, subject_number)
        if seen is not None:
            return kept(seen, False)
        named = to_ticket(named_doc) if named_doc is not None else None
        joins = named is not None and is_senders_ticket(
            named, player, sender_verified=sender_verified
        )
        mail: dict[str, Any] = {
            "text": text,
            "html": html,
            "attachments": attachments,
            "external_id": message_id,
            "mail_id": message_id,
            "original_ref": ref,
        }
        try:
            if named is not None and joins:
                added = self.add_player_message_to(
                    named.number, channel=Channel.EMAIL, read=named_doc, **mail
                )
                return kept(added, True)
            if not may_open():
                raise TooManyNewTickets(player.email or player.key())
            ticket = self.open_ticket(
                player=player,
                channel=Channel.EMAIL,
                subject=subject,
                reopened_from=named.number if named is not None else None,
                sender_verified=sender_verified,
                **mail,
            )
        except DuplicateKeyError:  # the same mail, delivered twice at the same moment
            first = self.store.tickets.find_one({"mail_ids": message_id}, {"number": 1})
            if first is None:
                raise
            return kept(self.get(first["number"]), False)
        if named is not None:
            text = not_threaded_note(named, player, sender_verified=sender_verified)
            note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=text)
            ticket = self._record(
                ticket.number, Action("note.added", SYSTEM, self.clock(), {}, note)
            )
        return kept(ticket, True)

    def _mail_tickets(
        self, message_id: str, thread_ids: Sequence[str], subject_number: int | None
    ) -> tuple[Ticket | None, Document | None]:
        """The ticket that already holds this mail, and the ticket the mail names: by a
        Message-Id of its conversation, else by number. One indexed read serves both, and
        the named ticket's document is read as `_change` reads it, so that adding the mail
        to it needs no second read."""
        query = mail_lookup(message_id, thread_ids)
        docs = list(self.store.tickets.find(query, WITHOUT_BODIES))
        for doc in docs:
            if message_id in doc.get("mail_ids", ()):
                return to_ticket(doc), None
        if docs:  # several tickets named: the newest conversation wins
            return None, max(docs, key=lambda doc: int(doc["number"]))
        if subject_number is not None:
            return None, self.store.tickets.find_one({"number": subject_number}, WITHOUT_BODIES)
        return None, None

    def original_mail(self, number: int, ref: str) -> str | None:
        """The mail as it arrived of a message of ticket `number`, by its `original_ref`."""
        return read_original(self.store, number, ref)

    def remember_mail_id(self, ticket_id: str, message_id: str) -> None:
        """Record the Message-Id of a mail we send, before sending it: the player's answer
        names it, and finds this ticket even if the sender crashed right after."""
        self.store.tickets.update_one(
            {"_id": ObjectId(ticket_id)}, {"$addToSet": {"mail_ids": message_id}}
        )
