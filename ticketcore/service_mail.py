"""Mail in the ticket core: threading a player's mail onto its ticket by Message-Id or
subject, one ticket per Message-Id, and the ids of the mail we send. Part of TicketService."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ticketcore.models import Attachment, Channel, Player, Ticket
from ticketcore.service_base import ServiceBase


class MailIntake(ServiceBase):
    def receive_mail(
        self,
        *,
        player: Player,
        message_id: str,
        text: str,
        subject: str | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        thread_ids: Sequence[str] = (),
        subject_number: int | None = None,
    ) -> tuple[Ticket, bool]:
        """A player's mail: onto the ticket whose conversation it answers (its In-Reply-To
        or References name a Message-Id of the ticket), or the ticket its subject names
        (`[#1234]`) when it is that ticket's player writing; else a new ticket. Returns the
        ticket and whether the mail was new (False: the same Message-Id was seen before)."""
        seen = self.store.tickets.find_one({"mail_ids": message_id}, {"number": 1})
        if seen is not None:
            return self.get(seen["number"]), False
        number = self._mail_thread(player, thread_ids, subject_number)
        mail: dict[str, Any] = {
            "text": text,
            "html": html,
            "attachments": attachments,
            "external_id": message_id,
            "mail_id": message_id,
        }
        try:
            if number is not None:
                ticket = self.add_player_message_to(number, channel=Channel.EMAIL, **mail)
            else:
                ticket = self.open_ticket(
                    player=player, channel=Channel.EMAIL, subject=subject, **mail
                )
        except DuplicateKeyError:  # the same mail, delivered twice at the same moment
            seen = self.store.tickets.find_one({"mail_ids": message_id}, {"number": 1})
            if seen is None:
                raise
            return self.get(seen["number"]), False
        return ticket, True

    def _mail_thread(
        self, player: Player, thread_ids: Sequence[str], subject_number: int | None
    ) -> int | None:
        if thread_ids:
            doc = self.store.tickets.find_one(
                {"mail_ids": {"$in": list(thread_ids)}},
                {"number": 1},
                sort=[("number", DESCENDING)],
            )
            if doc is not None:
                return int(doc["number"])
        if subject_number is not None and player.email is not None:
            doc = self.store.tickets.find_one(
                {"number": subject_number, "player.email": player.email}, {"number": 1}
            )
            if doc is not None:
                return int(doc["number"])
        return None

    def remember_mail_id(self, ticket_id: str, message_id: str) -> None:
        """Record the Message-Id of a mail we send, before sending it: the player's answer
        names it, and finds this ticket even if the sender crashed right after."""
        self.store.tickets.update_one(
            {"_id": ObjectId(ticket_id)}, {"$addToSet": {"mail_ids": message_id}}
        )
