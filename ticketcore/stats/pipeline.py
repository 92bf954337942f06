"""The aggregations behind a report, over `tickets` alone.

Every ticket carries what the report needs of its past: `writes.STATUS_MOVES` and
`writes.AGENT_REPLIES`, appended by the same update as each change, oldest first. So no
history is read. The embedded server evaluates expressions in Python, node by node and
element by element, so the stages are shaped to evaluate few: query-language `$match`es
(cheap) narrow each `$facet` branch before it computes anything, and a value read from a
ticket's moves takes a fast path that looks at its last moves only whenever the ticket has
no move at or after the period's end, leaving the element-by-element `$filter` to the few
tickets that need it. Durations and days come back as instants, counted in Python (which
also applies a business calendar where a pipeline cannot).
"""

from __future__ import annotations

from datetime import datetime

from ticketcore.lifecycle import Status
from ticketcore.models import LOW_CSAT
from ticketcore.stats.model import AGE_BUCKETS, DONE, OPEN, Period
from ticketcore.store import Document
from ticketcore.writes import AGENT_REPLIES, STATUS_MOVES

RESOLVED = Status.RESOLVED.value
MOVES = f"${STATUS_MOVES}"
REPLIES = f"${AGENT_REPLIES}"


def during(period: Period) -> Document:
    return {"$gte": period.start, "$lt": period.end}


def _bounds(value: str, period: Period) -> list[Document]:
    """`value` falls in the period, as conditions to `$and` with others."""
    return [{"$gte": [value, period.start]}, {"$lt": [value, period.end]}]


def _moves_where(cond: Document) -> Document:
    return {"$filter": {"input": {"$ifNull": [MOVES, []]}, "as": "m", "cond": cond}}


def _last_move(then: Document) -> Document:
    """`then` with `$$last` bound to the ticket's latest move (null without moves)."""
    return {"$let": {"vars": {"last": {"$arrayElemAt": [MOVES, -1]}}, "in": then}}


def _settled_before(end: datetime) -> Document:
    """Inside `_last_move`: no move at or after `end`, so the ticket's status then is its
    status now. Moves are in time order; without any, null sorts before every date."""
    return {"$lt": ["$$last.at", end]}


def status_at_end(period: Period) -> Document:
    """The status at the period's end: the `old` of the first move after it, else now's."""
    first_after = {"$arrayElemAt": [_moves_where({"$gte": ["$$m.at", period.end]}), 0]}
    return _last_move(
        {
            "$cond": [
                _settled_before(period.end),
                "$status",
                {"$let": {"vars": {"first": first_after}, "in": "$$first.old"}},
            ]
        }
    )


def done_at(period: Period) -> Document:
    """When the ticket was last resolved (an open status moved to resolved or closed) in
    the period; a time outside it (to be matched away) or null when it was not.

    Fast path, for a ticket resolved or closed now with no move since the end: its last
    move is its last resolution, unless that move is `resolved -> closed`, whose
    resolution is the move before (only an open status moves to resolved, and closed is
    final). Otherwise the resolutions in the period are filtered out one by one."""
    before_last = {"$let": {"vars": {"m": {"$arrayElemAt": [MOVES, -2]}}, "in": "$$m.at"}}
    latest = {"$cond": [{"$eq": ["$$last.old", RESOLVED]}, before_last, "$$last.at"]}
    resolutions = _moves_where(
        {
            "$and": [
                *_bounds("$$m.at", period),
                {"$in": ["$$m.new", DONE]},
                {"$in": ["$$m.old", OPEN]},
            ]
        }
    )
    in_period = {"$max": {"$map": {"input": resolutions, "as": "m", "in": "$$m.at"}}}
    settled = {"$and": [{"$in": ["$status", DONE]}, _settled_before(period.end)]}
    return _last_move({"$cond": [settled, latest, in_period]})


def _reopenings(period: Period) -> Document:
    """How many times the ticket moved from resolved back to an open status in the period."""
    cond = {
        "$and": [
            {"$eq": ["$$m.old", RESOLVED]},
            {"$in": ["$$m.new", OPEN]},
            *_bounds("$$m.at", period),
        ]
    }
    return {"$size": _moves_where(cond)}


def _age_bucket(end: datetime) -> Document:
    age = {"$subtract": [end, "$created_at"]}
    branches = [
        {"case": {"$lt": [age, limit.total_seconds() * 1000]}, "then": name}
        for name, limit in AGE_BUCKETS
        if limit is not None
    ]
    return {"$switch": {"branches": branches, "default": AGE_BUCKETS[-1][0]}}


def _pair(end: str) -> Document:
    """A duration as the instants it runs between: counted in Python, on the wall clock or
    in business hours."""
    return {"$push": {"a": "$created_at", "b": end}}


# ------------------------------------------------------------------ the branches


class Branches:
    """The `$facet` branches of a report over the tickets changed since the period's start,
    each narrowed by a query-language `$match` before it computes anything."""

    def __init__(self, period: Period, *, agent: str | None, by_day: bool) -> None:
        self.period = period
        self.agent = agent
        self.by_day = by_day
        # Merged tickets are duplicates: only the agents' replies on them still count.
        self.scope: Document = {"merged_into": None}
        if agent is not None:
            self.scope["assignee"] = agent

    def all(self) -> dict[str, list[Document]]:
        return {
            "created": self.created(),
            "resolved": self.resolved(),
            "reopened": self.reopened(),
            "first_response": self.first_response(),
            "csat": self.csat(),
            "sla": self.sla(),
            "open": self.open(),
            "replies": self.replies(),
        }

    def created(self) -> list[Document]:
        """Counts by queue, channel and language, with the creation times for the days."""
        group: Document = {
            "_id": {"queue": "$queue", "channel": "$channel", "language": "$player.language"},
            "n": {"$sum": 1},
            "linked": {"$sum": {"$cond": [{"$gt": ["$reopened_from", None]}, 1, 0]}},
        }
        if self.by_day:
            group["at"] = {"$push": "$created_at"}
        return [{"$match": {**self.scope, "created_at": during(self.period)}}, {"$group": group}]

    def resolved(self) -> list[Document]:
        """Counts by queue, channel, language, agent and whether the ticket carries a
        score now, with each resolution as a (created, resolved) pair."""
        key = {
            "queue": "$queue",
            "channel": "$channel",
            "language": "$player.language",
            "agent": "$assignee",
            "rated": {"$gt": ["$csat", None]},
        }
        return [
            {"$match": self.scope},
            {
                "$project": {
                    "_id": 0,
                    "key": key,
                    "created_at": "$created_at",
                    "done_at": done_at(self.period),
                }
            },
            {"$match": {"done_at": during(self.period)}},
            {"$group": {"_id": "$key", "n": {"$sum": 1}, "pairs": _pair("$done_at")}},
        ]

    def reopened(self) -> list[Document]:
        reopening = {"old": RESOLVED, "new": {"$in": OPEN}, "at": during(self.period)}
        return [
            {"$match": {**self.scope, STATUS_MOVES: {"$elemMatch": reopening}}},
            {"$group": {"_id": None, "n": {"$sum": _reopenings(self.period)}}},
        ]

    def first_response(self) -> list[Document]:
        return [
            {"$match": {**self.scope, "first_response_at": during(self.period)}},
            {"$group": {"_id": "$assignee", "pairs": _pair("$first_response_at")}},
        ]

    def csat(self) -> list[Document]:
        return [
            {"$match": {**self.scope, "csat.at": during(self.period)}},
            {
                "$group": {
                    "_id": None,
                    "n": {"$sum": 1},
                    "total": {"$sum": "$csat.score"},
                    "low": {"$sum": {"$cond": [{"$lte": ["$csat.score", LOW_CSAT]}, 1, 0]}},
                }
            },
        ]

    def sla(self) -> list[Document]:
        """Each SLA target decided in the period, by whether it was met: met when met by
        its due time (decided then), breached when met late or flagged breached and never
        met (decided at its due time)."""
        met_at, due_at = "$t.v.met_at", "$t.v.due_at"
        during_it = during(self.period)
        return [
            {"$match": {**self.scope, "sla.targets": {"$ne": None}}},
            {
                "$project": {
                    "_id": 0,
                    "agent": "$assignee",
                    "queue": "$queue",
                    "t": {"$objectToArray": "$sla.targets"},
                }
            },
            {"$unwind": "$t"},
            {
                "$match": {
                    "$or": [
                        {"t.v.met_at": during_it, "$expr": {"$lte": [met_at, due_at]}},
                        {"t.v.due_at": during_it, "$expr": {"$gt": [met_at, due_at]}},
                        {"t.v.due_at": during_it, "t.v.breached": True, "t.v.met_at": None},
                    ]
                }
            },
            {
                "$group": {
                    "_id": {
                        "target": "$t.k",
                        "agent": "$agent",
                        "queue": "$queue",
                        # Null sorts before every date: never met is not met.
                        "met": {"$and": [{"$gt": [met_at, None]}, {"$lte": [met_at, due_at]}]},
                    },
                    "n": {"$sum": 1},
                }
            },
        ]

    def open(self) -> list[Document]:
        """The tickets open now (by assignee) and those open at the end (by status then and
        age): only these can be either."""
        end = self.period.end
        backlogged = {"$and": [{"$lt": ["$created_at", end]}, {"$in": ["$at_end", OPEN]}]}
        return [
            {
                "$match": {
                    **self.scope,
                    # A ticket moved since the end was changed since.
                    "$or": [{"status": {"$in": OPEN}}, {"updated_at": {"$gte": end}}],
                }
            },
            {
                "$project": {
                    "_id": 0,
                    "assignee": "$assignee",
                    "created_at": "$created_at",
                    "open": {"$in": ["$status", OPEN]},
                    "at_end": status_at_end(self.period),
                }
            },
            {
                "$group": {
                    "_id": {
                        "agent": "$assignee",
                        "open": "$open",
                        "status": {"$cond": [backlogged, "$at_end", None]},
                        "age": {"$cond": [backlogged, _age_bucket(end), None]},
                    },
                    "n": {"$sum": 1},
                }
            },
        ]

    def replies(self) -> list[Document]:
        """Agents' replies in the period, on any ticket, merged ones included."""
        sent: Document = {f"{AGENT_REPLIES}.at": during(self.period)}
        if self.agent is not None:
            sent[f"{AGENT_REPLIES}.by"] = self.agent
        return [
            {"$unwind": REPLIES},
            {"$match": sent},
            {"$group": {"_id": f"{REPLIES}.by", "n": {"$sum": 1}}},
        ]


def open_untouched(period: Period, *, narrow: Document, agent: str | None) -> list[Document]:
    """The tickets open now and unchanged since the period's start, in rows like the
    `open` branch's: their status then is their status now, and they were created before
    the end. Its own aggregation, starting on the `status` index, so that no stage scans
    every ticket."""
    scope: Document = {**narrow, "merged_into": None}
    if agent is not None:
        scope["assignee"] = agent
    return [
        {"$match": {"status": {"$in": OPEN}}},
        {"$match": {"updated_at": {"$lt": period.start}, **scope}},
        {
            "$group": {
                "_id": {
                    "agent": "$assignee",
                    "open": True,
                    "status": "$status",
                    "age": _age_bucket(period.end),
                },
                "n": {"$sum": 1},
            }
        },
    ]


def changed(period: Period, *, narrow: Document, agent: str | None) -> list[Document]:
    """The tickets a report over the period can see, beyond those open and untouched: any
    with an event in the period changed since its start. The first `$match` rides the
    `updated_at` index; the others follow in stages of their own, as a server that uses an
    index only for a `$match` it fully covers still picks that one."""
    stages: list[Document] = [{"$match": {"updated_at": {"$gte": period.start}}}]
    if narrow:
        stages.append({"$match": narrow})
    if agent is not None:
        # The agent's tickets, and any other the agent replied on (indexed for servers
        # that plan an `$or`: see Store.ensure_indexes).
        mine = [{"assignee": agent}, {f"{AGENT_REPLIES}.by": agent}]
        stages.append({"$match": {"$or": mine}})
    return stages
