"""The ticket card and thread messages, as pure functions of a ticket: no client, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.refs import TELEGRAM_BLOCKED
from bot.slack.account import account_blocks
from bot.slack.text import (
    FALLBACK_TEXT,
    HEADER_TEXT,
    SECTION_TEXT,
    cut,
    cut_escaped,
    escape,
    label,
)
from ticketcore.lifecycle import DONE_STATUSES, Status
from ticketcore.models import Attachment, HistoryEntry, MessageKind, Priority, Ticket
from ticketcore.sla import SlaState, summary

TAKE, REPLY, NOTE, RESOLVE, ESCALATE = (
    "ticket.take",
    "ticket.reply",
    "ticket.note",
    "ticket.resolve",
    "ticket.escalate",
)
SET_STATUS, SET_PRIORITY = "ticket.status", "ticket.priority"
PLAYER = "ticket.player"
ORIGINAL = "message.original"  # a thread message's button: the mail as it arrived

STATUS_ICON = {
    Status.NEW: ":new:",
    Status.INPROGRESS: ":hammer_and_wrench:",
    Status.WAITING: ":hourglass_flowing_sand:",
    Status.PENDING: ":double_vertical_bar:",
    Status.ANSWERED: ":speech_balloon:",
    Status.RESOLVED: ":white_check_mark:",
    Status.CLOSED: ":lock:",
}
PRIORITY_ICON = {
    Priority.LOW: ":small_blue_diamond:",
    Priority.NORMAL: ":white_small_square:",
    Priority.HIGH: ":small_orange_diamond:",
    Priority.URGENT: ":rotating_light:",
}
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
MAX_COPIED_FILE = 20 * 1024 * 1024  # larger files a bot cannot download from Telegram
# A long message goes into the thread as several sections, up to this many characters.
MAX_THREAD_TEXT = 4 * SECTION_TEXT


@dataclass(frozen=True)
class CardStyle:
    """Deployment details a card shows: where the game's admin tool lives."""

    admin_url: str | None = None  # a template with {player_id}


def age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return "just now"


SLA_NAMES = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
}
SLA_ICON = {"due": ":stopwatch:", "paused": ":double_vertical_bar:", "breached": ":fire:"}


def when(moment: datetime) -> str:
    """A moment as each reader's own Slack shows it ("today 14:05", in their time zone).
    It stays true without redrawing the card, where "3 h ago" would go stale: a card is
    redrawn only when what it shows changes, and Slack allows one redraw a second."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def sla_text(ticket: Ticket, now: datetime) -> str | None:
    """The SLA targets still open, most urgent first: when each is due, or was."""
    if not ticket.sla:
        return None
    state = SlaState.model_validate(ticket.sla)
    parts = []
    for view in sorted(summary(state, now), key=lambda v: v.due_at):
        if view.status == "met":
            continue
        name = SLA_NAMES.get(view.name, view.name)
        if view.status == "breached":
            text = f"{name} overdue since {when(view.due_at)}"
        elif view.status == "paused":  # the clock stands still: what is left stays true
            text = f"{name} paused ({age(now - view.remaining, now)} left)"
        else:
            text = f"{name} due {when(view.due_at)}"
        parts.append(f"{SLA_ICON[view.status]} {text}")
    return "SLA: " + " · ".join(parts) if parts else None


def mention(user_id: str | None) -> str:
    """A Slack user mention for ids we set ourselves; anything else is shown inert."""
    if user_id is None:
        return "unassigned"
    return f"<@{user_id}>" if SLACK_USER.match(user_id) else escape(user_id)


def player_label(ticket: Ticket, style: CardStyle) -> str:
    player = ticket.player
    if player.player_id is None:
        telegram = f"telegram {player.telegram_user_id}" if player.telegram_user_id else ""
        return label(player.email or telegram) or "unknown"
    name = label(player.player_id)
    if style.admin_url:
        url = style.admin_url.replace("{player_id}", quote(player.player_id, safe=""))
        return f"<{escape(url)}|{name}>"
    return name


def title(ticket: Ticket) -> str:
    return cut(f"#{ticket.number} · {ticket.subject}", HEADER_TEXT)[0]


def card_text(ticket: Ticket) -> str:
    """The notification text beside the blocks: escaped, so it cannot ping either."""
    return cut_escaped(f"#{ticket.number} · {ticket.status} · {ticket.subject}", FALLBACK_TEXT)[0]


def card_digest(text: str, blocks: list[Block]) -> str:
    """What a card shows, as a short digest: two renderings with equal digests look alike.
    The card holds no clock text (see `when`), so only a change of the ticket alters it."""
    body = json.dumps([text, [b.to_dict() for b in blocks]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def ticket_card(
    ticket: Ticket, *, first_message: str, now: datetime, style: CardStyle = CardStyle()
) -> list[Block]:
    """The card in the triage channel; resolved and closed tickets collapse to one line."""
    if ticket.status in DONE_STATUSES:
        return [summary_line(ticket, now)]
    tags = " ".join(f"`{escape(t).replace('`', '')}`" for t in ticket.tags) or "—"
    fields = [
        f"*Status*\n{STATUS_ICON[ticket.status]} {ticket.status}",
        f"*Priority*\n{PRIORITY_ICON[ticket.priority]} {ticket.priority}",
        f"*Channel*\n{ticket.channel}",
        f"*Player*\n{player_label(ticket, style)}",
        f"*Language*\n{label(ticket.player.language or '—')}",
        f"*Assignee*\n{mention(ticket.assignee)}",
        f"*Tags*\n{tags}",
        f"*Opened*\n{when(ticket.created_at)}",
    ]
    message, dropped = cut(first_message, SECTION_TEXT, "…")
    blocks: list[Block] = [
        HeaderBlock(block_id="card.title", text=PlainTextObject(text=title(ticket), emoji=False)),
        SectionBlock(block_id="card.fields", fields=[MarkdownTextObject(text=f) for f in fields]),
        *account_blocks(ticket.account),
        SectionBlock(
            block_id="card.message", text=PlainTextObject(text=message or " ", emoji=False)
        ),
    ]
    if not ticket.sender_verified:
        unverified = (
            ":warning: *Unverified sender*: the mail provider could not confirm the From "
            "address, so this may not be its owner; no player record is linked."
        )
        blocks.append(
            ContextBlock(block_id="card.unverified", elements=[MarkdownTextObject(text=unverified)])
        )
    if ticket.refs.get(TELEGRAM_BLOCKED):
        blocked = ":no_entry: The player blocked the bot: replies cannot reach them on Telegram."
        blocks.append(
            ContextBlock(block_id="card.blocked", elements=[MarkdownTextObject(text=blocked)])
        )
    sla_line = sla_text(ticket, now)
    if sla_line:
        blocks.append(
            ContextBlock(block_id="card.sla", elements=[MarkdownTextObject(text=sla_line)])
        )
    if ticket.delivery_problem:
        problem = cut_escaped(ticket.delivery_problem, 300)[0]
        blocks.append(
            ContextBlock(
                block_id="card.delivery",
                elements=[MarkdownTextObject(text=f":warning: Not delivered: {problem}")],
            )
        )
    if dropped:
        blocks.append(
            ContextBlock(
                block_id="card.cut",
                elements=[
                    MarkdownTextObject(
                        text=f"_Message cut: {dropped:,} more characters in the thread._"
                    )
                ],
            )
        )
    blocks.append(card_actions(ticket))
    return blocks


def summary_line(ticket: Ticket, now: datetime) -> SectionBlock:
    since = ticket.closed_at or ticket.resolved_at or ticket.updated_at
    subject = cut_escaped(ticket.subject, 120)[0]
    csat = f" · CSAT {'⭐' * ticket.csat.score}" if ticket.csat else ""
    text = (
        f"{STATUS_ICON[ticket.status]} *#{ticket.number}* · {subject} — {ticket.status}"
        f" {when(since)} · {mention(ticket.assignee)}{csat}"
    )
    return SectionBlock(block_id="card.summary", text=MarkdownTextObject(text=text))


def card_actions(ticket: Ticket) -> ActionsBlock:
    number = str(ticket.number)
    take_style = "primary" if ticket.assignee is None else None
    return ActionsBlock(
        block_id="card.actions",
        elements=[
            ButtonElement(text="Take", action_id=TAKE, value=number, style=take_style),
            ButtonElement(text="Reply", action_id=REPLY, value=number),
            ButtonElement(text="Note", action_id=NOTE, value=number),
            ButtonElement(text="Resolve", action_id=RESOLVE, value=number),
            ButtonElement(text="Escalate", action_id=ESCALATE, value=number, style="danger"),
            ButtonElement(text="Player", action_id=PLAYER, value=number),
            select(SET_STATUS, "Status", [s.value for s in Status], ticket.status, number),
            select(SET_PRIORITY, "Priority", [p.value for p in Priority], ticket.priority, number),
        ],
    )


def select(
    action_id: str, placeholder: str, values: list[str], current: str, number: str
) -> StaticSelectElement:
    # The option value carries the ticket number, since a select has no value of its own.
    options = [Option(text=PlainTextObject(text=v), value=f"{number}:{v}") for v in values]
    initial = next(o for o in options if o.value == f"{number}:{current}")
    return StaticSelectElement(
        action_id=action_id, placeholder=placeholder, options=options, initial_option=initial
    )


# ------------------------------------------------------------------ thread messages

WHO = {MessageKind.PLAYER: "Player", MessageKind.REPLY: "Reply", MessageKind.NOTE: "Note"}
ICON = {
    MessageKind.PLAYER: ":bust_in_silhouette:",
    MessageKind.REPLY: ":outbox_tray:",
    MessageKind.NOTE: ":memo:",
}


def attachment_note(attachment: Attachment) -> str:
    note = f"_Attachment: {label(attachment.name)} ({attachment.size:,} bytes)_"
    if attachment.size > MAX_COPIED_FILE:
        note += " _too large to copy into Slack: see it in the player's chat_"
    return note


def thread_message(entry: HistoryEntry) -> tuple[str, list[Block]]:
    """One conversation message for the card's thread: who and when, then the text as
    plain text (never parsed for mentions or formatting), split over sections if long."""
    assert entry.message is not None
    kind = entry.message.kind
    author = entry.actor.name or entry.actor.id
    who = mention(entry.actor.id) if entry.actor.kind == "agent" else label(author)
    fallback_date = f"{entry.at:%Y-%m-%d %H:%M} UTC"
    when = f"<!date^{int(entry.at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback_date}>"
    edited = " (edited, the earlier text is above)" if entry.edit_of else ""
    heading = f"{ICON[kind]} *{WHO[kind]}*{edited} · {who} · {when}"
    if kind is MessageKind.NOTE:
        heading += " · _internal, the player does not see this_"
    text, dropped = cut(entry.message.text, MAX_THREAD_TEXT, "…")
    chunks = [text[i : i + SECTION_TEXT] for i in range(0, len(text), SECTION_TEXT)] or [" "]
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=heading)])]
    blocks += [SectionBlock(text=PlainTextObject(text=c, emoji=False)) for c in chunks]
    extras = (
        [f"_{dropped:,} more characters not shown; the full text is in the ticket._"]
        if dropped
        else []
    )
    extras += [attachment_note(a) for a in entry.message.attachments]
    if extras:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=e) for e in extras[:10]]))
    if entry.message.original_ref:
        blocks.append(original_button(entry.number, entry.message.original_ref))
    fallback = cut_escaped(f"{WHO[kind]}: {entry.message.text}", FALLBACK_TEXT)[0]
    return fallback, blocks


def original_button(number: int, original_ref: str) -> ActionsBlock:
    """Opens the mail as it arrived, quoted history and signature included."""
    return ActionsBlock(
        elements=[
            ButtonElement(
                text="Original mail", action_id=ORIGINAL, value=f"{number}:{original_ref}"
            )
        ]
    )
