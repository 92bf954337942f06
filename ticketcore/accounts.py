"""The player's game account as agents see it: which fields to show, and how to show them.

The game's admin API answers a JSON object per player. Which of its keys matter differs
per game, so they are configured as `key:Label` pairs; a dotted key reads a nested value.
`summarize` turns the answer into short display values in the configured order, and
`facts` gives the same keys as raw values for flow conditions (`account: {vip: true}`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from pydantic import Field

from ticketcore.models import Model

MAX_VALUE_LENGTH: Final = 100
ELLIPSIS: Final = "…"
EMPTY: Final = "—"  # shown for an empty string or list, so a card never has a blank value
MALFORMED_JSON: Final = "malformed JSON"
# A timestamp, not a bare date: "2024-03-01T12:30", with or without seconds and offset.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_MISSING: Final = object()


@dataclass(frozen=True)
class AccountField:
    """One account key to show, and the label agents see for it."""

    key: str
    label: str

    @property
    def path(self) -> tuple[str, ...]:
        """The key split at its dots: where the value sits in nested JSON."""
        return tuple(self.key.split("."))


DEFAULT_FIELDS: Final = (
    AccountField("level", "Level"),
    AccountField("vip", "VIP"),
    AccountField("payer_tier", "Payer tier"),
    AccountField("total_spend", "Total spend"),
    AccountField("country", "Country"),
    AccountField("platform", "Platform"),
    AccountField("server", "Server"),
    AccountField("registered_at", "Registered"),
    AccountField("last_login", "Last login"),
    AccountField("banned", "Banned"),
)
DEFAULT_LABELS: Final = {field.key: field.label for field in DEFAULT_FIELDS}


class AccountStatus(StrEnum):
    OK = "ok"
    UNKNOWN_PLAYER = "unknown_player"  # the game has no such player
    UNAVAILABLE = "unavailable"  # the game did not answer usefully; try again later


class AccountSummary(Model):
    """What the game said about one player, ready to show, at one moment."""

    player_id: str
    status: AccountStatus
    # (label, display value) in the configured order, only for keys the game answered.
    fields: tuple[tuple[str, str], ...] = ()
    # The configured keys behind `fields`, one for each, in the same order.
    keys: tuple[str, ...] = ()
    raw: dict[str, Any] = Field(default_factory=dict)  # the whole answer, for a full view
    fetched_at: datetime
    reason: str | None = None  # why it is unavailable: "timeout", "HTTP 503", ...

    @property
    def is_ok(self) -> bool:
        return self.status is AccountStatus.OK


class AccountProvider(Protocol):
    """Where account summaries come from: the game's API behind a cache."""

    def lookup(self, player_id: str) -> AccountSummary:
        """The player's account, from the cache or the game; never raises for the game."""
        ...

    def cached(self, player_id: str) -> AccountSummary | None:
        """The cached account, without asking the game."""
        ...


# ----------------------------------------------------------------- configuration


def parse_fields(spec: str) -> tuple[AccountField, ...]:
    """The fields of a `key:Label,key,...` list; a blank list means the default fields."""
    if not spec.strip():
        return DEFAULT_FIELDS
    fields: list[AccountField] = []
    for position, entry in enumerate(spec.split(","), start=1):
        field = _parse_entry(entry, position)
        if any(seen.key == field.key for seen in fields):
            raise ValueError(f"account field {field.key!r} is listed twice")
        fields.append(field)
    return tuple(fields)


def _parse_entry(entry: str, position: int) -> AccountField:
    """One `key` or `key:Label` entry of a field list."""
    key, _, label = (part.strip() for part in entry.partition(":"))
    if not key:
        raise ValueError(f"account field {position} has no key (in {entry.strip()!r})")
    if any(character.isspace() for character in key):
        raise ValueError(f"account field key {key!r} has a space; label it after a colon")
    if not all(key.split(".")):
        raise ValueError(f"account field key {key!r} has an empty part between its dots")
    return AccountField(key, label or default_label(key))


def default_label(key: str) -> str:
    """The known label of a key, else the key in words (`billing.first_buy`: Billing first buy)."""
    known = DEFAULT_LABELS.get(key)
    if known is not None:
        return known
    words = key.replace(".", " ").replace("_", " ")
    return words[:1].upper() + words[1:]


# ----------------------------------------------------------------- summaries


def summarize(
    player_id: str, payload: object, fields: Sequence[AccountField], fetched_at: datetime
) -> AccountSummary:
    """The game's JSON answer as display values of the configured fields."""
    if not isinstance(payload, dict):
        return unavailable(player_id, MALFORMED_JSON, fetched_at)
    shown = list(_displayed(payload, fields))
    return AccountSummary(
        player_id=player_id,
        status=AccountStatus.OK,
        fields=tuple((field.label, text) for field, text in shown),
        keys=tuple(field.key for field, _ in shown),
        raw=payload,
        fetched_at=fetched_at,
    )


def unknown_player(player_id: str, fetched_at: datetime) -> AccountSummary:
    """The game has no player with this id."""
    return AccountSummary(
        player_id=player_id, status=AccountStatus.UNKNOWN_PLAYER, fetched_at=fetched_at
    )


def unavailable(player_id: str, reason: str, fetched_at: datetime) -> AccountSummary:
    """The game gave no usable answer, for `reason`."""
    return AccountSummary(
        player_id=player_id,
        status=AccountStatus.UNAVAILABLE,
        reason=reason,
        fetched_at=fetched_at,
    )


def facts(summary: AccountSummary) -> dict[str, object]:
    """The raw values of the shown keys, for flow conditions; empty unless the summary is ok.

    A dotted key is nested (`billing.total_spend` under `billing`), as flow conditions
    read `account: {billing.total_spend: ...}` by walking the dots.
    """
    if not summary.is_ok:
        return {}
    found: dict[str, object] = {}
    # Wider keys first, so `billing` is placed whole before `billing.total_spend` looks in.
    for key in sorted(summary.keys, key=lambda key: key.count(".")):
        value = _value_at(summary.raw, tuple(key.split(".")))
        if value is not _MISSING:
            _place(found, key.split("."), copy.deepcopy(value))
    return found


def _value_at(payload: object, path: Sequence[str]) -> Any:
    """The value at a key path into nested JSON (a digit indexes a list), or _MISSING."""
    value = payload
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _place(target: dict[str, object], path: Sequence[str], value: object) -> None:
    """Put `value` at `path` in nested dicts, unless a wider key already holds it."""
    for part in path[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            return
        target = nested
    target.setdefault(path[-1], value)


def _displayed(
    payload: dict[str, Any], fields: Sequence[AccountField]
) -> Iterator[tuple[AccountField, str]]:
    """Each configured field the game answered, with its display value."""
    for field in fields:
        text = display_value(_value_at(payload, field.path))
        if text is not None:
            yield field, text


# ----------------------------------------------------------------- display values


def display_value(value: object) -> str | None:
    """A JSON value as agents read it, or None when there is nothing to show."""
    if value is _MISSING or value is None or isinstance(value, dict):
        return None
    if isinstance(value, list):
        items = (display_value(item) for item in value)
        text = ", ".join(item for item in items if item is not None)
    else:
        text = _scalar_text(value)
    return _cut(text.strip() or EMPTY)


def _scalar_text(value: object) -> str:
    """A JSON scalar as text: yes/no, 12,345, 1,234.50, 2024-03-01 12:30 UTC."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    text = str(value)
    return _short_timestamp(text) or text


def _short_timestamp(text: str) -> str | None:
    """An ISO timestamp in UTC to the minute, or None when `text` is not one."""
    if not _TIMESTAMP.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A timestamp without an offset is taken as UTC, the usual clock of game servers.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _cut(text: str) -> str:
    """At most MAX_VALUE_LENGTH characters, with an ellipsis when cut."""
    if len(text) <= MAX_VALUE_LENGTH:
        return text
    return text[: MAX_VALUE_LENGTH - len(ELLIPSIS)] + ELLIPSIS


def snapshot(summary: AccountSummary) -> dict[str, Any]:
    """What a ticket keeps of its player's account: enough for its card and flow rules
    (the whole answer stays in the lookup's cache, for the player modal)."""
    return {
        "player_id": summary.player_id,
        "status": summary.status.value,
        "fields": [list(pair) for pair in summary.fields],
        "facts": facts(summary),
        "reason": summary.reason,
        "fetched_at": summary.fetched_at,
    }


def same_account(kept: Mapping[str, Any] | None, fresh: Mapping[str, Any]) -> bool:
    """Whether a ticket's snapshot already says what `fresh` says (whenever it was asked)."""
    if kept is None:
        return False
    return {k: v for k, v in kept.items() if k != "fetched_at"} == {
        k: v for k, v in fresh.items() if k != "fetched_at"
    }
