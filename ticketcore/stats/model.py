"""What a report is: the period it covers and the figures it holds, as plain values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ticketcore.calendar import to_utc
from ticketcore.lifecycle import DONE_STATUSES, OPEN_STATUSES, Status
from ticketcore.models import Channel

OPEN = [s.value for s in Status if s in OPEN_STATUSES]
DONE = [s.value for s in Status if s in DONE_STATUSES]
# The channels on which a resolved ticket's player is asked for a score.
CSAT_ASKED = [Channel.EMAIL.value, Channel.TELEGRAM.value]
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1d", timedelta(days=1)),
    ("1-3d", timedelta(days=3)),
    ("3-7d", timedelta(days=7)),
    (">7d", None),
)
_DAYS = re.compile(r"^([1-9]\d{0,3})d$")


@dataclass(frozen=True)
class Period:
    """The half-open interval [start, end) a report covers, kept in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = to_utc(self.start), to_utc(self.end)
        if end < start:
            raise ValueError(f"a period ends after it starts: {start} > {end}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def parse(cls, text: str, *, now: datetime, zone: str | tzinfo = UTC) -> Period:
        """`7d`, `30d` (whole days back from `now`), `today` or `yesterday` (days in `zone`)."""
        value = text.strip().lower()
        local = ZoneInfo(zone) if isinstance(zone, str) else zone
        today = datetime.combine(now.astimezone(local).date(), time(), tzinfo=local)
        if value == "today":
            return cls(today, now)
        if value == "yesterday":
            return cls(datetime.combine(today.date() - timedelta(days=1), time(), local), today)
        if match := _DAYS.match(value):
            return cls(now - timedelta(days=int(match[1])), now)
        raise ValueError(f"{text!r} is not a period; write e.g. 7d, 30d, today or yesterday")

    def days(self, zone: str) -> list[date]:
        """The local dates the period touches, oldest first."""
        if self.end == self.start:
            return []
        local = ZoneInfo(zone)
        first = self.start.astimezone(local).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(local).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class Percentiles:
    """Median and 90th percentile in seconds; None without data."""

    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class SlaCompliance:
    """Share of decided SLA targets that were met, in percent (None: none decided)."""

    overall: float | None
    by_target: Mapping[str, float | None]
    by_queue: Mapping[str | None, float | None]


@dataclass(frozen=True)
class Backlog:
    """Open tickets at the end of the period."""

    by_status: Mapping[str, int]
    by_age: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class AgentLoad:
    agent: str
    replies: int = 0
    resolved: int = 0
    open_now: int = 0
    first_response_median: float | None = None
    sla_met_pct: float | None = None


@dataclass(frozen=True)
class DayCount:
    day: date
    created: int
    resolved: int


@dataclass(frozen=True)
class GroupCount:
    key: str | None
    created: int
    resolved: int


@dataclass(frozen=True)
class Report:
    period: Period
    business_hours: bool
    created: int
    resolved: int
    reopened: int
    first_response_seconds: Percentiles
    resolution_seconds: Percentiles
    sla_met_pct: SlaCompliance
    csat_avg: float | None
    csat_low_share: float | None
    csat_response_rate: float | None
    backlog: Backlog
    by_agent: tuple[AgentLoad, ...]
    by_queue: tuple[GroupCount, ...]
    by_channel: tuple[GroupCount, ...]
    by_language: tuple[GroupCount, ...]
    by_day: tuple[DayCount, ...] | None = None

    @property
    def by_week(self) -> tuple[DayCount, ...] | None:
        """The day series summed per ISO week, each named by its Monday."""
        if self.by_day is None:
            return None
        weeks: dict[date, tuple[int, int]] = {}
        for row in self.by_day:
            monday = row.day - timedelta(days=row.day.weekday())
            created, resolved = weeks.get(monday, (0, 0))
            weeks[monday] = (created + row.created, resolved + row.resolved)
        return tuple(DayCount(day, c, r) for day, (c, r) in weeks.items())

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values: dates as ISO text, durations in seconds."""

        def series(rows: tuple[DayCount, ...] | None) -> list[dict[str, Any]] | None:
            if rows is None:
                return None
            return [
                {"date": r.day.isoformat(), "created": r.created, "resolved": r.resolved}
                for r in rows
            ]

        def groups(rows: tuple[GroupCount, ...]) -> list[dict[str, Any]]:
            return [{"key": r.key, "created": r.created, "resolved": r.resolved} for r in rows]

        def pct(values: Mapping[str | None, float | None]) -> dict[str, float | None]:
            return {"" if k is None else k: v for k, v in values.items()}

        return {
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "business_hours": self.business_hours,
            "created": self.created,
            "resolved": self.resolved,
            "reopened": self.reopened,
            "first_response_seconds": _percentiles_json(self.first_response_seconds),
            "resolution_seconds": _percentiles_json(self.resolution_seconds),
            "sla_met_pct": {
                "overall": self.sla_met_pct.overall,
                "by_target": dict(self.sla_met_pct.by_target),
                "by_queue": pct(self.sla_met_pct.by_queue),
            },
            "csat_avg": self.csat_avg,
            "csat_low_share": self.csat_low_share,
            "csat_response_rate": self.csat_response_rate,
            "backlog": {
                "total": self.backlog.total,
                "by_status": dict(self.backlog.by_status),
                "by_age": dict(self.backlog.by_age),
            },
            "by_agent": [
                {
                    "agent": a.agent,
                    "replies": a.replies,
                    "resolved": a.resolved,
                    "open_now": a.open_now,
                    "first_response_median": a.first_response_median,
                    "sla_met_pct": a.sla_met_pct,
                }
                for a in self.by_agent
            ],
            "by_queue": groups(self.by_queue),
            "by_channel": groups(self.by_channel),
            "by_language": groups(self.by_language),
            "by_day": series(self.by_day),
            "by_week": series(self.by_week),
        }


def _percentiles_json(value: Percentiles) -> dict[str, float | None]:
    return {"median": value.median, "p90": value.p90}


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The ceil(p·n)-th smallest value, as MongoDB's $percentile and $median pick it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def percentiles(values: Sequence[float]) -> Percentiles:
    return Percentiles(nearest_rank(values, 0.5), nearest_rank(values, 0.9))
