"""The incident card: one message for a whole storm, in triage and in the leads' channel,
updated in place as tickets join, with what leads do to all of them at once."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.slack.cards import age
from bot.slack.text import FALLBACK_TEXT, cut_escaped, escape
from ticketcore.incidents import RESOLVED, Incident

REPLY_ALL, RESOLVE_ALL = "incident.reply_all", "incident.resolve_all"
REPLY_ALL_VIEW = "incident.reply_all.view"
REPLY_BLOCK, REPLY_INPUT = "incident.reply", "text"


def incident_text(incident: Incident, count: int) -> str:
    title = cut_escaped(incident.title, 150)[0]
    return cut_escaped(f"Incident #{incident.number}: {count} tickets · {title}", FALLBACK_TEXT)[0]


def incident_blocks(
    incident: Incident, *, count: int, still_open: int, now: datetime
) -> list[Block]:
    number = str(incident.number)
    title = cut_escaped(incident.title, 200)[0]
    since = age(incident.started_at, now)
    queue = escape(incident.queue or "no queue")
    resolved = incident.status == RESOLVED
    icon = ":white_check_mark:" if resolved else ":rotating_light:"
    lines = [
        f"{icon} *Incident #{number}* · {count} similar tickets in {since} · queue {queue}",
        f"First report: {title}",
        f"{still_open} still open" + (" · resolved" if resolved else ""),
    ]
    blocks: list[Block] = [
        SectionBlock(block_id="incident.summary", text=MarkdownTextObject(text="\n".join(lines))),
        ContextBlock(
            block_id="incident.note",
            elements=[
                MarkdownTextObject(
                    text="New tickets of this storm join here instead of posting cards of "
                    "their own; each keeps its history."
                )
            ],
        ),
    ]
    if not resolved:
        blocks.append(
            ActionsBlock(
                block_id="incident.actions",
                elements=[
                    ButtonElement(
                        text="Reply to all", action_id=REPLY_ALL, value=number, style="primary"
                    ),
                    ButtonElement(
                        text="Resolve all", action_id=RESOLVE_ALL, value=number, style="danger"
                    ),
                ],
            )
        )
    return blocks


def reply_all_view(number: int, count: int) -> View:
    """One answer for every player of the incident, each on their own channel."""
    return View(
        type="modal",
        callback_id=REPLY_ALL_VIEW,
        private_metadata=str(number),
        title=PlainTextObject(text=f"Reply to incident #{number}"[:24]),
        submit=PlainTextObject(text="Send to all"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Every player of the {count} tickets gets this answer on their "
                    "channel, once."
                )
            ),
            InputBlock(
                block_id=REPLY_BLOCK,
                label=PlainTextObject(text="Answer"),
                element=PlainTextInputElement(
                    action_id=REPLY_INPUT, multiline=True, max_length=3000
                ),
            ),
        ],
    )
