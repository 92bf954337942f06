"""What both search adapters make of a ticket alike, so they find the same things: the
keyword values (normalised one way) and the text snippets are cut from."""

from __future__ import annotations

from ticketcore.search.port import IndexedTicket

LANGUAGES = {"en": "english", "ru": "russian"}  # a stemmed copy of each text per language
FILTER_TO_FIELD = {"player": "player_id", "tag": "tags"}  # the others keep their name
SNIPPET_SOURCE_CAP = 4000
SNIPPET_CHARS = 200


def keyword(field: str, value: str) -> str:
    """Keyword values are compared case-blind; a Telegram name with or without its `@`."""
    value = value.strip().lower()
    return value.lstrip("@") if field == "telegram" else value


def keyword_fields(ticket: IndexedTicket) -> dict[str, str]:
    """The ticket's single-valued keyword fields that are set, normalised (tags aside)."""
    values = {
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "queue": ticket.queue,
        "assignee": ticket.assignee,
        "player_id": ticket.player_id,
        "email": ticket.email,
        "telegram": ticket.telegram_username,
    }
    return {field: keyword(field, value) for field, value in values.items() if value}


def snippet_source(ticket: IndexedTicket) -> str:
    """Snippets are cut from the subject and what the player wrote: never a note or reply."""
    return "\n".join((ticket.subject, *ticket.player_texts))[:SNIPPET_SOURCE_CAP]
