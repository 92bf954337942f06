"""API keys with a name and scopes, read from `API_KEYS` and checked in constant time.

The setting holds entries separated by `;`, each `name:scope,scope:KEY`, for example
`game:intake,links:KEY1;dashboard:read:KEY2`. The older form, bare keys separated by `,`,
still reads: each key has every scope and is named `api-key-1`, `api-key-2`, ...
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Scope(StrEnum):
    INTAKE = "intake"  # open tickets and add messages as players
    READ = "read"  # read tickets, search them, read the KPI report
    LINKS = "links"  # mint deep links that open the support bot as a player
    MANAGE = "manage"  # change a ticket's status, priority, assignee, queue or tags


ALL_SCOPES = frozenset(Scope)
MIN_KEY_LENGTH = 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
FORMAT_HINT = (
    "write entries as name:scope,scope:KEY separated by ';' "
    f"(scopes: {', '.join(Scope)}), e.g. game:intake,links:KEY1;dashboard:read:KEY2"
)


class ApiKeyError(ValueError):
    """API_KEYS cannot be read; the message says which entry and why."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[Scope]
    secret: str = field(repr=False)

    def matches(self, given: str) -> bool:
        """True when `given` is this key, compared in constant time."""
        return hmac.compare_digest(given.encode(), self.secret.encode())


def is_unnamed_form(text: str) -> bool:
    """True for the older form of bare keys, which carry no names or scopes."""
    return ":" not in text


def parse_api_keys(text: str) -> list[ApiKey]:
    """Every key of the setting, refusing malformed entries, unknown scopes, short keys."""
    if is_unnamed_form(text):
        secrets = [k.strip() for k in text.split(",") if k.strip()]
        keys = unnamed_keys(secrets)
    else:
        entries = [e.strip() for e in text.split(";") if e.strip()]
        keys = [parse_entry(entry, index) for index, entry in enumerate(entries, 1)]
    check_distinct(keys)
    for key in keys:
        if len(key.secret) < MIN_KEY_LENGTH:
            raise ApiKeyError(
                f"the key of {key.name!r} is shorter than {MIN_KEY_LENGTH} characters"
            )
    return keys


def parse_entry(entry: str, index: int) -> ApiKey:
    """One `name:scope,scope:KEY` entry (the key is everything after the second `:`)."""
    parts = entry.split(":", 2)
    if len(parts) != 3:
        raise ApiKeyError(f"entry {index} is not name:scopes:KEY; {FORMAT_HINT}")
    name, raw_scopes, secret = (part.strip() for part in parts)
    if not NAME.fullmatch(name):
        raise ApiKeyError(
            f"entry {index} has no usable name: use up to 32 letters, digits, '.', '_' or '-'"
        )
    return ApiKey(name, to_scopes(raw_scopes.split(","), name), secret)


def to_scopes(raw: Iterable[str], name: str) -> frozenset[Scope]:
    """The scopes named, refusing an unknown one or none at all."""
    scopes: set[Scope] = set()
    for word in (w.strip() for w in raw):
        if word not in ALL_SCOPES:
            known = ", ".join(Scope)
            raise ApiKeyError(f"key {name!r} has an unknown scope {word!r} (known: {known})")
        scopes.add(Scope(word))
    return frozenset(scopes)


def unnamed_keys(secrets: Sequence[str]) -> list[ApiKey]:
    """Bare keys as keys with every scope, named by their place in the list."""
    return [ApiKey(f"api-key-{n}", ALL_SCOPES, secret) for n, secret in enumerate(secrets, 1)]


def check_distinct(keys: Sequence[ApiKey]) -> None:
    """Two keys of one name would share an actor; one key twice would have two names."""
    names = [key.name for key in keys]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise ApiKeyError(f"the name {twice!r} is given to more than one key")
    if len({key.secret for key in keys}) != len(keys):
        raise ApiKeyError("the same key is listed more than once")


def find_key(keys: Sequence[ApiKey], given: str) -> ApiKey | None:
    """The key `given` is, checking every key so the time does not tell which matched."""
    found = None
    for key in keys:
        if key.matches(given) and found is None:
            found = key
    return found
