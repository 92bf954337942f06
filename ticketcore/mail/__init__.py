"""Outgoing mail: the Mailer port, the message it sends, and how a send can fail."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class OutgoingMail(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str  # "<…@domain>", ours: the idempotency key of the send and the thread
    sender: str  # "Brand <support@domain>"
    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # Mails the helpdesk sends on its own (confirmations, CSAT) say so, so that the
    # player's auto-responder stays quiet (RFC 3834) and no loop starts.
    automatic: bool = False

    def extra_headers(self) -> dict[str, str]:
        """The headers beyond From/To/Subject that every backend must pass on."""
        headers = {"Message-Id": self.message_id}
        if self.reply_to:
            headers["Reply-To"] = self.reply_to
        if self.in_reply_to:
            headers["In-Reply-To"] = self.in_reply_to
        if self.references:
            headers["References"] = " ".join(self.references)
        headers["Auto-Submitted"] = "auto-generated" if self.automatic else "no"
        return headers

    def as_email(self, date: datetime) -> EmailMessage:
        """The RFC 5322 message: plain text with an HTML alternative."""
        msg = EmailMessage()
        msg["Date"] = format_datetime(date)
        msg["From"] = self.sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        for name, value in self.extra_headers().items():
            msg[name] = value
        msg.set_content(self.text)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        return msg


class MailRejected(Exception):
    """The provider refused this mail for good (bad address, refused sender): retrying
    would fail the same way, so the ticket records it instead."""


class MailDeferred(Exception):
    """The provider could not take the mail now (rate limit, outage); try again later,
    after `retry_after` seconds when it said so."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Mailer(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Hand the mail over; return the provider's id. MailRejected or MailDeferred."""
        ...

    def accepted(self, message_id: str) -> str | None:
        """The provider's id of a mail it has already accepted with this Message-Id, if
        it can tell (None: not accepted, or no way to know); MailDeferred if it could
        not be asked."""
        ...
