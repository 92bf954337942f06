"""Reports over the store: the aggregations run, their rows folded into a typed report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ticketcore.calendar import BusinessCalendar, to_utc
from ticketcore.models import Channel
from ticketcore.sla import SlaConfig
from ticketcore.stats import pipeline
from ticketcore.stats.model import (
    AGE_BUCKETS,
    CSAT_ASKED,
    OPEN,
    AgentLoad,
    Backlog,
    DayCount,
    GroupCount,
    Percentiles,
    Period,
    Report,
    SlaCompliance,
    nearest_rank,
    percentiles,
)
from ticketcore.store import Document, Store


def zone_of(calendar: BusinessCalendar | None) -> str:
    """The time zone a report counts days in: the calendar's, else UTC."""
    return "UTC" if calendar is None else calendar.config.timezone


class Stats:
    """Reports over the store; with a calendar, durations count its business hours only."""

    def __init__(self, store: Store, calendar: BusinessCalendar | None = None) -> None:
        self.store = store
        self.calendar = calendar

    @property
    def zone(self) -> str:
        return zone_of(self.calendar)

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
        """Every metric of the period: one aggregation over the tickets changed since its
        start, and one over those open and untouched since (they count in the backlog and
        open now only)."""
        main, untouched = self.pipelines(
            period,
            queue=queue,
            channel=channel,
            language=language,
            agent=agent,
            group_by_day=group_by_day,
        )
        (facets,) = self.store.tickets.aggregate(main)
        facets["open"] += list(self.store.tickets.aggregate(untouched))
        return self._fold(facets, period, group_by_day=group_by_day)

    def pipelines(
        self,
        period: Period,
        *,
        queue: str | None = None,
        channel: Channel | str | None = None,
        language: str | None = None,
        agent: str | None = None,
        group_by_day: bool = True,
    ) -> tuple[list[Document], list[Document]]:
        """The two aggregations behind a report, the main one and the one over open tickets
        untouched since the start (exposed for explain and benchmarks)."""
        narrow = _narrow(queue, channel, language)
        branches = pipeline.Branches(period, agent=agent, by_day=group_by_day)
        main = [*pipeline.changed(period, narrow=narrow, agent=agent), {"$facet": branches.all()}]
        return main, pipeline.open_untouched(period, narrow=narrow, agent=agent)

    # -------------------------------------------------------------- folding

    def _fold(self, facets: Document, period: Period, *, group_by_day: bool) -> Report:
        created, resolved = facets["created"], facets["resolved"]
        first, first_by_agent = self._durations(
            (row["_id"], pair) for row in facets["first_response"] for pair in row["pairs"]
        )
        resolution, _ = self._durations(
            (row["_id"].get("agent"), pair) for row in resolved for pair in row["pairs"]
        )
        sla, sla_by_agent = _sla(facets["sla"])
        csat = facets["csat"][0] if facets["csat"] else {"n": 0, "total": 0, "low": 0}
        open_rows = facets["open"]
        asked = [row for row in resolved if row["_id"].get("channel") in CSAT_ASKED]
        by_agent = _agents(
            replies=_counts(facets["replies"]),
            resolved=_sums(resolved, "agent"),
            open_now=_sums((r for r in open_rows if r["_id"]["open"]), "agent"),
            first_response=first_by_agent,
            sla=sla_by_agent,
        )
        by_day = None
        if group_by_day:
            made = self._days(at for row in created for at in row["at"])
            done = self._days(pair["b"] for row in resolved for pair in row["pairs"])
            by_day = tuple(DayCount(d, made[d], done[d]) for d in period.days(self.zone))
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
                sum(r["n"] for r in asked if r["_id"]["rated"]), sum(r["n"] for r in asked)
            ),
            backlog=_backlog(open_rows),
            by_agent=by_agent,
            by_queue=_groups(created, resolved, "queue"),
            by_channel=_groups(created, resolved, "channel"),
            by_language=_groups(created, resolved, "language"),
            by_day=by_day,
        )

    def _days(self, moments: Iterable[datetime]) -> Counter[date]:
        """How many of `moments` fall on each local day."""
        zone = ZoneInfo(self.zone)
        return Counter(to_utc(moment).astimezone(zone).date() for moment in moments)

    def _durations(
        self, pairs: Iterable[tuple[str | None, Document]]
    ) -> tuple[Percentiles, dict[str | None, float | None]]:
        """Overall percentiles and per-agent medians of the (start, end) pairs: wall-clock
        seconds (as exact as the server's), or business seconds with a calendar."""
        per_agent: dict[str | None, list[float]] = defaultdict(list)
        for who, pair in pairs:
            per_agent[who].append(self._seconds(pair["a"], pair["b"]))
        medians = {who: nearest_rank(values, 0.5) for who, values in per_agent.items()}
        return percentiles([v for values in per_agent.values() for v in values]), medians

    def _seconds(self, start: datetime, end: datetime) -> float:
        if self.calendar is None:
            return (end - start).total_seconds()
        return self.calendar.between(start, end).total_seconds()


def _narrow(queue: str | None, channel: Channel | str | None, language: str | None) -> Document:
    """The filters, as a `$match` on the ticket's fields now."""
    return {
        name: value
        for name, value in (
            ("queue", queue),
            ("channel", None if channel is None else str(channel)),
            ("player.language", language),
        )
        if value is not None
    }


def _pct(met: int, total: int) -> float | None:
    return 100.0 * met / total if total else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


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
        decided = int(row["n"])
        met = decided if row["_id"]["met"] else 0
        for dimension in totals:
            key = None if dimension == "all" else row["_id"].get(dimension)
            totals[dimension][key][0] += met
            totals[dimension][key][1] += decided

    def pct(dimension: str) -> dict[Any, float | None]:
        counts = totals[dimension]
        return {k: _pct(*counts[k]) for k in _ordered(counts)}

    compliance = SlaCompliance(
        overall=pct("all").get(None),
        by_target=pct("target"),
        by_queue=pct("queue"),
    )
    return compliance, pct("agent")


def _backlog(rows: Iterable[Document]) -> Backlog:
    """From the `open` rows: those with a status at the end are the backlog."""
    by_status = dict.fromkeys(OPEN, 0)
    by_age = {name: 0 for name, _ in AGE_BUCKETS}
    for row in rows:
        status, age = row["_id"]["status"], row["_id"]["age"]
        if status is not None:
            by_status[status] += int(row["n"])
            by_age[age] += int(row["n"])
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
    seconds = {"$divide": [{"$subtract": ["$first_response_at", "$created_at"]}, 1000]}
    rows = store.tickets.aggregate(
        [
            {"$match": {"first_response_at": pipeline.during(period), "merged_into": None}},
            {
                "$group": {
                    "_id": None,
                    "median": {"$median": {"input": seconds, "method": "approximate"}},
                }
            },
        ]
    )
    return next((row["median"] for row in rows), None)


def business_calendar(sla: SlaConfig | None) -> BusinessCalendar | None:
    """The calendar reports count in: the flows file's SLA calendar, if it sets one."""
    return BusinessCalendar(sla.calendar) if sla is not None and sla.calendar else None
