"""Outgoing mail: the Mailer port, the message it sends, and its adapters."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict


class OutgoingMail(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str  # "<…@domain>"; also the idempotency key of the send
    sender: str
    to: str
    subject: str
    text: str
    html: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class Mailer(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Send once per message_id; return the provider's id for the message."""
        ...
