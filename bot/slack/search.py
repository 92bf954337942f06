"""Search results as an ephemeral Slack message: each hit with its snippet and its card."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.refs import SLACK_CARD
from bot.slack.cards import PRIORITY_ICON, STATUS_ICON
from bot.slack.text import cut_escaped, escape
from bot.slack.views import card_link
from ticketcore.models import Ticket
from ticketcore.search.port import HIGHLIGHT, Hit

SEARCH_RESULTS = 10


def snippet_text(snippet: str) -> str:
    """The snippet escaped, its highlight marks made Slack bold."""
    start, end = HIGHLIGHT
    text = escape(snippet).replace(escape(start), "*").replace(escape(end), "*")
    return cut_escaped(text, 300)[0]


def search_results(query: str, found: list[tuple[Hit, Ticket]]) -> list[Block]:
    """`query` is already escaped."""
    if not found:
        return [SectionBlock(text=MarkdownTextObject(text=f":mag: Nothing found for `{query}`."))]
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=f":mag: `{query}`: best matches first")])
    ]
    for hit, ticket in found:
        subject = cut_escaped(ticket.subject, 120)[0]
        line = (
            f"*#{ticket.number}* · {subject}\n{STATUS_ICON[ticket.status]} {ticket.status} · "
            f"{PRIORITY_ICON[ticket.priority]} {ticket.priority} · {ticket.channel}"
        )
        if hit.snippet:
            line += f"\n> {snippet_text(hit.snippet)}"
        link = card_link(ticket.refs.get(SLACK_CARD))
        accessory = (
            ButtonElement(text="Open card", url=link, action_id=f"search.open.{ticket.number}")
            if link
            else None
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=line), accessory=accessory))
    return blocks
