"""The Player modal: who the player is, their game account in full, and every ticket of
theirs on any channel. Everything in it comes from players or the game: all of it is
escaped and stripped of formatting marks."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.slack.account import MAX_FIELDS, account_blocks
from bot.slack.cards import STATUS_ICON
from bot.slack.text import FIELD_TEXT, HEADER_TEXT, cut, label
from ticketcore.accounts import AccountSummary, display_value
from ticketcore.models import Ticket

PLAYER_VIEW = "player_modal"
ADMIN_LINK = "player.admin"
MAX_ACCOUNT_FIELDS = 30  # three sections of ten
MAX_TICKETS = 20


def player_modal(
    ticket: Ticket,
    *,
    account: AccountSummary | None,
    tickets: Sequence[Ticket],
    admin_url: str | None,
) -> View:
    """`account`: the full answer when the lookup's cache still has it; otherwise the card's
    summary kept on the ticket is shown."""
    player = ticket.player
    name = player.player_id or player.email or player.display_name or "unknown player"
    who = [
        ("Player id", player.player_id),
        ("Email", player.email),
        ("Telegram", f"@{player.telegram_username}" if player.telegram_username else None),
        ("Language", player.language),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=cut(name, HEADER_TEXT)[0], emoji=False)),
        _fields("player.who", [(k, v) for k, v in who if v]) or _note("player.who", "No ids."),
    ]
    if admin_url and player.player_id:
        url = admin_url.replace("{player_id}", quote(player.player_id, safe=""))
        blocks.append(
            SectionBlock(
                block_id="player.admin",
                text=MarkdownTextObject(text="The player in the game's admin tool"),
                accessory=ButtonElement(text="Open", action_id=ADMIN_LINK, url=url),
            )
        )
    blocks += _account(ticket, account)
    blocks.append(DividerBlock())
    shown = list(tickets)[:MAX_TICKETS]
    blocks.append(_note("player.tickets", f"*Tickets* ({len(shown)}, newest first)"))
    blocks += [_ticket_line(t, current=t.number == ticket.number) for t in shown]
    return View(
        type="modal",
        callback_id=PLAYER_VIEW,
        title=PlainTextObject(text="Player"),
        close=PlainTextObject(text="Close"),
        blocks=blocks,
    )


def _account(ticket: Ticket, account: AccountSummary | None) -> list[Block]:
    if account is None or not account.is_ok:
        return account_blocks(ticket.account)
    pairs = list(account.fields)
    shown = {key.split(".")[0] for key in account.keys}
    for key, value in account.raw.items():  # the rest of what the game said, plainly
        text = display_value(value)
        if key not in shown and text is not None:
            pairs.append((key, text))
    pairs = pairs[:MAX_ACCOUNT_FIELDS]
    blocks: list[Block] = []
    for start in range(0, len(pairs), MAX_FIELDS):
        section = _fields(f"player.account.{start}", pairs[start : start + MAX_FIELDS])
        if section is not None:
            blocks.append(section)
    when = f"{account.fetched_at:%Y-%m-%d %H:%M} UTC"
    blocks.append(_context("player.account.when", f"From the game's admin API, {when}."))
    return blocks


def _fields(block_id: str, pairs: Sequence[tuple[str, str]]) -> SectionBlock | None:
    if not pairs:
        return None
    return SectionBlock(
        block_id=block_id,
        fields=[
            MarkdownTextObject(text=cut(f"*{label(k)}*\n{label(v) or '—'}", FIELD_TEXT)[0])
            for k, v in pairs
        ],
    )


def _ticket_line(ticket: Ticket, *, current: bool) -> ContextBlock:
    csat = f" · CSAT {'⭐' * ticket.csat.score}" if ticket.csat else ""
    subject = label(cut(ticket.subject, 120)[0])
    marker = " · _this ticket_" if current else ""
    text = (
        f"*#{ticket.number}* {subject} · {STATUS_ICON[ticket.status]} {ticket.status} · "
        f"{ticket.channel} · {ticket.created_at:%Y-%m-%d}{csat}{marker}"
    )
    return _context(f"player.ticket.{ticket.number}", text)


def _note(block_id: str, text: str) -> SectionBlock:
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=text))


def _context(block_id: str, text: str) -> ContextBlock:
    return ContextBlock(block_id=block_id, elements=[MarkdownTextObject(text=text)])
