"""The helpdesk's KPIs over a period: one aggregation over the tickets, their history joined
in, folded into a typed report. The definitions are in docs/metrics.md."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ticketcore.calendar import BusinessCalendar, to_utc
from ticketcore.lifecycle import OPEN_STATUSES, Status
from ticketcore.models import LOW_CSAT, ActorKind, Channel
from ticketcore.outbox import HISTORY_STORE
from ticketcore.sla import SlaConfig
from ticketcore.store import Document, Store

OPEN = [s.value for s in Status if s in OPEN_STATUSES]
DONE = [Status.RESOLVED.value, Status.CLOSED.value]
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


def _pct(met: int, total: int) -> float | None:
    return 100.0 * met / total if total else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ------------------------------------------------------------------ the pipeline


def _within(value: str, period: Period) -> Document:
    return {"$and": [{"$gte": [value, period.start]}, {"$lt": [value, period.end]}]}


def _during(period: Period) -> Document:
    return {"$gte": period.start, "$lt": period.end}


def _entry(root: str, id_path: str) -> Document:
    """A history entry cut down to what the statistics read: the same shape whether it is
    stored (`root` "$") or still carried in the ticket's outbox, so duplicates collapse."""
    status = {
        "$arrayElemAt": [
            {
                "$filter": {
                    "input": {"$ifNull": [f"{root}changes", []]},
                    "cond": {"$eq": ["$$this.field", "status"]},
                }
            },
            0,
        ]
    }

    def side(name: str) -> Document:
        return {"$ifNull": [{"$let": {"vars": {"c": status}, "in": f"$$c.{name}"}}, None]}

    return {
        "id": id_path,
        "seq": f"{root}seq",
        "event": f"{root}event",
        "at": f"{root}at",
        "kind": f"{root}actor.kind",
        "actor": f"{root}actor.id",
        "old": side("old"),
        "new": side("new"),
    }


_TICKET: Document = {
    "status": 1,
    "assignee": 1,
    "queue": 1,
    "channel": 1,
    "language": "$player.language",
    "created_at": 1,
    "first_response_at": 1,
    "merged_into": 1,
    "reopened_from": 1,
    "csat": 1,
    "sla": 1,
}

_UNTOUCHED: Document = {name: 1 for name in ("status", "assignee", "created_at", "merged_into")}


def _carried(period: Period) -> Document:
    """History entries since the period's start still riding in the ticket's outbox."""
    records = {
        "$filter": {
            "input": {"$ifNull": ["$outbox", []]},
            "as": "r",
            "cond": {"$eq": ["$$r.kind", HISTORY_STORE]},
        }
    }
    entry = _entry("$$r.payload.entry.", "$$r.payload.entry.id")
    relevant = {"$or": [{"$eq": ["$$e.event", "reply.sent"]}, {"$ne": ["$$e.old", None]}]}
    return {
        "$filter": {
            "input": {"$map": {"input": records, "as": "r", "in": entry}},
            "as": "e",
            "cond": {"$and": [{"$gte": ["$$e.at", period.start]}, relevant]},
        }
    }


def _derived(period: Period) -> Document:
    """Per ticket, from its entries: the last resolution in the period, the reopenings in
    it, the status it had at the period's end, and the agents' replies in it."""

    def entries(cond: Document) -> Document:
        return {"$filter": {"input": "$entries", "as": "e", "cond": cond}}

    during = _within("$$e.at", period)
    resolutions = entries(
        {"$and": [during, {"$in": ["$$e.old", OPEN]}, {"$in": ["$$e.new", DONE]}]}
    )
    reopenings = entries(
        {"$and": [during, {"$eq": ["$$e.old", Status.RESOLVED.value]}, {"$in": ["$$e.new", OPEN]}]}
    )
    replies = entries(
        {
            "$and": [
                during,
                {"$eq": ["$$e.event", "reply.sent"]},
                {"$eq": ["$$e.kind", ActorKind.AGENT.value]},
            ]
        }
    )
    after_end = entries({"$and": [{"$gte": ["$$e.at", period.end]}, {"$ne": ["$$e.old", None]}]})
    # The first status change after the end says, by its old value, the status at the end.
    first_after = {
        "$reduce": {
            "input": after_end,
            "initialValue": None,
            "in": {
                "$cond": [
                    {"$or": [{"$eq": ["$$value", None]}, {"$lt": ["$$this.seq", "$$value.seq"]}]},
                    "$$this",
                    "$$value",
                ]
            },
        }
    }
    return {
        **{name: 1 for name in _TICKET},
        "done_at": {"$max": {"$map": {"input": resolutions, "as": "e", "in": "$$e.at"}}},
        "reopens": {"$size": reopenings},
        "status_at_end": {
            "$ifNull": [{"$let": {"vars": {"f": first_after}, "in": "$$f.old"}}, "$status"]
        },
        "replies": {"$map": {"input": replies, "as": "e", "in": "$$e.actor"}},
    }


def _seconds(end: str, start: str = "$created_at") -> Document:
    return {"$divide": [{"$subtract": [end, start]}, 1000]}


def _age_bucket(end: datetime) -> Document:
    age = {"$subtract": [end, "$created_at"]}
    branches = [
        {"case": {"$lt": [age, limit.total_seconds() * 1000]}, "then": name}
        for name, limit in AGE_BUCKETS
        if limit is not None
    ]
    return {"$switch": {"branches": branches, "default": AGE_BUCKETS[-1][0]}}


def _sla_outcomes(period: Period) -> list[Document]:
    """Each SLA target decided in the period: met when met by its due time (decided then),
    breached when met late or flagged breached (decided at its due time)."""
    target = "$t.v"
    met_at = f"{target}.met_at"
    return [
        {"$match": {"sla": {"$ne": None}}},
        {
            "$project": {
                "agent": "$assignee",
                "queue": 1,
                "t": {"$objectToArray": {"$ifNull": ["$sla.targets", {}]}},
            }
        },
        {"$unwind": "$t"},
        {
            "$project": {
                "target": "$t.k",
                "agent": 1,
                "queue": 1,
                "due_at": f"{target}.due_at",
                "met_at": met_at,
                "met": {
                    "$and": [
                        {"$ne": [{"$ifNull": [met_at, None]}, None]},
                        {"$lte": [met_at, f"{target}.due_at"]},
                    ]
                },
                "late": {
                    "$or": [
                        {"$gt": [met_at, f"{target}.due_at"]},
                        {"$eq": [f"{target}.breached", True]},
                    ]
                },
            }
        },
        {"$addFields": {"decided_at": {"$cond": ["$met", "$met_at", "$due_at"]}}},
        {"$match": {"$or": [{"met": True}, {"late": True}], "decided_at": _during(period)}},
        {
            "$group": {
                "_id": {"target": "$target", "agent": "$agent", "queue": "$queue"},
                "met": {"$sum": {"$cond": ["$met", 1, 0]}},
                "n": {"$sum": 1},
            }
        },
    ]


# ------------------------------------------------------------------ the report


class Stats:
    """Reports over the store; with a calendar, durations count its business hours only."""

    def __init__(self, store: Store, calendar: BusinessCalendar | None = None) -> None:
        self.store = store
        self.calendar = calendar

    @property
    def zone(self) -> str:
        """The time zone days are counted in: the calendar's, else UTC."""
        return "UTC" if self.calendar is None else self.calendar.config.timezone

    def report(
        self,
        period: Period,
        *,
        queue: str | None = None,
        channel: Channel | str | None = None,
        language: str | None = None,
        agent: str | None = None,
        group_by_day: bool = True,
    ) -> Report:
        """Every metric of the period in one aggregate call over the tickets."""
        pipeline = self.pipeline(
            period,
            queue=queue,
            channel=channel,
            language=language,
            agent=agent,
            group_by_day=group_by_day,
        )
        (facets,) = self.store.tickets.aggregate(pipeline)
        return self._fold(facets, period, group_by_day=group_by_day)

    def pipeline(
        self,
        period: Period,
        *,
        queue: str | None = None,
        channel: Channel | str | None = None,
        language: str | None = None,
        agent: str | None = None,
        group_by_day: bool = True,
    ) -> list[Document]:
        """The aggregation over `tickets` behind a report (exposed for explain and benchmarks)."""
        filters = {
            name: value
            for name, value in (
                ("queue", queue),
                ("channel", None if channel is None else str(channel)),
                ("player.language", language),
            )
            if value is not None
        }
        # After the indexed $match, in a stage of their own: a server that picks an index
        # only for a $match it fully covers still uses the one on updated_at or status.
        narrow = [{"$match": filters}] if filters else []
        history = [
            {"$match": {"at": {"$gte": period.start}}},
            {"$match": {"$or": [{"event": "reply.sent"}, {"changes.field": "status"}]}},
            {"$project": {"_id": 0, **_entry("$", "$_id")}},
        ]
        # Every ticket a metric of the period can see changed since its start, or is open
        # now; each leg starts on an index of its own. A ticket untouched since the start
        # has no event in the period: it counts only in the backlog and open_now.
        still_open = [
            {"$match": {"status": {"$in": OPEN}}},
            {"$match": {"updated_at": {"$lt": period.start}}},
            *narrow,
            {"$project": {**_UNTOUCHED, "status_at_end": "$status"}},
        ]
        return [
            {"$match": {"updated_at": {"$gte": period.start}}},
            *narrow,
            {"$project": {**_TICKET, "carried": _carried(period)}},
            {
                "$lookup": {
                    "from": self.store.history.name,
                    "localField": "_id",
                    "foreignField": "ticket_id",
                    "pipeline": history,
                    "as": "stored",
                }
            },
            {"$addFields": {"entries": {"$setUnion": ["$stored", "$carried"]}}},
            {"$project": _derived(period)},
            {"$unionWith": {"coll": self.store.tickets.name, "pipeline": still_open}},
            {"$facet": self._facets(period, agent=agent, group_by_day=group_by_day)},
        ]

    def _facets(
        self, period: Period, *, agent: str | None, group_by_day: bool
    ) -> dict[str, list[Document]]:
        # Merged tickets are duplicates: only the agents' replies on them still count.
        scope: Document = {"merged_into": None}
        if agent is not None:
            scope["assignee"] = agent

        def day(value: str) -> Document | None:
            if not group_by_day:
                return None
            return {"$dateToString": {"format": "%Y-%m-%d", "date": value, "timezone": self.zone}}

        def counted(**extra: Any) -> Document:
            return {"queue": "$queue", "channel": "$channel", "language": "$language", **extra}

        first = {**scope, "first_response_at": _during(period)}
        done = {**scope, "done_at": _during(period)}
        asked = {"$in": ["$channel", CSAT_ASKED]}
        facets: dict[str, list[Document]] = {
            "created": [
                {"$match": {**scope, "created_at": _during(period)}},
                {
                    "$group": {
                        "_id": counted(day=day("$created_at")),
                        "n": {"$sum": 1},
                        "linked": {"$sum": {"$cond": [{"$gt": ["$reopened_from", None]}, 1, 0]}},
                    }
                },
            ],
            "resolved": [
                {"$match": done},
                {
                    "$group": {
                        "_id": counted(day=day("$done_at"), agent="$assignee"),
                        "n": {"$sum": 1},
                        "asked": {"$sum": {"$cond": [asked, 1, 0]}},
                        "rated": {
                            "$sum": {"$cond": [{"$and": [asked, {"$gt": ["$csat", None]}]}, 1, 0]}
                        },
                    }
                },
            ],
            "reopened": [
                {"$match": {**scope, "reopens": {"$gt": 0}}},
                {"$group": {"_id": None, "n": {"$sum": "$reopens"}}},
            ],
            "csat": [
                {"$match": {**scope, "csat.at": _during(period)}},
                {
                    "$group": {
                        "_id": None,
                        "n": {"$sum": 1},
                        "total": {"$sum": "$csat.score"},
                        "low": {"$sum": {"$cond": [{"$lte": ["$csat.score", LOW_CSAT]}, 1, 0]}},
                    }
                },
            ],
            "sla": [{"$match": scope}, *_sla_outcomes(period)],
            "backlog": [
                {"$match": {**scope, "created_at": {"$lt": period.end}}},
                {"$match": {"status_at_end": {"$in": OPEN}}},
                {
                    "$group": {
                        "_id": {"status": "$status_at_end", "age": _age_bucket(period.end)},
                        "n": {"$sum": 1},
                    }
                },
            ],
            "open_now": [
                {"$match": {**scope, "status": {"$in": OPEN}}},
                {"$group": {"_id": "$assignee", "n": {"$sum": 1}}},
            ],
            "replies": [
                {"$unwind": "$replies"},
                *([{"$match": {"replies": agent}}] if agent is not None else []),
                {"$group": {"_id": "$replies", "n": {"$sum": 1}}},
            ],
        }
        if self.calendar is not None:
            # Business time is counted here, in Python, from the pairs of instants.
            pair = {"_id": 0, "a": "$created_at", "agent": "$assignee"}
            facets["first_response"] = [
                {"$match": first},
                {"$project": {**pair, "b": "$first_response_at"}},
            ]
            facets["resolution"] = [{"$match": done}, {"$project": {**pair, "b": "$done_at"}}]
            return facets
        first_seconds = _seconds("$first_response_at")
        facets["first_response"] = [{"$match": first}, _percentile_group(first_seconds)]
        facets["first_response_by_agent"] = [
            {"$match": first},
            {
                "$group": {
                    "_id": "$assignee",
                    "median": {"$median": {"input": first_seconds, "method": "approximate"}},
                }
            },
        ]
        facets["resolution"] = [{"$match": done}, _percentile_group(_seconds("$done_at"))]
        return facets

    # -------------------------------------------------------------- folding

    def _fold(self, facets: Document, period: Period, *, group_by_day: bool) -> Report:
        created, resolved = facets["created"], facets["resolved"]
        first, first_by_agent = self._durations(facets["first_response"])
        if self.calendar is None:
            first_by_agent = {r["_id"]: r["median"] for r in facets["first_response_by_agent"]}
        resolution, _ = self._durations(facets["resolution"])
        sla, sla_by_agent = _sla(facets["sla"])
        csat = facets["csat"][0] if facets["csat"] else {"n": 0, "total": 0, "low": 0}
        by_agent = _agents(
            replies=_counts(facets["replies"]),
            resolved=_sums(resolved, "agent"),
            open_now=_counts(facets["open_now"]),
            first_response=first_by_agent,
            sla=sla_by_agent,
        )
        by_day = None
        if group_by_day:
            made, done = _sums(created, "day"), _sums(resolved, "day")
            by_day = tuple(
                DayCount(d, made.get(d.isoformat(), 0), done.get(d.isoformat(), 0))
                for d in period.days(self.zone)
            )
        return Report(
            period=period,
            business_hours=self.calendar is not None,
            created=sum(r["n"] for r in created),
            resolved=sum(r["n"] for r in resolved),
            reopened=sum(r["linked"] for r in created) + sum(r["n"] for r in facets["reopened"]),
            first_response_seconds=first,
            resolution_seconds=resolution,
            sla_met_pct=sla,
            csat_avg=csat["total"] / csat["n"] if csat["n"] else None,
            csat_low_share=_share(csat["low"], csat["n"]),
            csat_response_rate=_share(
                sum(r["rated"] for r in resolved), sum(r["asked"] for r in resolved)
            ),
            backlog=_backlog(facets["backlog"]),
            by_agent=by_agent,
            by_queue=_groups(created, resolved, "queue"),
            by_channel=_groups(created, resolved, "channel"),
            by_language=_groups(created, resolved, "language"),
            by_day=by_day,
        )

    def _durations(
        self, rows: list[Document]
    ) -> tuple[Percentiles, dict[str | None, float | None]]:
        """Overall percentiles and per-agent medians, from the server's percentiles or, in
        business hours, from the pairs of instants."""
        if self.calendar is None:
            if not rows:
                return Percentiles(), {}
            median, p90 = rows[0]["p"]
            return Percentiles(median, p90), {}
        calendar = self.calendar
        seconds = [(r.get("agent"), calendar.between(r["a"], r["b"]).total_seconds()) for r in rows]
        per_agent: dict[str | None, list[float]] = defaultdict(list)
        for who, value in seconds:
            per_agent[who].append(value)
        medians = {who: nearest_rank(values, 0.5) for who, values in per_agent.items()}
        return percentiles([value for _, value in seconds]), medians


def _percentile_group(seconds: Document) -> Document:
    spec = {"input": seconds, "p": [0.5, 0.9], "method": "approximate"}
    return {"$group": {"_id": None, "p": {"$percentile": spec}}}


def _counts(rows: Iterable[Document]) -> dict[Any, int]:
    return {row["_id"]: int(row["n"]) for row in rows}


def _sums(rows: Iterable[Document], key: str) -> dict[Any, int]:
    totals: Counter[Any] = Counter()
    for row in rows:
        totals[row["_id"].get(key)] += int(row["n"])
    return dict(totals)


def _ordered(keys: Iterable[str | None]) -> list[str | None]:
    return sorted(set(keys), key=lambda k: (k is None, k or ""))


def _groups(created: list[Document], resolved: list[Document], key: str) -> tuple[GroupCount, ...]:
    made, done = _sums(created, key), _sums(resolved, key)
    return tuple(GroupCount(k, made.get(k, 0), done.get(k, 0)) for k in _ordered([*made, *done]))


def _sla(rows: list[Document]) -> tuple[SlaCompliance, dict[str | None, float | None]]:
    totals: dict[str, dict[Any, list[int]]] = {
        dimension: defaultdict(lambda: [0, 0]) for dimension in ("all", "target", "queue", "agent")
    }
    for row in rows:
        for dimension in totals:
            key = None if dimension == "all" else row["_id"].get(dimension)
            totals[dimension][key][0] += int(row["met"])
            totals[dimension][key][1] += int(row["n"])

    def pct(dimension: str) -> dict[Any, float | None]:
        counts = totals[dimension]
        return {k: _pct(*counts[k]) for k in _ordered(counts)}

    compliance = SlaCompliance(
        overall=pct("all").get(None),
        by_target=pct("target"),
        by_queue=pct("queue"),
    )
    return compliance, pct("agent")


def _backlog(rows: list[Document]) -> Backlog:
    by_status = dict.fromkeys(OPEN, 0)
    by_age = {name: 0 for name, _ in AGE_BUCKETS}
    for row in rows:
        by_status[row["_id"]["status"]] += int(row["n"])
        by_age[row["_id"]["age"]] += int(row["n"])
    return Backlog(by_status, by_age)


def _agents(
    *,
    replies: Mapping[Any, int],
    resolved: Mapping[Any, int],
    open_now: Mapping[Any, int],
    first_response: Mapping[Any, float | None],
    sla: Mapping[Any, float | None],
) -> tuple[AgentLoad, ...]:
    """One row per agent seen in any of the measures; unassigned work belongs to nobody."""
    agents = {*replies, *resolved, *open_now, *first_response, *sla} - {None}
    return tuple(
        AgentLoad(
            agent=agent,
            replies=replies.get(agent, 0),
            resolved=resolved.get(agent, 0),
            open_now=open_now.get(agent, 0),
            first_response_median=first_response.get(agent),
            sla_met_pct=sla.get(agent),
        )
        for agent in sorted(agents)
    )


def hand_written_first_response_median(store: Store, period: Period) -> float | None:
    """The first-response median of the period in the plainest single aggregation."""
    rows = store.tickets.aggregate(
        [
            {"$match": {"first_response_at": _during(period), "merged_into": None}},
            {
                "$group": {
                    "_id": None,
                    "median": {
                        "$median": {
                            "input": _seconds("$first_response_at"),
                            "method": "approximate",
                        }
                    },
                }
            },
        ]
    )
    return next((row["median"] for row in rows), None)


def business_calendar(sla: SlaConfig | None) -> BusinessCalendar | None:
    """The calendar reports count in: the flows file's SLA calendar, if it sets one."""
    return BusinessCalendar(sla.calendar) if sla is not None and sla.calendar else None
