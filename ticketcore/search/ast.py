"""The parsed query: what every search adapter translates, so the language is one thing.

`lost gems "error 503" -refund status:new tag:vip created:>2026-11-01 assignee:@me` becomes
a Query whose terms are all required (AND), each positive or negated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

# Fields a `name:value` filter may name, and what each matches in the index.
FILTER_FIELDS = (
    "status",
    "player",  # the game's player id
    "email",
    "tag",
    "queue",
    "assignee",  # a Slack user id, or "me" for whoever searches
    "channel",
    "priority",
    "telegram",  # the player's Telegram username
)
Comparison = Literal["=", ">", ">=", "<", "<="]


@dataclass(frozen=True)
class Words:
    """Free words: each must occur (stemmed, in any of the text fields)."""

    text: str
    negated: bool = False


@dataclass(frozen=True)
class Phrase:
    """An exact phrase, in quotes."""

    text: str
    negated: bool = False


@dataclass(frozen=True)
class Filter:
    """`field:value`: an exact (keyword) match."""

    field: str  # one of FILTER_FIELDS
    value: str
    negated: bool = False


@dataclass(frozen=True)
class DateFilter:
    """`created:>2026-11-01` (also `updated:`); `=` means that whole day."""

    field: Literal["created", "updated"]
    op: Comparison
    day: date
    negated: bool = False


Term = Words | Phrase | Filter | DateFilter


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...] = ()
    number: int | None = None  # `#1234`: jump straight to that ticket
    source: str = field(default="", compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.terms and self.number is None


class QueryError(ValueError):
    """A query we cannot read; the message says what to write instead, for agents."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position
