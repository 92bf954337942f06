"""Untrusted text made safe for Slack: escaped for mrkdwn and cut within Block Kit limits."""

from __future__ import annotations

SECTION_TEXT = 3000  # a section's text
FIELD_TEXT = 2000  # one section field
HEADER_TEXT = 150
BUTTON_TEXT = 75
OPTION_TEXT = 75
FALLBACK_TEXT = 3000  # the notification text beside blocks (Slack truncates past 40,000)


def escape(text: str) -> str:
    """Escape the only three characters mrkdwn treats specially, so no `<!channel>`, `<@U…>`
    or `<url|label>` in player text can ping anyone or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int, note: str = "…") -> tuple[str, int]:
    """`text` shortened to fit `limit` characters with `note` appended; also how many
    characters were dropped (0 when it fitted)."""
    if len(text) <= limit:
        return text, 0
    keep = max(0, limit - len(note))
    return text[:keep] + note, len(text) - keep


def cut_escaped(text: str, limit: int, note: str = "…") -> tuple[str, int]:
    """Escape, then cut to `limit` measured after escaping, never inside an entity."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped, 0
    budget = max(0, limit - len(note))
    low, high = 0, min(len(text), budget)
    while low < high:  # the longest raw prefix whose escaped form fits the budget
        middle = (low + high + 1) // 2
        if len(escape(text[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    return escape(text[:low]) + note, len(text) - low


def one_line(text: str) -> str:
    return " ".join(text.split())


_FORMATTING = str.maketrans("", "", "*_~`")


def label(text: str) -> str:
    """A short untrusted name for mrkdwn: escaped, on one line, with no formatting marks."""
    return escape(one_line(text)).translate(_FORMATTING)
