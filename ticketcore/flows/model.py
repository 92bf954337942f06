"""Flows as data: rules that name events, a condition and the actions to take."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import time
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ticketcore.calendar import known_zone
from ticketcore.events import FLOW_EVENTS
from ticketcore.flows.conditions import Predicate, predicate_for
from ticketcore.flows.patterns import LinearPattern, PatternError, linear_pattern
from ticketcore.flows.text import MAX_TEXT, TextError, check_template
from ticketcore.lifecycle import Status
from ticketcore.models import MAX_TAG, Channel, Priority

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # in `datetime.weekday()` order
OPS = ("equals", "not_equals", "in", "gt", "gte", "lt", "lte", "exists", "matches", "contains")
TARGETS = ("channel", "user", "usergroup")

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def problem(kind: str, text: str, **context: Any) -> PydanticCustomError:
    """A validation error whose message is `text` as written (no placeholders)."""
    return PydanticCustomError(kind, "{text}", {"text": text, **context})


def unknown_key(key: object, allowed: Iterable[str]) -> PydanticCustomError:
    # The loader adds `key` to the error's location, so the line is the key's own.
    text = f"unknown key '{key}' (allowed: {', '.join(allowed)})"
    return problem("unknown_key", text, key=str(key))


class FlowModel(BaseModel):
    """One mapping of the flows file: frozen, and a key it does not know names those it does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        data = cls.from_yaml(data)
        if isinstance(data, Mapping):
            allowed = cls.yaml_keys()
            for key in data:
                if key not in allowed:
                    raise unknown_key(key, allowed)
        return data

    @classmethod
    def from_yaml(cls, data: Any) -> Any:
        """The mapping the fields validate, from what the file says: the hook for shorthands."""
        return data

    @classmethod
    def yaml_keys(cls) -> tuple[str, ...]:
        fields = cls.model_fields.items()
        return tuple(info.alias or name for name, info in fields if name != "kind")


# ----------------------------------------------------------------- small types


def listed(value: Any) -> Any:
    """One value stands for a list of one."""
    return value if isinstance(value, list | tuple) else [value]


def compiled(value: Any) -> LinearPattern:
    if isinstance(value, LinearPattern):
        return value
    if not isinstance(value, str):
        raise problem("regex", "a regular expression must be text")
    try:
        return linear_pattern(value)
    except PatternError as exc:
        raise problem("regex", str(exc)) from None


def known_event(value: str) -> str:
    if value not in FLOW_EVENTS:
        raise problem(
            "unknown_event", f"unknown event '{value}' (allowed: {', '.join(FLOW_EVENTS)})"
        )
    return value


def rule_name(value: str) -> str:
    if NAME.fullmatch(value) is None:
        text = "a rule name is up to 64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit"
        raise problem("rule_name", text)
    return value


def clock(value: Any) -> Any:
    if value == "24:00":  # the end of the day, as a window's end
        return time(0, 0)
    found = CLOCK.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise problem("clock", f'{value!r} is not a time of day written as "HH:MM"')
    return time(int(found[1]), int(found[2]))


def template(value: str) -> str:
    try:
        check_template(value)
    except TextError as exc:
        raise problem("template", str(exc)) from None
    return value


def slack_id(prefixes: str, what: str, example: str) -> Callable[[str], str]:
    pattern = re.compile(f"[{prefixes}][A-Z0-9]{{2,}}")

    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise problem("slack_id", f"'{value}' is not a Slack {what} id (like {example})")
        return value

    return check


def always(facts: Mapping[str, Any]) -> bool:
    return True


def unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


Regex = Annotated[LinearPattern, PlainValidator(compiled)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Texts = Annotated[tuple[Text, ...], BeforeValidator(listed), Field(min_length=1)]
Event = Annotated[str, AfterValidator(known_event)]
Events = Annotated[
    tuple[Event, ...], BeforeValidator(listed), Field(min_length=1), AfterValidator(unique)
]
TagName = Annotated[str, Field(min_length=1, max_length=MAX_TAG)]
QueueName = Annotated[str, Field(min_length=1, max_length=64)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Days = Annotated[tuple[Day, ...], BeforeValidator(listed), Field(min_length=1)]
Channels = Annotated[tuple[Channel, ...], BeforeValidator(listed), Field(min_length=1)]
Priorities = Annotated[tuple[Priority, ...], BeforeValidator(listed), Field(min_length=1)]
Statuses = Annotated[tuple[Status, ...], BeforeValidator(listed), Field(min_length=1)]
ClockTime = Annotated[time, BeforeValidator(clock)]
Template = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(template)]
SlackChannel = Annotated[str, AfterValidator(slack_id("CG", "channel", "C0123ABCD"))]
SlackUser = Annotated[str, AfterValidator(slack_id("UW", "user", "U0123ABCD"))]
SlackUsergroup = Annotated[str, AfterValidator(slack_id("S", "user group", "S0123ABCD"))]
MacroName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


# ----------------------------------------------------------------- conditions


class Comparison(FlowModel):
    """One comparison of a fact: exactly one op; under `account:` a value or list is short for
    `equals` or `in`."""

    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None
    exists: bool | None = None
    matches: Regex | None = None
    contains: Any = None

    _op: str = PrivateAttr(default="")

    @classmethod
    def from_yaml(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return data
        return {"in": data} if isinstance(data, list) else {"equals": data}

    @model_validator(mode="after")
    def _one_op(self) -> Comparison:
        # `equals: null` is a comparison with None, so "given" means written, not non-None.
        given = [op for op in OPS if _field_of(op) in self.model_fields_set]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise problem("op", f"needs exactly one of {', '.join(OPS)} (got {got})")
        self._op = given[0]
        return self

    @property
    def op(self) -> str:
        return self._op

    @property
    def expected(self) -> Any:
        return getattr(self, _field_of(self._op))


def _field_of(op: str) -> str:
    return "in_" if op == "in" else op


class FieldComparison(Comparison):
    """`field: {path: ticket.context.platform, <op>: value}`: a comparison of any fact."""

    path: str = Field(pattern=PATH.pattern)

    _parts: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def from_yaml(cls, data: Any) -> Any:
        return data

    @classmethod
    def yaml_keys(cls) -> tuple[str, ...]:
        return ("path", *(key for key in super().yaml_keys() if key != "path"))

    @model_validator(mode="after")
    def _split(self) -> FieldComparison:
        self._parts = tuple(self.path.split("."))
        return self

    @property
    def parts(self) -> tuple[str, ...]:
        return self._parts


class TimeWindow(FlowModel):
    """Local time of day and weekdays; a window whose end is before its start wraps midnight."""

    between: tuple[ClockTime, ClockTime] | None = None
    days: Days | None = None
    timezone: str = "UTC"

    _zone: ZoneInfo = PrivateAttr(default_factory=lambda: ZoneInfo("UTC"))
    _weekdays: frozenset[int] = PrivateAttr(default=frozenset(range(7)))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return known_zone(value)
        except ValueError:
            raise problem("timezone", f"unknown time zone '{value}'") from None

    @model_validator(mode="after")
    def _compile(self) -> TimeWindow:
        if self.between is None and self.days is None:
            raise problem("time", "time needs `between`, `days` or both")
        if self.between is not None and self.between[0] == self.between[1]:
            raise problem("time", "the window's start and end are the same time")
        self._zone = ZoneInfo(self.timezone)
        if self.days is not None:
            self._weekdays = frozenset(DAYS.index(day) for day in self.days)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def weekdays(self) -> frozenset[int]:
        return self._weekdays


class Condition(FlowModel):
    """A mapping of tests that must all hold; `all`, `any` and `not` nest conditions."""

    all: Annotated[tuple[Condition, ...], Field(min_length=1)] | None = None
    any: Annotated[tuple[Condition, ...], Field(min_length=1)] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    text_matches: Regex | None = None
    text_contains: Texts | None = None
    channel: Channels | None = None
    language: Texts | None = None
    queue: Texts | None = None
    priority: Priorities | None = None
    status: Statuses | None = None
    event: Events | None = None
    tags_include: Texts | None = None
    tags_exclude: Texts | None = None
    assigned: bool | None = None
    field: FieldComparison | None = None
    account: dict[str, Comparison] | None = None
    time: TimeWindow | None = None
    business_hours: bool | None = None

    # A factory, not a default: pydantic would bind a function default like a method.
    _predicate: Predicate = PrivateAttr(default_factory=lambda: always)

    @model_validator(mode="after")
    def _compile(self) -> Condition:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            keys = ", ".join(self.yaml_keys())
            raise problem("empty_condition", f"a condition needs at least one of: {keys}")
        self._predicate = predicate_for(self)
        return self

    @property
    def predicate(self) -> Predicate:
        """The compiled condition: take it once and call it, a private attribute is slow."""
        return self._predicate

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self._predicate(facts)


# ----------------------------------------------------------------- actions


class Action(FlowModel):
    """One step of a rule's `then`, written as a mapping of one key: `- notify: {...}`."""

    # The one field a bare value under the action's key fills: `set_priority: high`.
    shorthand: ClassVar[str | None] = None

    @classmethod
    def from_yaml(cls, data: Any) -> Any:
        kind = cls.model_fields["kind"].default
        if isinstance(data, Mapping) and list(data) == [kind]:
            return cls.unwrapped(data[kind])
        return data

    @classmethod
    def unwrapped(cls, value: Any) -> Any:
        """The fields' mapping from the value under the action's key."""
        return value if cls.shorthand is None else {cls.shorthand: value}


class Notify(Action):
    """Post `text` to a channel, a user (a DM) or a user group: exactly one of them."""

    kind: Literal["notify"] = "notify"
    channel: SlackChannel | None = None
    user: SlackUser | None = None
    usergroup: SlackUsergroup | None = None
    text: Template

    @model_validator(mode="after")
    def _one_target(self) -> Notify:
        given = [name for name in TARGETS if getattr(self, name) is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise problem("target", f"notify needs exactly one of {', '.join(TARGETS)} (got {got})")
        return self

    @property
    def target(self) -> tuple[str, str]:
        """Which kind of target, and its Slack id."""
        name = next(name for name in TARGETS if getattr(self, name) is not None)
        return name, getattr(self, name)


class Assign(Action):
    """Assign to one agent, or to the next agent in turn (of a queue, if named)."""

    kind: Literal["assign"] = "assign"
    user: SlackUser | None = None
    round_robin: bool = False
    queue: QueueName | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Assign:
        if (self.user is None) == (not self.round_robin):
            raise problem("assign", "assign needs either `user` or `round_robin: true`")
        if self.queue is not None and not self.round_robin:
            raise problem("assign", "`queue` goes with `round_robin: true`")
        return self


class SetPriority(Action):
    shorthand = "priority"
    kind: Literal["set_priority"] = "set_priority"
    priority: Priority


class SetStatus(Action):
    shorthand = "status"
    kind: Literal["set_status"] = "set_status"
    status: Status


class AddTags(Action):
    shorthand = "tags"
    kind: Literal["tag"] = "tag"
    tags: Annotated[tuple[TagName, ...], BeforeValidator(listed), Field(min_length=1)]


class SetQueue(Action):
    shorthand = "queue"
    kind: Literal["set_queue"] = "set_queue"
    queue: QueueName


class Reply(Action):
    """Answer the player with a canned response, in the player's language."""

    kind: Literal["reply"] = "reply"
    macro: MacroName

    @field_validator("macro")
    @classmethod
    def _known_macro(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("known_macros")
        if known is not None and value not in known:
            names = sorted(known)
            listing = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
            hint = f"known: {listing}" if names else "there are no macros"
            raise problem("unknown_macro", f"unknown macro '{value}' ({hint})")
        return value


class Escalate(Action):
    kind: Literal["escalate"] = "escalate"
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None

    @classmethod
    def unwrapped(cls, value: Any) -> Any:
        if value is True:
            return {}
        if isinstance(value, Mapping):
            return value
        raise problem("escalate", "write `escalate: true` or `escalate: {reason: ...}`")


ACTIONS: dict[str, type[Action]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Notify, Assign, SetPriority, SetStatus, AddTags, SetQueue, Reply, Escalate)
}


def action_kind(value: Any) -> str | None:
    if isinstance(value, Action):
        return str(getattr(value, "kind"))  # noqa: B009 - the base class declares no kind
    if isinstance(value, Mapping) and len(value) == 1:
        return str(next(iter(value)))
    return None


def action_shape(value: Any) -> Any:
    """Let through one-key mappings naming a known action, so the union's error is precise."""
    if isinstance(value, Action):
        return value
    if not isinstance(value, Mapping) or len(value) != 1:
        text = f"an action is a mapping of one key, one of: {', '.join(ACTIONS)}"
        raise problem("action", text)
    key = next(iter(value))
    if key not in ACTIONS:
        text = f"unknown action '{key}' (allowed: {', '.join(ACTIONS)})"
        raise problem("unknown_key", text, key=str(key))
    return value


AnyAction = Annotated[
    Annotated[
        Annotated[Notify, Tag("notify")]
        | Annotated[Assign, Tag("assign")]
        | Annotated[SetPriority, Tag("set_priority")]
        | Annotated[SetStatus, Tag("set_status")]
        | Annotated[AddTags, Tag("tag")]
        | Annotated[SetQueue, Tag("set_queue")]
        | Annotated[Reply, Tag("reply")]
        | Annotated[Escalate, Tag("escalate")],
        Discriminator(action_kind),
    ],
    BeforeValidator(action_shape),
]


def some_actions(actions: tuple[Action, ...]) -> tuple[Action, ...]:
    if not actions:
        raise problem("then", "a rule needs at least one action")
    return actions


# ----------------------------------------------------------------- rules


class Rule(FlowModel):
    """When one of the events `on` happens and the condition `if` holds, do `then`."""

    name: Annotated[str, AfterValidator(rule_name)]
    on: Events
    condition: Condition | None = Field(default=None, alias="if")
    actions: Annotated[tuple[AnyAction, ...], AfterValidator(some_actions)] = Field(alias="then")
    enabled: bool = True
    description: Annotated[str, Field(max_length=1000)] | None = None

    @property
    def predicate(self) -> Predicate:
        """The compiled condition; a rule without one always holds."""
        return always if self.condition is None else self.condition.predicate

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self.condition is None or self.condition.holds(facts)
