"""The query language agents type (`/ticket search ...`, `GET /api/v1/tickets?q=`), read into a
Query.

Grammar, by token (tokens are split by whitespace, control characters and zero-width spaces):
- `word`: one `Words` term per word (never grouped), so each word can be negated on its own
  and adapters need not split again; words are kept as typed (NFC), the index folds case.
- `"exact phrase"`, also `“ ”`, `„ “` and `« »`: a `Phrase`, inner whitespace collapsed. A
  quote starts a phrase wherever it stands (`foo"bar baz"` is `foo` then `"bar baz"`); there
  is no escaping inside quotes.
- `name:value` or `name:"quoted value"`, `name` any letters: a `Filter` for FILTER_FIELDS, a
  `DateFilter` for `created`/`updated`, an error otherwise (pasted `Error: 503` must be
  quoted). `scheme://...` is a word, so pasted links still search.
- `-` right before any of the above negates it; a query of only negations is an error.
- `#1234`: `Query.number`; at most one, never negated. `#` with anything else is a word.
Blank text is the empty Query (the caller decides what that shows). Errors carry the 0-based
position in the original text.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal

from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Priority
from ticketcore.search.ast import (
    FILTER_FIELDS,
    Comparison,
    DateFilter,
    Filter,
    Phrase,
    Query,
    QueryError,
    Term,
    Words,
)

MAX_QUERY = 500
MAX_NUMBER = 2**63 - 1  # what MongoDB stores as a long
MAX_RELATIVE_DAYS = 36_500

DateField = Literal["created", "updated"]
DATE_FIELDS: dict[str, DateField] = {"created": "created", "updated": "updated"}
ALL_FIELDS = (*FILTER_FIELDS, *DATE_FIELDS)
OPENING_QUOTES = '"“”„«'
CLOSING_QUOTES = '"“”»'
# Invisible characters that Slack and word processors paste between words.
INVISIBLE_SEPARATORS = "\u200b\u2060\ufeff"

_FIELD = re.compile(r"([^\W\d_]+):(.*)", re.DOTALL)
_NUMBER = re.compile(r"#([0-9]+)")
_ISO_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_RELATIVE = re.compile(r"([0-9]{1,6})([dw])", re.IGNORECASE)
_OPERATORS: tuple[Comparison, ...] = (">=", "<=", ">", "<", "=")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_MENTION = re.compile(r"<@([A-Za-z0-9]+)(?:\|[^>]*)?>")
_TELEGRAM_NAME = re.compile(r"[a-z0-9_]{1,64}")

_EXAMPLES = {
    "status": "status:new",
    "player": "player:12345",
    "email": "email:player@example.com",
    "tag": "tag:refund",
    "queue": "queue:ru",
    "assignee": "assignee:@me",
    "channel": "channel:telegram",
    "priority": "priority:high",
    "telegram": "telegram:@nick",
    "created": "created:>2026-11-01",
    "updated": "updated:>2026-11-01",
}
_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "status": ("statuses", tuple(Status)),
    "channel": ("channels", tuple(Channel)),
    "priority": ("priorities", tuple(Priority)),
}


def parse(text: str, *, today: date | None = None) -> Query:
    """Read an agent's query; `today` anchors relative dates (`created:>7d`), which are
    refused without it. Raises only QueryError."""
    if len(text) > MAX_QUERY:
        raise QueryError(
            f"the query is {len(text)} characters; the limit is {MAX_QUERY}. "
            "Keep the words that matter most.",
            MAX_QUERY,
        )
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cs":  # a lone surrogate cannot be stored or sent on
            raise QueryError(
                f"character {index + 1} cannot be read; retype the query by hand", index
            )
    return _Parser(text, today).run()


def _is_separator(char: str) -> bool:
    return char.isspace() or char in INVISIBLE_SEPARATORS or unicodedata.category(char) == "Cc"


def _clean(value: str) -> str:
    """NFC, so a pasted decomposed `й` matches a typed one; whitespace runs become one space."""
    return " ".join(unicodedata.normalize("NFC", value).split())


class _Parser:
    def __init__(self, text: str, today: date | None) -> None:
        self.text = text
        self.today = today
        self.terms: list[Term] = []
        self.number: int | None = None

    def run(self) -> Query:
        text, i = self.text, 0
        while i < len(text):
            if _is_separator(text[i]):
                i += 1
            else:
                i = self._term(i)
        if self.terms and self.number is None and all(t.negated for t in self.terms):
            raise QueryError(
                "say what to look for: add a word or a filter next to what you leave out, "
                "like refund -test",
                0,
            )
        return Query(terms=tuple(self.terms), number=self.number, source=text)

    def _term(self, start: int) -> int:
        """Read the term at `start` into self; return where the next one may begin."""
        text, i = self.text, start
        negated = text[i] == "-"
        if negated:
            i += 1
            if i == len(text) or _is_separator(text[i]):
                raise QueryError(
                    "a lone '-' leaves nothing out; write it right before what to leave out: "
                    '-refund, -"test ticket" or -tag:vip',
                    start,
                )
            if text[i] == "-":
                raise QueryError("write one '-' right before a word to leave it out: -refund", i)
        if text[i] in OPENING_QUOTES:
            phrase, end = self._quoted(i)
            self.terms.append(Phrase(phrase, negated=negated))
            return end
        end = i
        while end < len(text) and not _is_separator(text[end]) and text[end] not in OPENING_QUOTES:
            end += 1
        token = text[i:end]
        field = _FIELD.fullmatch(token)
        if field is not None and not field.group(2).startswith("/"):
            value = field.group(2)
            if not value and end < len(text) and text[end] in OPENING_QUOTES:
                value, end = self._quoted(end)
            self.terms.append(_filter(field.group(1), value, negated, start, self.today))
            return end
        number = _NUMBER.fullmatch(token)
        if number is not None:
            self._set_number(number.group(1), negated, start)
            return end
        self.terms.append(Words(_clean(token), negated=negated))
        return end

    def _quoted(self, opening: int) -> tuple[str, int]:
        """The text between the quote at `opening` and the next closing quote, and the index
        after that."""
        text = self.text
        for close in range(opening + 1, len(text)):
            if text[close] in CLOSING_QUOTES:
                inside = _clean(text[opening + 1 : close])
                if not inside:
                    raise QueryError(
                        'empty quotes: put the words to find between them, like "error 503"',
                        opening,
                    )
                return inside, close + 1
        raise QueryError(
            f"the quote at character {opening + 1} is not closed; "
            'put a quote at each end: "exact phrase"',
            opening,
        )

    def _set_number(self, digits: str, negated: bool, start: int) -> None:
        if negated:
            raise QueryError(
                f"a ticket number cannot be left out; write #{digits} to open that ticket", start
            )
        if self.number is not None:
            raise QueryError(
                f"one ticket number at a time: write #{self.number} or #{digits}", start
            )
        number = int(digits)
        if not 0 < number <= MAX_NUMBER:
            raise QueryError(f"there is no ticket #{digits}; numbers start at #1", start)
        self.number = number


def _filter(name: str, raw: str, negated: bool, start: int, today: date | None) -> Term:
    field = name.lower()
    if field not in ALL_FIELDS:
        raise QueryError(_unknown_field(name, raw), start)
    value = _clean(raw)
    if not value:
        raise QueryError(f"{field}: needs a value, like {_EXAMPLES[field]}", start)
    date_field = DATE_FIELDS.get(field)
    if date_field is not None:
        op, day = _date_value(date_field, value, start, today)
        return DateFilter(date_field, op, day, negated=negated)
    return Filter(field, _NORMALISE[field](value, start), negated=negated)


def _unknown_field(name: str, raw: str) -> str:
    known = ", ".join(ALL_FIELDS)
    close = difflib.get_close_matches(name.lower(), ALL_FIELDS, n=1)
    if close:
        return f"unknown filter '{name}'; did you mean {close[0]}? filters: {known}"
    literal = _clean(f"{name}:{raw}")
    return (
        f"unknown filter '{name}'; filters: {known}. "
        f'To find the text itself, put it in quotes: "{literal}"'
    )


def _choice(field: str) -> Callable[[str, int], str]:
    plural, allowed = _CHOICES[field]

    def normalise(value: str, start: int) -> str:
        lowered = value.lower()
        if lowered in allowed:
            return lowered
        close = difflib.get_close_matches(lowered, allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise QueryError(f"unknown {field} '{value}'; {hint}{plural}: {', '.join(allowed)}", start)

    return normalise


def _email(value: str, start: int) -> str:
    lowered = value.lower()
    local, _, domain = lowered.partition("@")
    if not local or "." not in domain or " " in lowered:
        raise QueryError(
            f"'{value}' is not an email address; write email:player@example.com", start
        )
    return lowered


def _assignee(value: str, start: int) -> str:
    mention = _SLACK_MENTION.fullmatch(value)  # Slack escapes `@name` to `<@U0ABC|name>`
    user = mention.group(1) if mention else value.removeprefix("@")
    if user.lower() == "me":
        return "me"
    if _SLACK_USER.fullmatch(user.upper()):
        return user.upper()  # Slack ids are upper case; a lower-cased one is a typo
    raise QueryError(
        f"assignee:{value} is not a Slack user; write assignee:@me, @-mention the agent, "
        "or give the Slack user id: assignee:U0ABC",
        start,
    )


def _telegram(value: str, start: int) -> str:
    # Telegram usernames are case-insensitive; the index keeps them lower-cased.
    nick = value.removeprefix("@").lower()
    if not _TELEGRAM_NAME.fullmatch(nick):
        raise QueryError(f"'{value}' is not a Telegram username; write telegram:@nick", start)
    return nick


def _as_is(value: str, start: int) -> str:
    return value


_NORMALISE: dict[str, Callable[[str, int], str]] = {
    "status": _choice("status"),
    "channel": _choice("channel"),
    "priority": _choice("priority"),
    "email": _email,
    "assignee": _assignee,
    "telegram": _telegram,
    "tag": lambda value, start: value.lower(),  # tags are stored lower-cased
    "player": _as_is,
    "queue": _as_is,
}


def _date_value(field: str, value: str, start: int, today: date | None) -> tuple[Comparison, date]:
    op: Comparison = "="
    rest = value
    for candidate in _OPERATORS:
        if value.startswith(candidate):
            op, rest = candidate, value[len(candidate) :].strip()
            break
    bad = QueryError(f"bad date '{value}'; write {field}:>2026-11-01 or {field}:>7d", start)
    iso = _ISO_DAY.fullmatch(rest)
    if iso is not None:
        try:
            return op, date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            raise bad from None
    relative = _RELATIVE.fullmatch(rest)
    if relative is None:
        raise bad
    if today is None:
        raise QueryError(
            f"relative dates like {field}:>7d cannot be used here; "
            f"write a date: {field}:>2026-11-01",
            start,
        )
    days = int(relative.group(1)) * (7 if relative.group(2).lower() == "w" else 1)
    if days > MAX_RELATIVE_DAYS:
        raise bad
    try:
        return op, today - timedelta(days=days)
    except OverflowError:  # `today` near year 1
        raise bad from None
