"""The leads' escalation alert: what happened to which ticket, and buttons to act on it.

An alert stays until a lead acknowledges it; until then it is posted again at intervals
(each repeat is a new message, so it notifies again). Acknowledged, it says who took it.
"""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
    UserSelectElement,
)

from bot.slack.cards import PRIORITY_ICON, STATUS_ICON, TAKE, age, mention
from bot.slack.text import FALLBACK_TEXT, cut_escaped, escape
from bot.slack.views import card_link
from ticketcore.events import Event
from ticketcore.models import Ticket

ACKNOWLEDGE, REASSIGN = "alert.ack", "alert.reassign"
ACTIONS_BLOCK = "alert.actions."


def alert_text(ticket: Ticket, headline: str) -> str:
    """The notification line (escaped: a subject cannot ping anyone)."""
    return cut_escaped(f"{headline}: #{ticket.number} · {ticket.subject}", FALLBACK_TEXT)[0]


def alert_blocks(
    ticket: Ticket, *, headline: str, card_ref: str | None, now: datetime
) -> list[Block]:
    """`headline` is ours (who escalated, why, which repeat); the ticket's text is escaped."""
    escalation = ticket.escalation or {}
    subject = cut_escaped(ticket.subject, 200)[0]
    link = card_link(card_ref)
    where = f" · <{link}|open the card>" if link else ""
    reason = escalation.get("reason")
    lines = [
        f":rotating_light: *{headline}*",
        f"*#{ticket.number}* · {subject}{where}",
        f"{STATUS_ICON[ticket.status]} {ticket.status} · {PRIORITY_ICON[ticket.priority]} "
        f"{ticket.priority} · {ticket.channel} · assignee {mention(ticket.assignee)} · "
        f"opened {age(ticket.created_at, now)} ago",
    ]
    if reason:
        lines.append(f"> {cut_escaped(str(reason), 500)[0]}")
    blocks: list[Block] = [
        SectionBlock(block_id="alert.summary", text=MarkdownTextObject(text="\n".join(lines)))
    ]
    acked_by = escalation.get("acked_by")
    if acked_by:
        acked_at = escalation.get("acked_at")
        # Slack shows the time in each reader's own time zone.
        when = (
            f" at <!date^{int(acked_at.timestamp())}^{{time}}|{acked_at:%H:%M} UTC>"
            if isinstance(acked_at, datetime)
            else ""
        )
        blocks.append(
            ContextBlock(
                block_id="alert.acked",
                elements=[
                    MarkdownTextObject(
                        text=f":white_check_mark: Acknowledged by {mention(acked_by)}{when}"
                    )
                ],
            )
        )
    number = str(ticket.number)
    buttons = (
        []
        if acked_by
        else [
            ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE, value=number, style="primary")
        ]
    )
    blocks.append(
        ActionsBlock(
            block_id=f"{ACTIONS_BLOCK}{number}",  # a user select has no value: the number
            elements=[
                *buttons,
                ButtonElement(text="Take", action_id=TAKE, value=number),
                UserSelectElement(action_id=REASSIGN, placeholder=f"Reassign #{number}"),
            ],
        )
    )
    return blocks


def headline_for(event: str, ticket: Ticket, data: dict[str, object], who: str) -> str:
    """What the alert says happened, from the history entry that raised it."""
    if event == Event.ESCALATION_REPEATED:
        return f"Still not acknowledged (reminder {data.get('repeat')} of {data.get('of')})"
    if event == Event.ESCALATION_ACKNOWLEDGED:
        return "Escalation acknowledged"
    return f"Escalated by {who} ({escape(str(ticket.priority))})"
