"""SLA policies and the clocks they run on a ticket: pure functions from state to state.

A ticket's `SlaState` holds up to three targets: the first reply, the next reply after the
player writes again, and the resolution. Each counts in its policy's calendar (business hours
or 24/7), stops while the ticket waits on the player or another team, and raises one warning
and one breach at most.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    field_validator,
)

from ticketcore.calendar import ALWAYS, ZERO, BusinessCalendar, CalendarConfig, to_utc
from ticketcore.models import Model, Priority

TargetName = Literal["first_response", "next_response", "resolution"]
TARGETS: tuple[TargetName, ...] = ("first_response", "next_response", "resolution")
AlertKind = Literal["warning", "breached"]
Alert = tuple[TargetName, AlertKind]
TargetStatus = Literal["met", "breached", "due", "paused"]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(value: Any) -> timedelta:
    """A positive duration from text such as "30m", "4h", "2d", "1h30m" or "45s" (a day is
    24 hours; seconds are there for drills and tests that cannot wait minutes)."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str) and value.strip() and (match := _DURATION.match(value.strip())):
        seconds = sum(
            int(part or 0) * size for part, (_, size) in zip(match.groups(), _UNITS, strict=True)
        )
        duration = timedelta(seconds=seconds)
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30m, 4h, 2d or 1h30m")
    if duration <= ZERO:
        raise ValueError(f"{value!r} is not a positive duration")
    return duration


def format_duration(duration: timedelta) -> str:
    """The inverse of parse_duration for whole seconds: 90 minutes is "1h30m"."""
    rest, parts = int(duration.total_seconds()), []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0m"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


def _one_or_many(value: Any) -> Any:
    """A filter is one value or a list of them; an empty list would silently match nothing."""
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("list at least one value, or leave the key out to match any")
        return value
    return None if value is None else [value]


class SlaPolicy(Model):
    """Targets for the tickets it matches; a missing filter matches any ticket."""

    name: str = Field(min_length=1, max_length=64)
    priority: Annotated[tuple[Priority, ...] | None, BeforeValidator(_one_or_many)] = None
    queue: Annotated[tuple[str, ...] | None, BeforeValidator(_one_or_many)] = None
    first_response: Duration | None = None
    next_response: Duration | None = None
    resolution: Duration | None = None
    business_hours: bool = True  # false: the clock runs 24/7

    def matches(self, priority: str, queue: str | None) -> bool:
        if self.priority is not None and priority not in self.priority:
            return False
        return self.queue is None or queue in self.queue

    def duration(self, target: TargetName) -> timedelta | None:
        value: timedelta | None = getattr(self, target)
        return value


class SlaConfig(Model):
    """The `sla:` section: policies tried in order, the first match wins."""

    warn_at: float = Field(default=0.8, gt=0, lt=1)
    calendar: CalendarConfig | None = None  # none: business hours are all hours
    policies: tuple[SlaPolicy, ...] = ()

    @field_validator("policies")
    @classmethod
    def _unique_and_reachable(cls, policies: tuple[SlaPolicy, ...]) -> tuple[SlaPolicy, ...]:
        names = [p.name for p in policies]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"policy names must be unique: {', '.join(duplicates)}")
        for policy, after in itertools.pairwise(policies):
            if policy.priority is None and policy.queue is None:
                raise ValueError(
                    f"policy {after.name!r} can never match: {policy.name!r} before it "
                    "matches every ticket"
                )
        return policies

    def policy_for(self, priority: str, queue: str | None) -> SlaPolicy | None:
        return next((p for p in self.policies if p.matches(priority, queue)), None)

    def policy_named(self, name: str) -> SlaPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def calendar_for(self, policy: SlaPolicy | None) -> BusinessCalendar:
        """The policy's clock; with no policy (e.g. one removed since), the section's calendar."""
        if policy is not None and not policy.business_hours:
            return ALWAYS
        return self._business_calendar

    @cached_property
    def _business_calendar(self) -> BusinessCalendar:
        return ALWAYS if self.calendar is None else BusinessCalendar(self.calendar)


class Target(Model):
    started_at: AwareDatetime
    due_at: AwareDatetime
    warn_at_time: AwareDatetime
    met_at: AwareDatetime | None = None
    warned: bool = False
    breached: bool = False
    # Business seconds this clock stood still, so a re-computed due time keeps them.
    paused_seconds: float = Field(default=0.0, ge=0)

    def is_running(self, at: datetime) -> bool:
        """Neither met nor breached by `at`: its due time can still move."""
        return self.met_at is None and not self.breached and self.due_at > at


class SlaState(Model):
    """The SLA clocks kept on a ticket."""

    policy: str
    targets: dict[TargetName, Target] = {}
    paused_since: AwareDatetime | None = None


class TargetView(Model):
    name: TargetName
    due_at: datetime
    # Due time minus now (minus the pause start while paused, the met time once met).
    remaining: timedelta
    status: TargetStatus


def _new_target(
    calendar: BusinessCalendar,
    warn_at: float,
    started: datetime,
    duration: timedelta,
    paused: timedelta = ZERO,
) -> Target:
    return Target(
        started_at=started,
        due_at=calendar.add(started, duration + paused),
        warn_at_time=calendar.add(started, duration * warn_at + paused),
        paused_seconds=paused.total_seconds(),
    )


def start(config: SlaConfig, *, priority: str, queue: str | None, now: datetime) -> SlaState | None:
    """Clocks for a new ticket: first response and resolution count from now."""
    now = to_utc(now)
    policy = config.policy_for(priority, queue)
    if policy is None:
        return None
    calendar = config.calendar_for(policy)
    targets: dict[TargetName, Target] = {}
    for name in ("first_response", "resolution"):
        duration = policy.duration(name)
        if duration is not None:
            targets[name] = _new_target(calendar, config.warn_at, now, duration)
    return SlaState(policy=policy.name, targets=targets)


def on_agent_reply(state: SlaState, config: SlaConfig, now: datetime) -> SlaState:
    """A reply to the player meets the first response, or the next one the player awaits."""
    return _meet(state, ("first_response", "next_response"), to_utc(now))


def on_player_message(state: SlaState, config: SlaConfig, now: datetime) -> SlaState:
    """The player writing after our reply starts a next-response clock, unless one runs."""
    now = to_utc(now)
    policy = config.policy_named(state.policy)
    duration = policy.duration("next_response") if policy else None
    if duration is None:
        return state
    current = state.targets.get("next_response")
    if current is not None and current.met_at is None:
        return state
    first = state.targets.get("first_response")
    if current is None and first is not None and first.met_at is None:
        return state  # not answered yet: the first-response clock covers this message
    target = _new_target(config.calendar_for(policy), config.warn_at, now, duration)
    return _with_targets(state, {**state.targets, "next_response": target})


def on_priority_or_queue_change(
    state: SlaState | None, config: SlaConfig, priority: str, queue: str | None, now: datetime
) -> SlaState | None:
    """Re-select the policy; running targets are re-timed from their own start.

    A ticket with no clocks yet gets fresh ones from now; one no policy matches loses them.
    """
    now = to_utc(now)
    if state is None:
        return start(config, priority=priority, queue=queue, now=now)
    policy = config.policy_for(priority, queue)
    if policy is None:
        return None
    calendar = config.calendar_for(policy)
    # While paused, due times are not yet moved by the pause: judge them at its start.
    clock = state.paused_since or now
    targets: dict[TargetName, Target] = {}
    for name, target in state.targets.items():
        duration = policy.duration(name)
        if not target.is_running(clock):
            targets[name] = target
        elif duration is not None:
            paused = timedelta(seconds=target.paused_seconds)
            retimed = _new_target(calendar, config.warn_at, target.started_at, duration, paused)
            targets[name] = retimed.model_copy(update={"warned": target.warned})
    return SlaState(policy=policy.name, targets=targets, paused_since=state.paused_since)


def pause(state: SlaState, now: datetime) -> SlaState:
    """Stop the clocks (the ticket waits on the player or another team); idempotent."""
    if state.paused_since is not None:
        return state
    return state.model_copy(update={"paused_since": to_utc(now)})


def resume(state: SlaState, config: SlaConfig, now: datetime) -> SlaState:
    """Restart the clocks: running targets fall due later by the business time paused."""
    if state.paused_since is None:
        return state
    now = to_utc(now)
    calendar = config.calendar_for(config.policy_named(state.policy))
    targets = dict(state.targets)
    for name, target in state.targets.items():
        # A target started during the pause only stood still from its own start.
        since = max(state.paused_since, target.started_at)
        if not target.is_running(since):
            continue
        stopped = calendar.between(since, now)
        warn_at_time = target.warn_at_time
        if warn_at_time > since:
            warn_at_time = calendar.add(warn_at_time, stopped)
        targets[name] = target.model_copy(
            update={
                "due_at": calendar.add(target.due_at, stopped),
                "warn_at_time": warn_at_time,
                "paused_seconds": target.paused_seconds + stopped.total_seconds(),
            }
        )
    return SlaState(policy=state.policy, targets=targets)


def on_resolved(state: SlaState, now: datetime) -> SlaState:
    """Resolution is met; so are reply targets, since a resolved ticket awaits no reply."""
    met = _meet(state, TARGETS, to_utc(now))
    return met.model_copy(update={"paused_since": None})


def on_reopened(state: SlaState, config: SlaConfig, now: datetime) -> SlaState:
    """A reopened ticket gets a fresh resolution clock from now."""
    now = to_utc(now)
    policy = config.policy_named(state.policy)
    duration = policy.duration("resolution") if policy else None
    if duration is None:
        return state
    target = _new_target(config.calendar_for(policy), config.warn_at, now, duration)
    return _with_targets(state, {**state.targets, "resolution": target})


def due_alerts(state: SlaState, now: datetime) -> list[Alert]:
    """Alerts to raise now, each once: a breach that came first comes without a warning."""
    now = to_utc(now)
    if state.paused_since is not None:
        return []
    alerts: list[Alert] = []
    for name, target in _in_order(state):
        if target.met_at is not None or target.breached:
            continue
        if target.due_at <= now:
            alerts.append((name, "breached"))
        elif not target.warned and target.warn_at_time <= now:
            alerts.append((name, "warning"))
    return alerts


def mark_raised(state: SlaState, alerts: Iterable[tuple[str, str]]) -> SlaState:
    """Record raised alerts so they are not raised again; unknown targets are ignored."""
    raised = set(alerts)
    targets = {
        name: target.model_copy(
            update={
                "warned": target.warned or (name, "warning") in raised,
                "breached": target.breached or (name, "breached") in raised,
            }
        )
        for name, target in state.targets.items()
    }
    return _with_targets(state, targets)


def summary(state: SlaState, now: datetime) -> list[TargetView]:
    """Each target's due time, time left and status, for display."""
    now = to_utc(now)
    clock = state.paused_since or now
    views: list[TargetView] = []
    for name, target in _in_order(state):
        status: TargetStatus
        if target.met_at is not None:
            reference = target.met_at
            status = "met" if target.met_at <= target.due_at else "breached"
        else:
            reference = max(clock, target.started_at)
            if target.breached or target.due_at <= clock:
                status = "breached"
            else:
                status = "paused" if state.paused_since is not None else "due"
        views.append(
            TargetView(
                name=name, due_at=target.due_at, remaining=target.due_at - reference, status=status
            )
        )
    return views


def _meet(state: SlaState, names: Iterable[TargetName], now: datetime) -> SlaState:
    targets = dict(state.targets)
    for name in names:
        target = targets.get(name)
        if target is not None and target.met_at is None:
            targets[name] = target.model_copy(update={"met_at": now})
    return _with_targets(state, targets)


def _with_targets(state: SlaState, targets: dict[TargetName, Target]) -> SlaState:
    return state.model_copy(update={"targets": targets})


def _in_order(state: SlaState) -> list[tuple[TargetName, Target]]:
    return [(name, state.targets[name]) for name in TARGETS if name in state.targets]
