"""The ticket domain as data: tickets, players, messages and their history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ticketcore.addresses import to_address
from ticketcore.lifecycle import Status

MAX_TEXT = 20_000
# A mail as it arrived, quoted history and signature included: kept beside its message
# (ticketcore.originals), up to this many characters.
MAX_ORIGINAL = 100_000
MAX_SUBJECT = 200
MAX_TAG = 64


class Channel(StrEnum):
    TELEGRAM = "telegram"
    EMAIL = "email"
    API = "api"
    SLACK = "slack"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class MessageKind(StrEnum):
    PLAYER = "player"  # inbound from the player
    REPLY = "reply"  # outbound answer to the player
    NOTE = "note"  # internal, never leaves the team


class ActorKind(StrEnum):
    PLAYER = "player"
    AGENT = "agent"
    SYSTEM = "system"
    INTEGRATION = "integration"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(Model):
    """Who did something, as a plain value: never a platform payload."""

    kind: ActorKind
    id: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    via: str | None = Field(default=None, max_length=40)


SYSTEM = Actor(kind=ActorKind.SYSTEM, id="helpdesk")


class Player(Model):
    player_id: str | None = Field(default=None, min_length=1, max_length=128)
    email: str | None = Field(default=None, min_length=3, max_length=254)
    telegram_user_id: int | None = None
    telegram_chat_id: int | None = None
    telegram_username: str | None = Field(default=None, max_length=64)  # without the "@"
    language: str | None = Field(default=None, min_length=2, max_length=16)
    display_name: str | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return to_address(value)

    def key(self) -> str:
        """The strongest identity we know, used to find the player's current ticket."""
        if self.player_id is not None:
            return f"id:{self.player_id}"
        if self.email is not None:
            return f"email:{self.email}"
        if self.telegram_user_id is not None:
            return f"tg:{self.telegram_user_id}"
        raise ValueError("a player needs a player_id, an email or a Telegram user id")


class Attachment(Model):
    name: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int = Field(ge=0)
    ref: str | None = Field(default=None, max_length=1000)  # where the bytes live
    kind: str = Field(default="file", max_length=20)  # photo, document, video, voice, file


class Message(Model):
    kind: MessageKind
    channel: Channel
    text: str = Field(max_length=MAX_TEXT)
    html: str | None = Field(default=None, max_length=4 * MAX_TEXT)
    attachments: tuple[Attachment, ...] = ()
    # The channel's own id of the message (a Telegram chat:message pair, a Message-Id).
    external_id: str | None = Field(default=None, max_length=1000)
    # The mail as it arrived, when `text` shows less of it: the key of its row in the
    # originals collection, kept out of the ticket and its history entry for their size.
    original_ref: str | None = Field(default=None, max_length=64)


class Change(Model):
    field: str
    old: Any = None
    new: Any = None


class HistoryEntry(Model):
    """One action on a ticket, in the append-only history; a message is one kind of action."""

    id: str
    ticket_id: str
    number: int
    seq: int  # the ticket's version right after this action
    event: str  # an Event's value (ticketcore.events), kept as stored
    actor: Actor
    at: datetime
    message: Message | None = None
    changes: tuple[Change, ...] = ()
    edit_of: str | None = None  # the entry this one is a new version of
    # What an event says beyond field changes and a message: the rule that fired and
    # whom it notifies, the SLA target that was breached, ...
    data: dict[str, Any] = Field(default_factory=dict)


class Csat(Model):
    score: int = Field(ge=1, le=5)
    at: datetime


LOW_CSAT = 2  # a score at or below this raises csat.low


class Ticket(Model):
    id: str
    number: int
    subject: str
    channel: Channel
    player: Player
    status: Status
    priority: Priority = Priority.NORMAL
    assignee: str | None = None
    queue: str | None = None
    tags: tuple[str, ...] = ()
    context: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None = None
    last_player_message_at: datetime | None = None
    last_agent_reply_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    merged_into: int | None = None
    reopened_from: int | None = None
    message_count: int = 0
    # The first message's text, kept on the ticket so a card renders from one read.
    opening_text: str = Field(default="", max_length=MAX_TEXT)
    csat: Csat | None = None
    version: int = 0
    # How outside systems know this ticket (e.g. its Slack card), set by their deliveries.
    refs: dict[str, str] = Field(default_factory=dict)
    # Every Message-Id of the ticket's mail conversation, the player's and ours, oldest
    # first: a mail that refers to one of them belongs here; one seen before is a resend.
    mail_ids: tuple[str, ...] = ()
    # False when the ticket came by mail whose sender the mail provider could not
    # authenticate: its "From" may be anyone's, so it is linked to no player record.
    sender_verified: bool = True
    # The latest outward delivery that failed for good (e.g. a mail address refused).
    delivery_problem: str | None = Field(default=None, max_length=500)
    # The platforms' own ids of the latest messages stored on this ticket ("telegram:<chat>:
    # <message>", "slack:<channel>:<ts>", "api:<key name>:<Idempotency-Key>"): a resend
    # of one of them is stored nowhere again, whatever Redis remembers (a unique index).
    inbound_ids: tuple[str, ...] = ()
    # Keys of one-time actions done on this ticket, so a job that runs again skips them:
    # "<entry id>:<rule>" for each flow rule that fired, "broadcast:<id>" for each reply an
    # incident sent to all its players.
    done_keys: tuple[str, ...] = ()
    incident: dict[str, Any] | None = None  # {"id", "number"} of the storm it belongs to
    # What the game's admin API said of the player's account (ticketcore.accounts.snapshot):
    # shown on the card, and `account.*` in flow conditions. None until it was asked.
    account: dict[str, Any] | None = None
    # The leads' alert while a ticket is escalated: when and by whom, who acknowledged
    # it, how often it was repeated (see TicketService.escalate / acknowledge).
    escalation: dict[str, Any] | None = None
    # The SLA clock (ticketcore.sla.SlaState as stored) and when it next needs a look.
    sla: dict[str, Any] | None = None
    sla_next_check: datetime | None = None


class MessagePage(Model):
    """Messages oldest-first; `before` pages back to older ones."""

    items: tuple[HistoryEntry, ...]
    before: int | None


def resolution_of(ticket: Ticket) -> int:
    """Names one resolution of a ticket: a reopened and re-resolved ticket asks anew."""
    assert ticket.resolved_at is not None
    return int(ticket.resolved_at.timestamp())
