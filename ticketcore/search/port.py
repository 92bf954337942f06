"""The search port: what the rest of the helpdesk sees of any search engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ticketcore.search.ast import Query


@dataclass(frozen=True)
class IndexedTicket:
    """One ticket as the index holds it (a whole document per ticket: a change to the
    ticket replaces it)."""

    id: str
    number: int
    subject: str
    status: str
    priority: str
    channel: str
    queue: str | None
    assignee: str | None
    tags: tuple[str, ...]
    player_id: str | None
    email: str | None
    telegram_username: str | None
    language: str | None
    created_at: datetime
    updated_at: datetime
    player_texts: tuple[str, ...]  # what the player wrote
    replies: tuple[str, ...]  # what agents answered
    notes: tuple[str, ...]  # internal notes: found only by agents


@dataclass(frozen=True)
class Viewer:
    """Who searches: notes are searched only for agents; `user_id` is what `assignee:@me`
    means."""

    is_agent: bool
    user_id: str | None = None


@dataclass(frozen=True)
class Hit:
    number: int
    score: float
    snippet: str  # plain text; the matched words wrapped in HIGHLIGHT marks


@dataclass(frozen=True)
class Page:
    hits: tuple[Hit, ...]
    cursor: str | None  # pass back for the next page; None: no more
    total: int | None = None  # when the engine knows it cheaply


HIGHLIGHT = ("\u2068*", "*\u2069")  # a Slack-bold mark, isolated so it cannot join other text


class SearchIndex(Protocol):
    def upsert(self, tickets: list[IndexedTicket]) -> None:
        """Add or replace these tickets (bulk)."""
        ...

    def delete(self, ticket_ids: list[str]) -> None: ...

    def search(
        self, query: Query, *, viewer: Viewer, limit: int = 20, cursor: str | None = None
    ) -> Page:
        """Relevance first, then the newest; paged by an opaque cursor with no ceiling on
        how deep it goes (no 10,000-hit window)."""
        ...

    def refresh(self) -> None:
        """Make every write so far visible to searches (tests and reindex)."""
        ...

    def health(self) -> str:
        """A word on the live index for /healthz (e.g. how many tickets it holds); raises
        when it cannot be reached."""
        ...


class Generations(Protocol):
    """An index that can be rebuilt beside the live one and swapped in (see `rebuild.py`).

    A generation is one complete index (an Elasticsearch index behind the alias, an
    embedded index directory); exactly one is live, and searches and `upsert` use it.
    """

    def live_generation(self) -> str: ...

    def new_generation(self) -> str:
        """Create an empty generation with the current schema; its name."""
        ...

    def has_generation(self, name: str) -> bool:
        """Whether `name` exists and has the current schema (a rebuild may resume into it)."""
        ...

    def write_generation(self, name: str, tickets: list[IndexedTicket]) -> None:
        """Add or replace these tickets in `name`; durable when it returns."""
        ...

    def promote(self, name: str) -> None:
        """Make `name` the live generation, atomically, for every process."""
        ...

    def finish_generation(self, name: str) -> None:
        """Release what writing `name` held (the embedded index's one writer)."""
        ...

    def drop_generations(self, keep: set[str]) -> list[str]:
        """Delete every generation not in `keep`; the names dropped."""
        ...


class RebuildableIndex(SearchIndex, Generations, Protocol):
    is_new: bool  # the index was created empty at start-up: `helpdesk reindex` fills it

    """What both adapters are: searched and written live, and rebuilt beside."""
