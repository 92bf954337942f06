"""The original text of a player's mail, quoted history and signature included: what
agents can open when the message shows only the new words."""

from __future__ import annotations

from collections.abc import Mapping

from bot.email.html import html_to_text
from ticketcore.models import MAX_ORIGINAL

ORIGINAL_CUT_NOTE = "\n\n[… the mail was longer; the rest was not kept]"
# What is read of an HTML-only mail's markup: parsing costs per tag, and this keeps the
# parse of one mail made of nothing but tags near a third of a second.
MAX_ORIGINAL_HTML_READ = MAX_ORIGINAL


def original_text(fields: Mapping[str, str], shown: str) -> str | None:
    """Mailgun's `body-plain`, else the whole HTML as text, cut to MAX_ORIGINAL with a
    note; None when there is none or it says no more than `shown`, the message's text."""
    plain = fields.get("body-plain", "")[: MAX_ORIGINAL + 1]
    if plain.strip():
        text = plain.strip()
    else:
        html = (fields.get("body-html") or "")[:MAX_ORIGINAL_HTML_READ]
        text = html_to_text(html, drop_quotes=False) if html.strip() else ""
    if not text or text.split() == shown.split():  # only line ends or spacing differ
        return None
    if len(text) > MAX_ORIGINAL:
        text = text[: MAX_ORIGINAL - len(ORIGINAL_CUT_NOTE)] + ORIGINAL_CUT_NOTE
    return text
