"""Modals (reply, note) and the App Home tab, as pure functions returning Slack views."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.slack.cards import PRIORITY_ICON, STATUS_ICON, age, title
from bot.slack.text import OPTION_TEXT, SECTION_TEXT, cut, cut_escaped
from ticketcore.lifecycle import Status
from ticketcore.macros import Macro
from ticketcore.models import Ticket

REPLY_VIEW, NOTE_VIEW = "reply_modal", "note_modal"
MACRO_PICKED = "reply.macro"
SHIFT_TOGGLE = "home.shift"
TEXT_INPUT = "text"
STATUS_INPUT = "status"
MAX_INPUT = 3000  # Slack's limit for a plain-text input
REPLY_STATUSES = (Status.ANSWERED, Status.WAITING, Status.RESOLVED)
MAX_HOME_TICKETS = 40
MAX_VIEW_BLOCKS = 100  # Slack's limit for a modal or the Home tab


def reply_text_block_id(revision: int) -> str:
    # A new block id per prefill: Slack keeps what was typed in a block id it has seen.
    return f"reply.text.{revision}"


def metadata(number: int, revision: int = 0) -> str:
    return json.dumps({"number": number, "revision": revision})


def reply_modal(
    ticket: Ticket,
    *,
    last_player_text: str | None,
    macros: Sequence[Macro],
    prefill: str = "",
    revision: int = 0,
) -> View:
    blocks: list[Block] = [
        SectionBlock(text=PlainTextObject(text=title(ticket), emoji=False)),
    ]
    if last_player_text:
        quoted = cut(last_player_text, 600)[0]
        blocks.append(ContextBlock(elements=[PlainTextObject(text=quoted, emoji=False)]))
    if macros:
        options = [
            Option(text=PlainTextObject(text=cut(m.title, OPTION_TEXT)[0]), value=m.name)
            for m in macros[:100]
        ]
        blocks.append(
            ActionsBlock(
                block_id=MACRO_PICKED,
                elements=[
                    StaticSelectElement(
                        action_id=MACRO_PICKED, placeholder="Canned response…", options=options
                    )
                ],
            )
        )
    blocks.append(
        InputBlock(
            block_id=reply_text_block_id(revision),
            label="Reply to the player",
            element=PlainTextInputElement(
                action_id=TEXT_INPUT,
                multiline=True,
                initial_value=prefill[:MAX_INPUT] or None,
                max_length=MAX_INPUT,
            ),
        )
    )
    status_options = [
        Option(text=PlainTextObject(text=f"Leave {s}"), value=s.value) for s in REPLY_STATUSES
    ]
    blocks.append(
        InputBlock(
            block_id=STATUS_INPUT,
            label="Then",
            element=StaticSelectElement(
                action_id=STATUS_INPUT, options=status_options, initial_option=status_options[0]
            ),
        )
    )
    return View(
        type="modal",
        callback_id=REPLY_VIEW,
        private_metadata=metadata(ticket.number, revision),
        title=PlainTextObject(text=f"Reply to #{ticket.number}"[:24]),
        submit=PlainTextObject(text="Send"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )


def note_modal(ticket: Ticket) -> View:
    return View(
        type="modal",
        callback_id=NOTE_VIEW,
        private_metadata=metadata(ticket.number),
        title=PlainTextObject(text=f"Note on #{ticket.number}"[:24]),
        submit=PlainTextObject(text="Add note"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=PlainTextObject(text=title(ticket), emoji=False)),
            InputBlock(
                block_id="note.text",
                label="Internal note (the player never sees it)",
                element=PlainTextInputElement(
                    action_id=TEXT_INPUT, multiline=True, max_length=MAX_INPUT
                ),
            ),
        ],
    )


ORIGINAL_INTRO = (
    "The mail as it arrived, with the quoted history and signature that the ticket's "
    "message leaves out."
)
ORIGINAL_MISSING = "The original of this mail was not kept."
ORIGINAL_CUT = "[… longer than a Slack modal shows]"


def original_modal(number: int, text: str | None) -> View:
    """The mail as it arrived, as plain text (never parsed for mentions or emoji), split
    over sections of Slack's size, within the blocks a modal may hold."""
    body = text or ""
    chunks = [body[i : i + SECTION_TEXT] for i in range(0, len(body), SECTION_TEXT)]
    chunks = [c for c in chunks if c.strip()]  # Slack refuses a blank section
    shown = chunks[: MAX_VIEW_BLOCKS - 2]
    intro = ORIGINAL_INTRO if chunks else ORIGINAL_MISSING
    blocks: list[Block] = [ContextBlock(elements=[PlainTextObject(text=intro, emoji=False)])]
    blocks += [SectionBlock(text=PlainTextObject(text=c, emoji=False)) for c in shown]
    if len(shown) < len(chunks):
        blocks.append(ContextBlock(elements=[PlainTextObject(text=ORIGINAL_CUT, emoji=False)]))
    return View(
        type="modal",
        title=PlainTextObject(text=f"Original mail #{number}"[:24]),
        close=PlainTextObject(text="Close"),
        blocks=blocks,
    )


def card_link(card_ref: str | None) -> str | None:
    """A link to the ticket's card, from its `channel:ts` reference."""
    if not card_ref:
        return None
    channel, _, ts = card_ref.partition(":")
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def home_view(
    *,
    user_id: str,
    mine: Sequence[tuple[Ticket, str | None]],
    counts: dict[Status, int],
    on_shift: bool,
    now: datetime,
) -> View:
    """An agent's Home tab: their open tickets, most urgent first, and the queue's shape."""
    shift_text = "You are on shift" if on_shift else "You are off shift"
    blocks: list[Block] = [
        HeaderBlock(text="Helpdesk"),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{shift_text}.* New tickets are assigned to agents on shift."
            ),
            accessory=ButtonElement(
                text="Go off shift" if on_shift else "Go on shift",
                action_id=SHIFT_TOGGLE,
                value="off" if on_shift else "on",
                style=None if on_shift else "primary",
            ),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=" · ".join(f"{STATUS_ICON[s]} {s}: *{counts.get(s, 0)}*" for s in Status)
                )
            ]
        ),
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=f"*Your open tickets ({len(mine)})*")),
    ]
    for ticket, card_ref in list(mine)[:MAX_HOME_TICKETS]:
        line = (
            f"{PRIORITY_ICON[ticket.priority]} *#{ticket.number}* · "
            f"{cut_escaped(ticket.subject, 150)[0]}\n{STATUS_ICON[ticket.status]} {ticket.status}"
            f" · {ticket.channel} · {age(ticket.created_at, now)} old"
        )
        link = card_link(card_ref)
        accessory = (
            ButtonElement(text="Open", url=link, action_id=f"home.open.{ticket.number}")
            if link
            else None
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=line), accessory=accessory))
    if not mine:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing assigned to you.")]))
    return View(type="home", blocks=blocks, private_metadata=json.dumps({"user": user_id}))


def refusal_view(kind: str, text: str) -> View:
    """The Home tab (`home`) or a modal (`modal`) of someone who may not see tickets."""
    blocks: list[Block] = [SectionBlock(text=PlainTextObject(text=text, emoji=False))]
    if kind == "home":
        return View(type="home", blocks=[HeaderBlock(text="Helpdesk"), *blocks])
    return View(type="modal", title=PlainTextObject(text="Helpdesk"), blocks=blocks)
