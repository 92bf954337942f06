"""The player's game account on a ticket card: what the game's admin API said, or why not.

Labels and values come from the game (and its configuration), so both are escaped like any
untrusted text.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.slack.text import FIELD_TEXT, cut, label

MAX_FIELDS = 10  # Slack's limit of fields in one section


def account_blocks(account: dict[str, Any] | None) -> list[Block]:
    """The card's account lines: the configured fields, or a one-line reason."""
    if account is None:
        return []  # not asked (no game API configured, or no player id), or not yet
    status = account.get("status")
    if status == "ok":
        pairs = [pair for pair in account.get("fields", []) if len(pair) == 2][:MAX_FIELDS]
        if not pairs:
            return [_line("card.account", ":bust_in_silhouette: Account found; no fields to show.")]
        # label(): escaped, one line, no formatting marks, so the bold stays ours alone.
        fields = [
            MarkdownTextObject(text=cut(f"*{label(name)}*\n{label(value) or '—'}", FIELD_TEXT)[0])
            for name, value in pairs
        ]
        return [SectionBlock(block_id="card.account", fields=fields)]
    player = label(str(account.get("player_id", "")))
    if status == "unknown_player":
        return [_line("card.account", f":grey_question: The game has no player {player}.")]
    reason = label(str(account.get("reason") or "no answer"))
    return [
        _line(
            "card.account",
            f":warning: Account unavailable ({reason}); asked again when the player writes.",
        )
    ]


def _line(block_id: str, text: str) -> ContextBlock:
    return ContextBlock(block_id=block_id, elements=[MarkdownTextObject(text=text)])
