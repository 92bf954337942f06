"""Mail to players: agents' replies, the confirmation of a new request, the CSAT question,
and the code that confirms an address a player gave on Telegram.

Every mail carries a Message-Id of ours, recorded on the ticket before it is sent, with
In-Reply-To and References to the conversation so far: the player's mail client threads
it, and the player's answer names the ticket. A temporary failure comes back later (at
the provider's Retry-After when it gave one); a permanent one is recorded on the ticket,
where the card shows it, and is not retried.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from bot.email.render import MailTemplates, RenderedMail
from jobs.runtime import Handler, Runtime
from ticketcore.effects import REPLY_DELIVER, Lane, RetryLater, effect_kind
from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.mail import MailDeferred, MailRejected, OutgoingMail
from ticketcore.mail.once import SendOnce
from ticketcore.models import Channel, HistoryEntry, Ticket, resolution_of
from ticketcore.notices import EMAIL_CODE
from ticketcore.store import Document, to_ticket

log = logging.getLogger(__name__)

MAIL_OPENED = "mail.opened"
MAIL_CSAT = "mail.csat"
# Only mail tickets owe these.
KINDS = (
    effect_kind(MAIL_OPENED, {Event.TICKET_CREATED}, lane=Lane.URGENT, channels={"email"}),
    effect_kind(
        MAIL_CSAT, {Event.STATUS_CHANGED, Event.UPDATED, Event.REPLY_SENT}, channels={"email"}
    ),
)
MAX_REFERENCES = 10  # the first mail and the latest ones: enough for every client to thread

# (ticket number, resolution) -> the page where the player gives that score, per score.
RatingUrls = Callable[[int, int], dict[int, str]]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "helpdesk.localhost"


def references(ticket: Ticket) -> tuple[str, ...]:
    ids = ticket.mail_ids
    if len(ids) <= MAX_REFERENCES:
        return ids
    return (ids[0], *ids[-(MAX_REFERENCES - 1) :])


@dataclass
class MailDelivery:
    mailer: SendOnce
    templates: MailTemplates
    support_address: str
    support_name: str
    rating_urls: RatingUrls
    reply_hours: int = 24
    email_code_minutes: int = 30

    @property
    def sender(self) -> str:
        return f"{self.support_name} <{self.support_address}>"

    def message_id(self, ticket: Ticket, what: str) -> str:
        return f"<ticket-{ticket.number}.{what}@{domain_of(self.support_address)}>"

    def mail(
        self, ticket: Ticket, message_id: str, rendered: RenderedMail, tag: str, **how: bool
    ) -> OutgoingMail:
        assert ticket.player.email is not None
        thread = references(ticket)
        return OutgoingMail(
            message_id=message_id,
            sender=self.sender,
            to=ticket.player.email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            reply_to=self.support_address,
            in_reply_to=thread[-1] if thread else None,
            references=thread,
            tags=(tag,),
            **how,
        )

    def render(self, kind: str, ticket: Ticket, **values: object) -> RenderedMail:
        """A mail of `kind` about `ticket`, in the player's language."""
        about: dict[str, object] = {
            "ticket_number": ticket.number,
            "subject": ticket.subject,
            "player_name": ticket.player.display_name,
        }
        return self.templates.render(kind, ticket.player.language, **{**about, **values})

    def send(self, rt: Runtime, ticket: Ticket, mail: OutgoingMail) -> Document:
        """Hand one mail over; what happened, for the record."""
        # Recorded first: an answer to this mail finds the ticket even if we crash after
        # the provider took it.
        rt.service.remember_mail_id(ticket.id, mail.message_id)
        try:
            provider_id = self.mailer.send(mail)
        except MailDeferred as exc:
            if exc.retry_after is not None:
                raise RetryLater(exc.retry_after + random.uniform(0, 1), str(exc)) from exc
            raise  # the outbox backs off and tries again
        except MailRejected as exc:
            reason = f"mail to {mail.to} refused: {exc}"
            rt.service.delivery_failed(ticket.number, channel=Channel.EMAIL, reason=reason)
            return {"channel": "email", "message_id": mail.message_id, "refused": str(exc)}
        return {"channel": "email", "message_id": mail.message_id, "provider_id": provider_id}

    # ------------------------------------------------------------------ effects

    def reply(self, rt: Runtime, doc: Document, entry: HistoryEntry) -> Document | None:
        """A reply route: the agent's answer as a mail in the player's thread."""
        ticket = to_ticket(doc)
        if ticket.player.email is None or entry.message is None:
            raise ValueError(f"ticket #{ticket.number} has no mail address to answer")
        rendered = self.render(
            "reply",
            ticket,
            agent_name=entry.actor.name,
            text=entry.message.text,
        )
        mail = self.mail(ticket, self.message_id(ticket, entry.id), rendered, "reply")
        return self.send(rt, ticket, mail)

    def confirm_opened(self, rt: Runtime, doc: Document, record: Document) -> None:
        """Tell a player who wrote by mail that the request arrived, and its number; with
        nothing the sender wrote, not even their name, as the From may be someone else's."""
        ticket = to_ticket(doc)
        if ticket.channel is not Channel.EMAIL or ticket.player.email is None:
            return None
        rendered = self.render("opened", ticket, reply_hours=self.reply_hours, player_name=None)
        mail = self.mail(
            ticket,
            self.message_id(ticket, f"{ticket.id}.opened"),
            rendered,
            "opened",
            automatic=True,
        )
        self.send(rt, ticket, mail)
        return None

    def ask_satisfaction(self, rt: Runtime, doc: Document, record: Document) -> None:
        """Once per resolution of a mail ticket, ask the player for a score."""
        current = rt.store.tickets.find_one({"_id": doc["_id"]}, {"outbox.payload": 0})
        assert current is not None
        ticket = to_ticket(current)
        if ticket.channel is not Channel.EMAIL or ticket.player.email is None:
            return None
        if ticket.status is not Status.RESOLVED or ticket.csat is not None:
            return None
        if any(r["kind"] == REPLY_DELIVER for r in current.get("outbox", [])):
            raise RetryLater(2.0, "the agent's reply goes first")
        resolution = resolution_of(ticket)
        rendered = self.render(
            "csat",
            ticket,
            rate_urls=self.rating_urls(ticket.number, resolution),
        )
        # One Message-Id per resolution: SendOnce makes a second ask for it a no-op.
        what = f"{ticket.id}.csat-{resolution}"
        mail = self.mail(ticket, self.message_id(ticket, what), rendered, "csat", automatic=True)
        self.send(rt, ticket, mail)
        return None

    def send_email_code(self, rt: Runtime, record: Document, notice: Document) -> None:
        """A player notice: the code that confirms the address they gave, once per request."""
        payload = notice["payload"]
        rendered = self.templates.render(
            "email_code",
            payload.get("language"),
            code=payload["code"],
            minutes=self.email_code_minutes,
            player_name=None,
        )
        unique = notice["key"].rpartition(":")[2]
        mail = OutgoingMail(
            message_id=f"<email-code.{unique}@{domain_of(self.support_address)}>",
            sender=self.sender,
            to=payload["to"],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            reply_to=self.support_address,
            tags=("email_code",),
            automatic=True,
        )
        try:
            self.mailer.send(mail)
        except MailDeferred as exc:
            if exc.retry_after is not None:
                raise RetryLater(exc.retry_after + random.uniform(0, 1), str(exc)) from exc
            raise
        except MailRejected as exc:  # the player will see no code and can give another one
            log.info("confirmation code to %s refused: %s", mail.to, exc)

    def handlers(self) -> dict[str, Handler]:
        return {
            MAIL_OPENED: self.confirm_opened,
            MAIL_CSAT: self.ask_satisfaction,
            EMAIL_CODE: self.send_email_code,
        }
