"""Whether a rule's condition holds for the facts of one ticket event.

A condition is compiled once, when the file loads, into a predicate over the facts: a
plain nested dict (see `facts_for`). A missing fact or a comparison of unlike types makes a
test false: no fact makes a predicate raise (only the caller's business-hours callable could).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from ticketcore.flows.patterns import LinearPattern, linear_pattern
from ticketcore.models import Ticket

if TYPE_CHECKING:
    from ticketcore.flows.model import Comparison, Condition, FieldComparison, TimeWindow

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]

MISSING: Final = object()
COLLECTIONS = (list, tuple, set, frozenset)
ORDERINGS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def facts_for(
    ticket: Ticket,
    *,
    event: str,
    now: datetime,
    message_text: str | None = None,
    account: Mapping[str, Any] | None = None,
    in_business_hours: Callable[[datetime], bool] | None = None,
) -> dict[str, Any]:
    """What conditions and templates see of a ticket event, as plain values."""
    player = ticket.player
    return {
        "event": event,
        "ticket": {
            "number": ticket.number,
            "subject": ticket.subject,
            "channel": ticket.channel.value,
            "status": ticket.status.value,
            "priority": ticket.priority.value,
            "queue": ticket.queue,
            "tags": list(ticket.tags),
            "assignee": ticket.assignee,
            "language": player.language,
            "context": dict(ticket.context),
            "opening_text": ticket.opening_text,
            "message_count": ticket.message_count,
            "created_at": ticket.created_at,
            "csat": ticket.csat.score if ticket.csat is not None else None,
        },
        "player": {
            "player_id": player.player_id,
            "email": player.email,
            "display_name": player.display_name,
            "language": player.language,
        },
        "account": dict(account or {}),
        "message": {} if message_text is None else {"text": message_text},
        "now": now,
        "in_business_hours": in_business_hours,
    }


# ----------------------------------------------------------------- looking up facts


def lookup(facts: Any, parts: Sequence[str]) -> Any:
    """The value at a dotted path into the facts (a digit indexes a list), or MISSING."""
    value = facts
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
            if value is MISSING:
                return MISSING
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def text_of(facts: Facts) -> str | None:
    """The text `text_*` tests read: the event's message, else the ticket's opening text."""
    text = lookup(facts, ("message", "text"))
    if not isinstance(text, str):
        text = lookup(facts, ("ticket", "opening_text"))
    return text if isinstance(text, str) else None


# ----------------------------------------------------------------- comparisons


def same(a: Any, b: Any) -> bool:
    """Equality where a boolean equals only a boolean (so `true` is not `1`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    try:
        return bool(a == b)
    except Exception:  # an odd __eq__ in the facts must not stop the rules
        return False


def compare(op: str, expected: Any, actual: Any) -> bool:
    """Whether the fact `actual` (MISSING if absent) passes `op` against `expected`."""
    if op == "exists":
        return (actual is not MISSING and actual is not None) is bool(expected)
    if actual is MISSING:
        return False
    if op == "equals":
        return same(actual, expected)
    if op == "not_equals":
        return not same(actual, expected)
    if op == "in":
        return any(same(actual, item) for item in expected)
    if op == "matches":
        return isinstance(actual, str) and expected.occurs_in(actual)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        return isinstance(actual, COLLECTIONS) and any(same(item, expected) for item in actual)
    return ordered(op, actual, expected)


def ordered(op: str, actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    try:
        return bool(ORDERINGS[op](actual, expected))
    except TypeError:  # unlike types, or naive against aware times
        return False


def words_pattern(words: Sequence[str]) -> LinearPattern:
    """Any of the words as a whole word, ignoring case; `\\w` is Unicode, so Cyrillic works."""
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    # The neighbours are matched, not looked at: RE2 has no lookaround, and only whether
    # the words occur counts.
    return linear_pattern(rf"(?i)(?:^|\W)(?:{alternatives})(?:\W|$)")


# ----------------------------------------------------------------- predicates


def predicate_for(condition: Condition) -> Predicate:
    """The condition as one function of the facts: cheap tests first, regexes and nesting last."""
    tests = [*_field_tests(condition), *_context_tests(condition), *_costly_tests(condition)]
    return all_of(tests)


def _field_tests(c: Condition) -> list[Predicate]:
    tests: list[Predicate] = []
    if c.event is not None:
        tests.append(one_of((), "event", c.event))
    for name, values in (("channel", c.channel), ("priority", c.priority), ("status", c.status)):
        if values is not None:
            tests.append(one_of(("ticket",), name, values))
    if c.queue is not None:
        tests.append(one_of(("ticket",), "queue", c.queue))
    if c.language is not None:
        tests.append(language_in(c.language))
    if c.tags_include is not None:
        tests.append(has_tag(c.tags_include))
    if c.tags_exclude is not None:
        tests.append(negated(has_tag(c.tags_exclude)))
    if c.assigned is not None:
        tests.append(is_assigned(c.assigned))
    return tests


def _context_tests(c: Condition) -> list[Predicate]:
    tests: list[Predicate] = []
    if c.account is not None:
        tests.extend(passes(("account", *key.split(".")), test) for key, test in c.account.items())
    if c.field is not None:
        tests.append(field_passes(c.field))
    if c.time is not None:
        tests.append(in_window(c.time))
    if c.business_hours is not None:
        tests.append(in_business_hours(c.business_hours))
    return tests


def _costly_tests(c: Condition) -> list[Predicate]:
    tests: list[Predicate] = []
    if c.text_contains is not None:
        tests.append(text_matches(words_pattern(c.text_contains)))
    if c.text_matches is not None:
        tests.append(text_matches(c.text_matches))
    if c.all is not None:
        tests.append(all_of([sub.predicate for sub in c.all]))
    if c.any is not None:
        tests.append(any_of([sub.predicate for sub in c.any]))
    if c.not_ is not None:
        tests.append(negated(c.not_.predicate))
    return tests


def all_of(tests: Sequence[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]
    frozen = tuple(tests)

    def check(facts: Facts) -> bool:
        return all(test(facts) for test in frozen)

    return check


def any_of(tests: Sequence[Predicate]) -> Predicate:
    frozen = tuple(tests)

    def check(facts: Facts) -> bool:
        return any(test(facts) for test in frozen)

    return check


def negated(test: Predicate) -> Predicate:
    def check(facts: Facts) -> bool:
        return not test(facts)

    return check


def one_of(parent: tuple[str, ...], name: str, values: Sequence[str]) -> Predicate:
    # A tuple, not a set: a StrEnum in the facts equals its text but does not hash like it.
    wanted = tuple(str(value) for value in values)
    path = (*parent, name)

    def check(facts: Facts) -> bool:
        value = lookup(facts, path)
        return isinstance(value, str) and value in wanted

    return check


def language_in(languages: Sequence[str]) -> Predicate:
    """`ru` holds for `ru` and for `ru-RU`; `pt-BR` only for `pt-BR`."""
    wanted = frozenset(language.lower() for language in languages)

    def check(facts: Facts) -> bool:
        language = lookup(facts, ("ticket", "language"))
        if not isinstance(language, str):
            return False
        language = language.lower().replace("_", "-")
        return language in wanted or language.split("-")[0] in wanted

    return check


def has_tag(tags: Sequence[str]) -> Predicate:
    def check(facts: Facts) -> bool:
        have = lookup(facts, ("ticket", "tags"))
        return isinstance(have, COLLECTIONS) and any(tag in have for tag in tags)

    return check


def is_assigned(expected: bool) -> Predicate:
    def check(facts: Facts) -> bool:
        assignee = lookup(facts, ("ticket", "assignee"))
        return (assignee not in (MISSING, None, "")) == expected

    return check


def passes(path: tuple[str, ...], test: Comparison) -> Predicate:
    op, expected = test.op, test.expected

    def check(facts: Facts) -> bool:
        return compare(op, expected, lookup(facts, path))

    return check


def field_passes(test: FieldComparison) -> Predicate:
    return passes(test.parts, test)


def text_matches(pattern: LinearPattern) -> Predicate:
    def check(facts: Facts) -> bool:
        text = text_of(facts)
        return text is not None and pattern.occurs_in(text)

    return check


def aware_now(facts: Facts) -> datetime | None:
    now = facts.get("now")
    if isinstance(now, datetime) and now.utcoffset() is not None:
        return now
    return None


def in_window(window: TimeWindow) -> Predicate:
    """Within the window's hours on one of its days, in its zone.

    A window that wraps midnight belongs to the day it opened: Friday 22:00-06:00 covers
    Saturday 03:00.
    """

    zone, weekdays, between = window.zone, window.weekdays, window.between

    def check(facts: Facts) -> bool:
        now = aware_now(facts)
        if now is None:
            return False
        local = now.astimezone(zone)
        day = local.weekday()
        if between is not None:
            start, end = between
            at = local.time()
            if start < end:
                if not start <= at < end:
                    return False
            elif at < end:
                day = (day - 1) % 7
            elif at < start:
                return False
        return day in weekdays

    return check


def in_business_hours(expected: bool) -> Predicate:
    """Asks the caller's calendar; without one (or without `now`) the test is false."""

    def check(facts: Facts) -> bool:
        judge, now = facts.get("in_business_hours"), aware_now(facts)
        if not callable(judge) or now is None:
            return False
        return bool(judge(now)) == expected

    return check
