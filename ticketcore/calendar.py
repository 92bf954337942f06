"""Business hours: a weekly schedule in a time zone plus holidays, and time counted in it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MINUTES_A_DAY = 24 * 60

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def to_utc(at: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused, since its instant is unknown."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass an aware datetime")
    return at.astimezone(UTC)


def to_minutes(clock: str) -> int:
    """Minutes since midnight of a "HH:MM" wall-clock time; "24:00" is the day's end."""
    match = _CLOCK.match(clock)
    if match is None:
        raise ValueError(f"{clock!r} is not a time of day; write e.g. 09:00")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{clock!r} is not a time of day between 00:00 and 24:00")
    return hours * 60 + minutes


def known_zone(value: str) -> str:
    """A time zone name the zone database knows; ValueError otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone, e.g. Europe/Berlin") from None
    return value


class CalendarConfig(BaseModel):
    """Open hours per weekday in local time; a missing or null day is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str
    hours: dict[Weekday, list[tuple[str, str]] | None]
    holidays: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("hours", mode="before")
    @classmethod
    def _one_interval_as_list(cls, value: Any) -> Any:
        # `mon: ["09:00", "18:00"]` is one interval; wrap it so every day is a list of them.
        if not isinstance(value, dict):
            return value
        hours = {
            day: [intervals] if _is_one_interval(intervals) else intervals
            for day, intervals in value.items()
        }
        for day, intervals in hours.items():
            # YAML 1.1 reads an unquoted 18:00 as the number 1080 (base 60).
            if any(isinstance(clock, int) for pair in intervals or [] for clock in pair):
                raise ValueError(f'{day}: quote the times, e.g. ["09:00", "18:00"]')
        return hours

    @field_validator("hours")
    @classmethod
    def _well_ordered(
        cls, value: dict[Weekday, list[tuple[str, str]] | None]
    ) -> dict[Weekday, list[tuple[str, str]] | None]:
        for day, intervals in value.items():
            previous_end = -1
            for start, end in sorted(intervals or [], key=lambda pair: to_minutes(pair[0])):
                if to_minutes(start) >= to_minutes(end):
                    raise ValueError(f"{day}: {start}-{end} ends before it starts")
                if to_minutes(start) < previous_end:
                    raise ValueError(f"{day}: {start}-{end} overlaps another interval")
                previous_end = to_minutes(end)
        return value

    @model_validator(mode="after")
    def _open_some_time(self) -> CalendarConfig:
        # Without a single open minute in the week, no deadline could ever be reached.
        if not any(self.hours.get(day) for day in WEEKDAYS):
            raise ValueError("the calendar is closed all week; give at least one open interval")
        return self


def _is_one_interval(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and not any(isinstance(item, list | tuple) for item in value)
    )


Span = tuple[datetime, datetime]


class BusinessCalendar:
    """Counts time only while open: deadlines in business hours across weekends and DST."""

    def __init__(self, config: CalendarConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._holidays = frozenset(config.holidays)
        # Minutes since local midnight, indexed like date.weekday().
        self._week: tuple[tuple[tuple[int, int], ...], ...] = tuple(
            tuple(sorted((to_minutes(s), to_minutes(e)) for s, e in config.hours.get(day) or []))
            for day in WEEKDAYS
        )
        self._weekly = timedelta(minutes=sum(e - s for day in self._week for s, e in day))
        # Open every minute of every day: business time is plain elapsed time, even across DST.
        self._always = not self._holidays and self._weekly == WEEK

    def is_open(self, at: datetime) -> bool:
        at = to_utc(at)
        if self._always:
            return True
        day = self._local_date(at)
        return any(s <= at < e for d in (day - ONE_DAY, day) for s, e in self._spans(d))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the next opening."""
        at = to_utc(at)
        if self._always:
            return at
        # A span of the day before can still be running just after local midnight.
        day = self._local_date(at) - ONE_DAY
        while True:
            for s, e in self._spans(day):
                if e > at:
                    return max(s, at)
            day += ONE_DAY

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of open time has passed since `start` (zero returns `start`)."""
        start = to_utc(start)
        if duration < ZERO:
            raise ValueError(f"cannot add a negative duration ({duration})")
        if self._always or duration == ZERO:
            return start + duration
        remaining = duration
        day = self._local_date(start) - ONE_DAY
        first_whole_day = day + 2 * ONE_DAY
        while True:
            # Strictly more than a week left: the deadline lies beyond this week.
            if day >= first_whole_day and remaining > self._weekly and self._is_plain_week(day):
                remaining -= self._weekly
                day += WEEK
                continue
            for s, e in self._spans(day):
                s = max(s, start)
                if e <= s:
                    continue
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
            day += ONE_DAY

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Open time within [a, b); zero when b is not after a."""
        a, b = to_utc(a), to_utc(b)
        if b <= a:
            return ZERO
        if self._always:
            return b - a
        total = ZERO
        day = self._local_date(a) - ONE_DAY
        first_whole_day = day + 2 * ONE_DAY
        last_day = self._local_date(b)
        while day <= last_day:
            if day >= first_whole_day and day + WEEK <= last_day and self._is_plain_week(day):
                total += self._weekly
                day += WEEK
                continue
            for s, e in self._spans(day):
                s, e = max(s, a), min(e, b)
                if e > s:
                    total += e - s
            day += ONE_DAY
        return total

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def _instant(self, day: date, minutes: int) -> datetime:
        # Wall-clock time to UTC through the zone, so "09:00" follows the day's own offset.
        local = datetime.combine(
            day + timedelta(days=minutes // MINUTES_A_DAY),
            time(minutes % MINUTES_A_DAY // 60, minutes % 60),
            tzinfo=self.zone,
        )
        return local.astimezone(UTC)

    def _spans(self, day: date) -> list[Span]:
        """The day's open intervals as UTC instants, in order."""
        if day in self._holidays:
            return []
        spans = [
            (self._instant(day, s), self._instant(day, e)) for s, e in self._week[day.weekday()]
        ]
        return [(s, e) for s, e in spans if e > s]

    def _is_plain_week(self, day: date) -> bool:
        """No holiday and one UTC offset all week: its open time is exactly the nominal week."""
        days = [day + timedelta(days=i) for i in range(8)]
        if any(d in self._holidays for d in days[:7]):
            return False
        return len({self._instant(d, 0) - datetime.combine(d, time(), UTC) for d in days}) == 1


ALWAYS = BusinessCalendar(
    CalendarConfig(timezone="UTC", hours={day: [("00:00", "24:00")] for day in WEEKDAYS})
)
