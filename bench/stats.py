"""Statistics benchmark: the KPI report over a realistic store, against the plainest query.

It loads N synthetic tickets with their whole histories into the embedded MongoDB-wire
server, which runs in its own process as under `helpdesk serve`; the load is timed apart.
The tickets are spread over the 90 days before now and live the way the service writes
them: created by the player (a flow greets some Telegram players), taken or assigned,
noted, answered after minutes to days, written to again, put on hold, resolved by an agent
or by the auto-close, closed, rated, reopened, merged; SLA clocks run on the tickets a
policy matches, with their warnings and breaches raised as the SLA job raises them, and the
worker is two hours behind, so the newest entries still ride in their tickets' outboxes.
Every entry is shaped as `entry_document` stores it, every ticket as the service keeps it,
with the status moves and agent replies each change appends to it (what the report reads).
The SLA clocks and those records come from the service's own rules (`sla_clock`,
`writes.timeline_records`), so the data cannot drift from what the desk writes; the tickets
are built in memory and inserted in bulk, since a year's store through TicketService one
write at a time would take hours on the embedded server.

Then it times, `--repeats` times each, the full 30-day report (`Stats(store).report`: its
aggregation over the tickets changed since the start, and the small one over those open
and untouched since), the same report for the busiest agent, and
`hand_written_first_response_median`, the plainest single aggregation behind one of its
figures; it prints the medians, the ratio of the full report to the hand-written query,
whether the report's first-response median equals the hand-written one, whether its main
figures equal those recounted in Python from the generated histories, and one line of
JSON with every figure (progress goes to stderr). With `--stages` it also times the main
pipeline prefix by prefix, each `$facet` branch alone and the untouched tickets'
aggregation, to show where the time goes. Run it from the project root:
`.venv/bin/python bench/stats.py --quick`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import bisect
import itertools
import math
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.collection import Collection

from bench.harness import (
    DB_NAME,
    positive,
    print_results,
    sized,
    sized_parser,
    summary,
    temporary_dir,
    verdict,
)
from bench.reindex import mongo_process
from bench.search import (
    EN_PHRASES,
    EN_REPLIES,
    EN_SUBJECTS,
    NOTES,
    RU_PHRASES,
    RU_REPLIES,
    RU_SUBJECTS,
    TAG_WEIGHTS,
    TAGS,
    cumulative,
)
from ticketcore import sla, sla_clock
from ticketcore.effects import CORE_KINDS, EffectTable
from ticketcore.lifecycle import DONE_STATUSES, Status, is_allowed, status_after_player_message
from ticketcore.models import LOW_CSAT, Actor
from ticketcore.outbox import HISTORY_STORE, new_record
from ticketcore.sla import SlaConfig, SlaState
from ticketcore.sla_clock import next_check
from ticketcore.stats import (
    OPEN,
    Period,
    Report,
    Stats,
    hand_written_first_response_median,
    percentiles,
)
from ticketcore.store import Store, to_entry, to_ticket
from ticketcore.writes import TRACKED, timeline_records

Document = dict[str, Any]

FULL_TICKETS = 100_000
QUICK_TICKETS = 10_000
LOAD_BATCH = 2_000  # tickets per insert_many, with their history
SPAN = timedelta(days=90)
PERIOD = "30d"
MAX_RATIO = 5.0  # the full report within 5x of the single hand-written aggregation
WORKER_BEHIND = timedelta(hours=2)  # entries newer than this are still carried
STORED_NOT_COMPLETED = timedelta(minutes=10)  # older by up to this: stored and carried
STAGE_RUNS = 3  # runs of each pipeline prefix and $facet branch with --stages

MINUTE = 60.0
HOUR = 3600.0
DAY = 86_400.0

AGENT_NAMES = "Ann Bob Cleo Dan Eva Fyodor Gleb Hana Ivan Jana Kai Lena Max Nina Oleg Pia Quinn"
AGENT_NAMES += " Rosa Sasha Tim"
AGENTS = [f"U0AG{n:02d}BNCH" for n in range(1, 21)]
NAMES = dict(zip(AGENTS, AGENT_NAMES.split(), strict=True))
AGENT_CUM = cumulative([1.0 / (rank + 1) ** 0.8 for rank in range(len(AGENTS))])
LEAD = AGENTS[-1]  # triages: assigns, moves queues, closes spam; answers little itself

QUEUES: list[str | None] = [None, "billing", "tech", "moderation", "events"]
QUEUE_CUM = cumulative([30, 25, 25, 10, 10])
PRIORITIES = ["low", "normal", "high", "urgent"]
PRIORITY_CUM = cumulative([15, 65, 15, 5])
CHANNELS = ["telegram", "email", "api"]
CHANNEL_CUM = cumulative([55, 35, 10])
LANGUAGES: list[str | None] = ["en", "ru", None]
LANGUAGE_CUM = cumulative([62, 35, 3])
# The median first reply by priority, in seconds: the urgent first, the rest minutes to days.
FIRST_REPLY = {"low": 4 * HOUR, "normal": 2 * HOUR, "high": 40 * MINUTE, "urgent": 20 * MINUTE}
CSAT_SCORES = [1, 2, 3, 4, 5]
CSAT_CUM = cumulative([9, 6, 10, 20, 55])
TAG_CUM = cumulative([float(w) for w in TAG_WEIGHTS])

SLA = SlaConfig.model_validate(
    {
        "policies": [
            {
                "name": "urgent",
                "priority": ["high", "urgent"],
                "first_response": "1h",
                "next_response": "4h",
                "resolution": "1d",
                "business_hours": False,
            },
            {
                "name": "billing",
                "queue": "billing",
                "first_response": "4h",
                "next_response": "8h",
                "resolution": "3d",
                "business_hours": False,
            },
        ]
    }
)

EFFECTS = EffectTable.of(CORE_KINDS).subscriptions()
SYSTEM = {"kind": "system", "id": "helpdesk", "name": None, "via": None}
AUTOCLOSE = {"kind": "system", "id": "autoclose", "name": None, "via": "autoclose"}
GREETING = {"kind": "system", "id": "flow:greeting", "name": None, "via": "flow"}


def agent_actor(agent: str) -> Document:
    return {"kind": "agent", "id": agent, "name": NAMES[agent], "via": "slack"}


class Later(Exception):
    """The next step of a ticket's life would happen after now: its story ends here."""


# ----------------------------------------------------------------- one ticket's life


class Life:
    """One ticket and its history, built action by action as the service writes them."""

    def __init__(self, doc: Document, rng: random.Random, now: datetime) -> None:
        self.doc = doc
        self.rng = rng
        self.now = now
        self.entries: list[Document] = []
        self.mails = itertools.count(1)
        self._stored: Document | None = None
        self._state: SlaState | None = None

    @property
    def status(self) -> Status:
        return Status(self.doc["status"])

    @property
    def state(self) -> SlaState | None:
        stored = self.doc["sla"]
        if stored is not self._stored:  # read again only what was written since
            self._stored = stored
            self._state = None if stored is None else SlaState.model_validate(stored)
        return self._state

    def act(
        self,
        event: str,
        actor: Document,
        at: datetime,
        updates: Document | None = None,
        message: Document | None = None,
        data: Document | None = None,
    ) -> datetime:
        """Record one action at `at`, after the SLA job raised what fell due before it."""
        if at >= self.now:
            raise Later
        self.raise_alerts(at)
        updates = dict(updates or {})
        if "status" in updates:
            assert is_allowed(self.status, Status(updates["status"])), (self.status, updates)
        changed = any(self.doc[name] != value for name, value in updates.items())
        if not (changed or message or data):
            return at  # as `is_worth_keeping` drops it: no history, no new version
        clocks = self.clocks(event, actor, updates, at)
        if clocks is not None:
            updates.update(clocks)
        self.write(event, actor, at, updates, message, data or {})
        return at

    def write(
        self,
        event: str,
        actor: Document,
        at: datetime,
        updates: Document,
        message: Document | None,
        data: Document,
    ) -> None:
        doc = self.doc
        changes = [
            {"field": name, "old": doc[name], "new": updates[name]}
            for name in TRACKED
            if name in updates and doc[name] != updates[name]
        ]
        if message is not None:
            updates["message_count"] = doc["message_count"] + 1
        if "status" in updates:
            updates["active"] = updates["status"] != Status.CLOSED
        doc.update(updates, updated_at=at, version=doc["version"] + 1)
        entry = {
            "ticket_id": doc["_id"],
            "number": doc["number"],
            "seq": doc["version"],
            "event": event,
            "actor": actor,
            "at": at,
            "message": message,
            "changes": changes,
            "edit_of": None,
            "data": data,
            "_id": str(ObjectId()),
            "is_message": message is not None,
        }
        self.entries.append(entry)
        # The status move and the agent's reply the change appends to the ticket, by the
        # service's own rule (each array made by its first record).
        for name, record in timeline_records(to_entry(entry)).items():
            doc.setdefault(name, []).append(record)

    def clocks(
        self, event: str, actor: Document, updates: Document, at: datetime
    ) -> Document | None:
        """The SLA fields the change writes, as the service decides them."""
        fields = sla_clock.after_change(
            SLA, to_ticket(self.doc), updates, event=event, actor=Actor(**actor), now=at
        )
        return fields or None

    def raise_alerts(self, until: datetime) -> None:
        """The SLA job's warnings and breaches due before `until`, each a minute late at most."""
        while (state := self.state) is not None:
            moment = next_check(state)
            if moment is None or moment >= until:
                return
            at = moment + timedelta(seconds=self.rng.uniform(0, 60))
            at = at if at < until else moment
            name, kind = sla.due_alerts(state, at)[0]
            after = sla.mark_raised(state, [(name, kind)])
            data = {"target": name, "due_at": after.targets[name].due_at, "policy": state.policy}
            self.write(f"sla.{kind}", SYSTEM, at, sla_clock.stored(after), None, data)

    # ------------------------------------------------------------- the service's actions

    def message(self, kind: str, text: str, external_id: str | None = None) -> Document:
        channel = "slack" if kind == "note" else self.doc["channel"]
        return {
            "kind": kind,
            "channel": channel,
            "text": text,
            "html": None,
            "attachments": [],
            "external_id": external_id,
        }

    def message_id(self) -> str | None:
        """The channel's id of a new message from the player; a mail's joins `mail_ids`."""
        k = next(self.mails)
        if self.doc["channel"] == "telegram":
            return f"{self.doc['player']['telegram_chat_id']}:{self.doc['number'] * 100 + k}"
        if self.doc["channel"] == "email":
            mail_id = f"<{self.doc['number']}.{k}@players.example.com>"
            self.doc["mail_ids"].append(mail_id)
            return mail_id
        return None

    def status_fields(self, target: Status, at: datetime) -> Document:
        """`writes.status_updates`: the status and the timestamps that go with it."""
        if target is self.status:
            return {}
        fields: Document = {"status": target.value}
        if target is Status.RESOLVED:
            fields["resolved_at"] = at
        elif target is Status.CLOSED:
            fields["closed_at"] = at
            fields["resolved_at"] = self.doc["resolved_at"] or at
        else:
            fields["resolved_at"] = None
        return fields

    def take(self, agent: str, at: datetime) -> datetime:
        fields: Document = {"assignee": agent}
        if self.status is Status.NEW:
            fields["status"] = Status.INPROGRESS.value
        return self.act("ticket.assigned", agent_actor(agent), at, fields)

    def assign(self, agent: str, at: datetime) -> datetime:
        return self.act("ticket.assigned", agent_actor(LEAD), at, {"assignee": agent})

    def move(self, queue: str | None, at: datetime) -> datetime:
        return self.act("ticket.queue_changed", agent_actor(LEAD), at, {"queue": queue})

    def note(self, agent: str, text: str, at: datetime) -> datetime:
        return self.act("note.added", agent_actor(agent), at, {}, self.message("note", text))

    def reply(self, actor: Document, text: str, at: datetime, target: Status) -> datetime:
        fields = {
            **self.status_fields(target, at),
            "first_response_at": self.doc["first_response_at"] or at,
            "last_agent_reply_at": at,
        }
        if self.doc["channel"] == "email":
            self.doc["mail_ids"].append(f"<r{self.doc['number']}.{next(self.mails)}@help.example>")
        return self.act("reply.sent", actor, at, fields, self.message("reply", text))

    def player_writes(self, text: str, at: datetime) -> datetime:
        target = status_after_player_message(
            self.status, is_assigned=self.doc["assignee"] is not None
        )
        fields: Document = {"last_player_message_at": at}
        if target is not self.status:
            fields.update(status=target.value, resolved_at=None)
        message = self.message("player", text, self.message_id())
        return self.act("message.received", self.player_actor(), at, fields, message)

    def set_status(self, actor: Document, target: Status, at: datetime, **data: Any) -> datetime:
        return self.act(
            "ticket.status_changed", actor, at, self.status_fields(target, at), None, data
        )

    def rate(self, score: int, at: datetime) -> datetime:
        event = "csat.low" if score <= LOW_CSAT else "csat.received"
        actor = self.player_actor()
        if self.doc["channel"] == "telegram":
            actor = {**actor, "id": f"tg:{self.doc['player']['telegram_user_id']}", "name": None}
        return self.act(event, actor, at, {"csat": {"score": score, "at": at}})

    def merge(self, into: int, at: datetime) -> datetime:
        fields = {**self.status_fields(Status.CLOSED, at), "merged_into": into}
        return self.act("ticket.merged", agent_actor(LEAD), at, fields)

    def greet(self, text: str, at: datetime) -> datetime:
        trigger = self.entries[0]["_id"]
        self.doc["done_keys"].append(f"{trigger}:greeting")
        data = {"rule": "greeting", "trigger": trigger, "notify": []}
        return self.act("flow.fired", GREETING, at, {}, self.message("reply", text), data)

    def player_actor(self) -> Document:
        name = self.doc["player"]["display_name"]
        return {
            "kind": "player",
            "id": self.doc["player_key"],
            "name": name,
            "via": self.doc["channel"],
        }


# ----------------------------------------------------------------- the tickets


def pick(rng: random.Random, values: list[Any], cum: list[float]) -> Any:
    return values[bisect.bisect_left(cum, rng.random() * cum[-1])]


class TicketMaker:
    """Deterministic synthetic tickets over the 90 days before `now`: the same seed and n
    give the same tickets at the same distance from now."""

    def __init__(self, seed: int, n: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.n = n
        self.now = now
        self.players = max(10, n * 2 // 3)  # players come back: three tickets for two
        self.languages = [pick(self.rng, LANGUAGES, LANGUAGE_CUM) for _ in range(self.players)]
        self.known = [self.rng.random() < 0.4 for _ in range(self.players)]  # game id known
        start, span = now - SPAN, SPAN.total_seconds()
        offsets = sorted(self.rng.random() * span for _ in range(n))
        self.created = [start + timedelta(seconds=s) for s in offsets]

    def tickets(self) -> Iterator[tuple[Document, list[Document]]]:
        """Each ticket, oldest first, with its history entries still to be stored."""
        for number, created in enumerate(self.created, start=1):
            life = self.open(number, created)
            with suppress(Later):
                self.story(life)
            life.raise_alerts(self.now)
            yield carry(life.doc, life.entries, self.now)

    # ------------------------------------------------------------- choices

    def after(self, at: datetime, median: float, sigma: float = 1.2) -> datetime:
        """A moment after `at`: lognormal around `median` seconds, at least half a minute."""
        seconds = max(30.0, self.rng.lognormvariate(math.log(median), sigma))
        return at + timedelta(seconds=seconds)

    def agent(self) -> str:
        return str(pick(self.rng, AGENTS, AGENT_CUM))

    def words(self, language: str) -> str:
        phrases = RU_PHRASES if language == "ru" else EN_PHRASES
        text = " ".join(self.rng.choices(phrases, k=self.rng.randint(3, 14)))
        return text[:1].upper() + text[1:] + "."

    def answer(self, language: str) -> str:
        replies = RU_REPLIES if language == "ru" else EN_REPLIES
        return " ".join(self.rng.sample(replies, self.rng.randint(1, 3)))

    def left_waiting(self) -> Status:
        """How an agent's reply leaves the ticket: mostly answered, sometimes waiting."""
        return Status.WAITING if self.rng.random() < 0.2 else Status.ANSWERED

    # ------------------------------------------------------------- a ticket

    def player(self, channel: str) -> tuple[Document, str]:
        """A returning or new player as the ticket keeps it, and the player's key."""
        index = self.rng.randrange(self.players)
        known = self.known[index] or channel == "api"
        player = {
            "player_id": f"P{index:07d}" if known else None,
            "email": f"player{index}@mail.example.com" if channel != "telegram" else None,
            "telegram_user_id": 700_000_000 + index if channel == "telegram" else None,
            "telegram_chat_id": 700_000_000 + index if channel == "telegram" else None,
            "telegram_username": f"player_{index}" if channel == "telegram" else None,
            "language": self.languages[index],
            "display_name": f"Player {index}",
        }
        if player["player_id"] is not None:
            return player, f"id:{player['player_id']}"
        if player["email"] is not None:
            return player, f"email:{player['email']}"
        return player, f"tg:{player['telegram_user_id']}"

    def open(self, number: int, at: datetime) -> Life:
        """The ticket as `open_ticket` inserts it, with its `ticket.created` entry."""
        rng = self.rng
        channel = pick(rng, CHANNELS, CHANNEL_CUM)
        player, key = self.player(channel)
        language = player["language"] or "en"
        priority = pick(rng, PRIORITIES, PRIORITY_CUM)
        queue = pick(rng, QUEUES, QUEUE_CUM)
        linked = number > 300 and rng.random() < 0.02
        tags = sorted({pick(rng, TAGS, TAG_CUM) for _ in range(rng.choice((0, 0, 1, 1, 2)))})
        text = self.words(language)
        subjects = RU_SUBJECTS if language == "ru" else EN_SUBJECTS
        doc: Document = {
            "number": number,
            "subject": rng.choice(subjects),
            "channel": channel,
            "player": player,
            "status": Status.NEW.value,
            "priority": priority,
            "assignee": None,
            "queue": queue,
            "tags": tags,
            "context": {},
            "created_at": at,
            "updated_at": at,
            "first_response_at": None,
            "last_player_message_at": at,
            "last_agent_reply_at": None,
            "resolved_at": None,
            "closed_at": None,
            "merged_into": None,
            "reopened_from": number - rng.randint(1, 300) if linked else None,
            "message_count": 0,
            "opening_text": text,
            "csat": None,
            "version": 0,
            "refs": {},
            "mail_ids": [],
            "delivery_problem": None,
            "done_keys": [],
            "incident": None,
            "account": None,
            "escalation": None,
            **sla_clock.stored(sla.start(SLA, priority=priority, queue=queue, now=at)),
            "_id": ObjectId(),
            "player_key": key,
            "active": True,
            "outbox": [],
        }
        life = Life(doc, rng, self.now)
        message = life.message("player", text, life.message_id())
        life.write("ticket.created", life.player_actor(), at, {}, message, {})
        doc["refs"] = {"slack_card": f"C0TRIAGE:{at.timestamp():.6f}"}
        if channel != "email":
            del doc["mail_ids"]  # never stored empty: the unique index would see them equal
        return life

    def story(self, life: Life) -> None:
        """What happens to the ticket until now: raises Later where the future begins."""
        rng, doc = self.rng, life.doc
        language = doc["player"]["language"] or "en"
        t = doc["created_at"]
        if doc["channel"] == "telegram" and rng.random() < 0.3:
            t = life.greet(self.answer(language), t + timedelta(seconds=rng.uniform(1, 5)))
        if rng.random() < 0.05:
            t = life.move(pick(rng, QUEUES, QUEUE_CUM), self.after(t, 10 * MINUTE))
        fate = rng.random()
        if fate < 0.03:  # spam, a test, a wrong address: closed unanswered
            life.set_status(agent_actor(LEAD), Status.CLOSED, self.after(t, 40 * MINUTE))
            return
        if fate < 0.05 and doc["number"] > 50:  # a duplicate of a recent ticket
            life.merge(doc["number"] - rng.randint(1, 50), self.after(t, HOUR))
            return
        agent = self.agent()
        how = rng.random()
        if how < 0.8:
            t = life.take(agent, self.after(t, 20 * MINUTE))
        elif how < 0.9:
            t = life.assign(agent, self.after(t, 30 * MINUTE))
        while rng.random() < 0.3:
            t = life.note(agent, rng.choice(NOTES), self.after(t, 20 * MINUTE))
        # The first reply comes minutes to days after the player wrote.
        first = self.after(doc["created_at"], FIRST_REPLY[doc["priority"]], 1.6)
        replier = agent if rng.random() > 0.07 else self.agent()
        t = max(first, t + timedelta(seconds=30))
        t = life.reply(agent_actor(replier), self.answer(language), t, self.left_waiting())
        for _ in range(4):
            if rng.random() > 0.45:
                break
            t = life.player_writes(self.words(language), self.after(t, 3 * HOUR))
            if rng.random() < 0.06:  # on hold for another team
                t = life.set_status(agent_actor(agent), Status.PENDING, self.after(t, HOUR))
                t = life.set_status(agent_actor(agent), Status.INPROGRESS, self.after(t, DAY))
            t = life.reply(
                agent_actor(agent), self.answer(language), self.after(t, HOUR), self.left_waiting()
            )
        self.finish(life, agent, t, reopened=0)

    def finish(self, life: Life, agent: str, t: datetime, reopened: int) -> None:
        """Resolution, the score, a reopening now and then, and the auto-close."""
        rng, actor = self.rng, agent_actor(agent)
        language = life.doc["player"]["language"] or "en"
        end = rng.random()
        if end < 0.10 and life.status is not Status.ANSWERED:
            if rng.random() < 0.3:  # on hold for good
                life.set_status(actor, Status.PENDING, self.after(t, HOUR))
            return  # waiting on the player, or forgotten: in the backlog
        if end < 0.30 and life.status is Status.ANSWERED:  # the player went quiet
            quiet = timedelta(days=3, seconds=rng.uniform(0, HOUR))
            t = life.set_status(AUTOCLOSE, Status.RESOLVED, t + quiet, auto=True)
        elif end < 0.42:
            t = life.reply(actor, self.answer(language), self.after(t, 2 * HOUR), Status.RESOLVED)
        elif end < 0.46:
            life.set_status(actor, Status.CLOSED, self.after(t, 2 * HOUR))
            return
        else:
            t = life.set_status(actor, Status.RESOLVED, self.after(t, 2 * HOUR))
        resolved = t
        asked = life.doc["channel"] in ("telegram", "email")
        if rng.random() < (0.35 if asked else 0.05):
            t = life.rate(int(pick(rng, CSAT_SCORES, CSAT_CUM)), self.after(t, HOUR, 1.5))
        if reopened < 2 and rng.random() < 0.08:
            t = life.player_writes(self.words(language), self.after(max(t, resolved), DAY))
            t = life.reply(actor, self.answer(language), self.after(t, 2 * HOUR), Status.ANSWERED)
            self.finish(life, agent, t, reopened + 1)
            return
        later = max(t, resolved + timedelta(days=7, seconds=rng.uniform(0, HOUR)))
        life.set_status(AUTOCLOSE, Status.CLOSED, later, auto=True)


def carry(doc: Document, entries: list[Document], now: datetime) -> tuple[Document, list[Document]]:
    """The worker is behind: the newest entries ride in the ticket's outbox (with the
    effects they owe), those just before are stored but not yet pulled off the ticket."""
    behind = now - WORKER_BEHIND
    carried = [e for e in entries if e["at"] >= behind - STORED_NOT_COMPLETED]
    for entry in carried:
        record = new_record(HISTORY_STORE, entry["_id"], entry["at"])
        body = {k: v for k, v in entry.items() if k not in ("_id", "is_message")}
        record["payload"] = {"entry": {"id": entry["_id"], **body, "ticket_id": str(doc["_id"])}}
        doc["outbox"].append(record)
        for kind in EFFECTS.kinds_for(entry["event"], doc["channel"]):
            doc["outbox"].append(new_record(kind, entry["_id"], entry["at"]))
    return doc, [e for e in entries if e["at"] < behind]


# ----------------------------------------------------------------- the figures in Python


def ms(moment: datetime) -> datetime:
    """A moment as the store keeps it: to the millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Recount:
    """The report's main figures worked out again in Python, as docs/metrics.md defines
    them, from each ticket's history as generated (stored and carried alike), not from
    what the report reads on the ticket: the aggregation must come to the same."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.created = self.reopened = 0
        self.resolved: Counter[str | None] = Counter()
        self.replies: Counter[str] = Counter()
        self.backlog = Counter(dict.fromkeys(OPEN, 0))
        self.first_response: list[float] = []
        self.resolution: list[float] = []

    def during(self, moment: datetime) -> bool:
        return self.period.start <= ms(moment) < self.period.end

    def add(self, doc: Document, stored: list[Document]) -> None:
        carried = [r["payload"]["entry"] for r in doc["outbox"] if r["kind"] == HISTORY_STORE]
        unique = {e["_id"]: e for e in stored} | {e["id"]: e for e in carried}
        entries = sorted(unique.values(), key=lambda e: e["seq"])
        for e in entries:
            if (
                e["event"] == "reply.sent"
                and e["actor"]["kind"] == "agent"
                and self.during(e["at"])
            ):
                self.replies[e["actor"]["id"]] += 1
        if doc["merged_into"] is not None:
            return
        moves = [
            (ms(e["at"]), c["old"], c["new"])
            for e in entries
            for c in e["changes"]
            if c["field"] == "status"
        ]
        created = ms(doc["created_at"])
        if self.during(created):
            self.created += 1
            self.reopened += doc["reopened_from"] is not None
        done = [
            at for at, old, new in moves if self.during(at) and old in OPEN and new in DONE_STATUSES
        ]
        if done:
            self.resolved[doc["assignee"]] += 1
            self.resolution.append((max(done) - created).total_seconds())
        self.reopened += sum(
            1 for at, old, new in moves if self.during(at) and old == "resolved" and new in OPEN
        )
        if doc["first_response_at"] and self.during(doc["first_response_at"]):
            self.first_response.append((ms(doc["first_response_at"]) - created).total_seconds())
        after = [old for at, old, _ in moves if at >= self.period.end]
        status = after[0] if after else doc["status"]
        if created < self.period.end and status in OPEN:
            self.backlog[status] += 1

    def figures(self) -> Document:
        return {
            "created": self.created,
            "resolved": sum(self.resolved.values()),
            "reopened": self.reopened,
            "backlog": dict(self.backlog),
            "first_response": percentiles(self.first_response),
            "resolution": percentiles(self.resolution),
            "replies": {a: n for a, n in self.replies.items() if n},
            "resolved_by_agent": {a: n for a, n in self.resolved.items() if a is not None},
        }


def figures_of(report: Report) -> Document:
    """The same figures as the report gives them."""
    return {
        "created": report.created,
        "resolved": report.resolved,
        "reopened": report.reopened,
        "backlog": dict(report.backlog.by_status),
        "first_response": report.first_response_seconds,
        "resolution": report.resolution_seconds,
        "replies": {a.agent: a.replies for a in report.by_agent if a.replies},
        "resolved_by_agent": {a.agent: a.resolved for a in report.by_agent if a.resolved},
    }


# ----------------------------------------------------------------- loading


def load(store: Store, maker: TicketMaker, recount: Recount) -> Document:
    """Every ticket and its stored history into the store, in batches, each also counted
    into `recount`; the figures."""
    tickets = entries = carried = 0
    making = inserting = 0.0
    stream = maker.tickets()
    while True:
        began = time.perf_counter()
        batch = list(itertools.islice(stream, LOAD_BATCH))
        history = [entry for _, stored in batch for entry in stored]
        making += time.perf_counter() - began
        if not batch:
            break
        for doc, stored in batch:
            recount.add(doc, stored)
        began = time.perf_counter()
        store.tickets.insert_many([doc for doc, _ in batch], ordered=False)
        store.history.insert_many(history, ordered=False)
        inserting += time.perf_counter() - began
        tickets += len(batch)
        entries += len(history)
        carried += sum(1 for doc, _ in batch for r in doc["outbox"] if r["kind"] == HISTORY_STORE)
    return {
        "tickets": tickets,
        "history_entries": entries,
        "carried_entries": carried,
        "generate_seconds": round(making, 1),
        "insert_seconds": round(inserting, 1),
        "load_seconds": round(making + inserting, 1),
    }


# ----------------------------------------------------------------- measuring


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[list[float], Any]]:
    """Each call `repeats` times, interleaved so that all see the same caches; the times
    and the last result of each."""
    runs: dict[str, list[float]] = {name: [] for name in calls}
    results: dict[str, Any] = {}
    for repeat in range(1, repeats + 1):
        for name, call in calls.items():
            began = time.perf_counter()
            results[name] = call()
            runs[name].append(time.perf_counter() - began)
        took = ", ".join(f"{name} {runs[name][-1]:.2f} s" for name in calls)
        progress(f"run {repeat}/{repeats}: {took}")
    return {name: (runs[name], results[name]) for name in calls}


def fetch(collection: Collection[Document], pipeline: list[Document]) -> list[Document]:
    return list(collection.aggregate(pipeline))


def median_run(call: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median time of `runs` calls, and the last call's result."""
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def stage_times(store: Store, pipeline: list[Document], runs: int) -> list[Document]:
    """The time of each prefix of the report's pipeline (counted, not fetched), and what
    each stage adds to the one before."""
    rows, before = [], 0.0
    for k, stage in enumerate(pipeline, start=1):
        prefix = pipeline[:k] if "$facet" in stage else [*pipeline[:k], {"$count": "n"}]
        seconds, (out,) = median_run(partial(fetch, store.tickets, prefix), runs)
        rows.append(
            {
                "stage": f"{k}. {next(iter(stage))}",
                "rows": out.get("n"),
                "cumulative_seconds": round(seconds, 3),
                "seconds": round(seconds - before, 3),
            }
        )
        before = seconds
    return rows


def facet_times(store: Store, pipeline: list[Document], runs: int) -> dict[str, float]:
    """Each branch of the report's `$facet` alone, over the rows it receives (kept apart
    in a collection of their own first)."""
    *rows, facet = pipeline
    scratch = store.db["stats_bench_rows"]
    store.tickets.aggregate([*rows, {"$out": scratch.name}])
    times = {}
    for name, branch in facet["$facet"].items():
        seconds, _ = median_run(partial(fetch, scratch, branch), runs)
        times[name] = round(seconds, 3)
    scratch.drop()
    return times


def report_figures(report: Report, agent: str) -> Document:
    """What the data looks like through the report: enough to judge it realistic."""
    rows = {a.agent: a for a in report.by_agent}
    busy = rows.get(agent)
    return {
        "created": report.created,
        "resolved": report.resolved,
        "reopened": report.reopened,
        "first_response_p90": report.first_response_seconds.p90,
        "resolution_median": report.resolution_seconds.median,
        "sla_met_pct": report.sla_met_pct.overall,
        "csat_avg": report.csat_avg,
        "csat_low_share": report.csat_low_share,
        "csat_response_rate": report.csat_response_rate,
        "backlog_total": report.backlog.total,
        "backlog_by_status": dict(report.backlog.by_status),
        "agents": len(report.by_agent),
        "replies_min_max": [
            min((a.replies for a in report.by_agent), default=0),
            max((a.replies for a in report.by_agent), default=0),
        ],
        "busy_agent_replies": busy.replies if busy else 0,
        "busy_agent_resolved": busy.resolved if busy else 0,
    }


def measure(n: int, seed: int, repeats: int, stages: bool, directory: Path) -> Document:
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the store keeps it
    period = Period.parse(PERIOD, now=now)
    agent = AGENTS[0]  # the most weight: the busiest
    with ExitStack() as stack:
        uri = mongo_process(stack, directory / "mongo")
        client: pymongo.MongoClient[Document] = pymongo.MongoClient(uri, tz_aware=True)
        stack.callback(client.close)
        store = Store.connect(client, DB_NAME)
        store.ensure_indexes()
        recount = Recount(period)
        loaded = load(store, TicketMaker(seed, n, now), recount)
        progress(
            f"loaded {n:,} tickets and {loaded['history_entries']:,} history entries "
            f"in {loaded['load_seconds']:.1f} s"
        )
        touched = store.tickets.count_documents({"updated_at": {"$gte": period.start}})
        stats = Stats(store)
        load_before = os.getloadavg()[0]
        runs = timed(
            {
                "full": lambda: stats.report(period),
                "agent": lambda: stats.report(period, agent=agent),
                "hand_written": lambda: hand_written_first_response_median(store, period),
            },
            repeats,
        )
        load_after = os.getloadavg()[0]
        pipeline, untouched_pipeline = stats.pipelines(period)
        runs_each = min(STAGE_RUNS, repeats)
        stage_rows = stage_times(store, pipeline, runs_each) if stages else []
        facets = facet_times(store, pipeline, runs_each) if stages else {}
        if stages:
            untouched = partial(fetch, store.tickets, untouched_pipeline)
            facets["untouched, open (own aggregation)"] = round(
                median_run(untouched, runs_each)[0], 3
            )
    medians = {name: statistics.median(times) for name, (times, _) in runs.items()}
    full: Report = runs["full"][1]
    hand: float | None = runs["hand_written"][1]
    ratio = medians["full"] / medians["hand_written"]
    reported = full.first_response_seconds.median
    recounted, given = recount.figures(), figures_of(full)
    return {
        "n": n,
        "seed": seed,
        "now": now.isoformat(),
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        **loaded,
        "load_tickets_per_s": round(n / loaded["load_seconds"], 1),
        "tickets_touched_in_period": touched,
        "repeats": repeats,
        "machine_load_1min": [round(load_before, 2), round(load_after, 2)],
        "agent": agent,
        "full_report_seconds": round(medians["full"], 3),
        "agent_report_seconds": round(medians["agent"], 3),
        "hand_written_seconds": round(medians["hand_written"], 3),
        "runs": {name: [round(t, 3) for t in times] for name, (times, _) in runs.items()},
        "ratio_full_to_hand_written": round(ratio, 1),
        "max_ratio": MAX_RATIO,
        "first_response_median_report": reported,
        "first_response_median_hand_written": hand,
        "report": report_figures(full, agent),
        "agent_report": report_figures(runs["agent"][1], agent),
        "recount_mismatches": {
            name: [str(recounted[name]), str(given[name])]
            for name in recounted
            if recounted[name] != given[name]
        },
        "stages": stage_rows,
        "facets": facets,
        "targets_met": {
            "full_within_5x": ratio <= MAX_RATIO,
            "first_response_median_matches": reported is not None and reported == hand,
            "equals_the_python_recount": recounted == given,
        },
    }


# ----------------------------------------------------------------- report


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= DAY:
        return f"{seconds / DAY:.1f} d"
    if seconds >= HOUR:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / MINUTE:.1f} min"


def share(value: float | None, scale: float = 100.0) -> str:
    return "-" if value is None else f"{value * scale:.0f}%"


def report(fig: Document) -> str:
    met = fig["targets_met"]
    data = fig["report"]
    rows = [
        ["", "median", "runs"],
        *(
            [label, f"{fig[key]:.3f} s", " ".join(f"{t:.2f}" for t in fig["runs"][run])]
            for label, key, run in (
                ("full 30-day report", "full_report_seconds", "full"),
                (f"report for agent {fig['agent']}", "agent_report_seconds", "agent"),
                ("hand-written first-response median", "hand_written_seconds", "hand_written"),
            )
        ),
        ["full / hand-written", f"{fig['ratio_full_to_hand_written']:.1f}x", ""],
    ]
    details = [
        f"  loading (not timed in the reports): {fig['load_seconds']:.1f} s "
        f"({fig['generate_seconds']:.1f} s generating, {fig['insert_seconds']:.1f} s inserting; "
        f"{fig['load_tickets_per_s']:,.0f} tickets/s)",
        f"  {fig['tickets']:,} tickets, {fig['history_entries']:,} stored history entries, "
        f"{fig['carried_entries']:,} carried in outboxes; "
        f"{fig['tickets_touched_in_period']:,} tickets changed in the period",
        f"  period {fig['period']['start']} to {fig['period']['end']}; machine load "
        f"(1 min) {fig['machine_load_1min'][0]:g} before the timed runs, "
        f"{fig['machine_load_1min'][1]:g} after",
        f"  created {data['created']:,}, resolved {data['resolved']:,}, reopened "
        f"{data['reopened']:,}, backlog at the end {data['backlog_total']:,} "
        f"{data['backlog_by_status']}",
        f"  first response median {duration(fig['first_response_median_report'])} "
        f"({fig['first_response_median_report']} s; hand-written "
        f"{fig['first_response_median_hand_written']} s), p90 "
        f"{duration(data['first_response_p90'])}; resolution median "
        f"{duration(data['resolution_median'])}",
        f"  SLA met {share(data['sla_met_pct'], 1.0)}, CSAT average "
        f"{data['csat_avg'] or 0:.2f}, low {share(data['csat_low_share'])}, response rate "
        f"{share(data['csat_response_rate'])}",
        f"  {data['agents']} agents, replies per agent {data['replies_min_max'][0]:,} to "
        f"{data['replies_min_max'][1]:,}; {fig['agent']}: {data['busy_agent_replies']:,} "
        f"replies, {data['busy_agent_resolved']:,} resolved",
    ]
    if fig["stages"]:
        details += [
            "",
            "the report's pipeline prefix by prefix, ending in $count (median of "
            f"{min(STAGE_RUNS, fig['repeats'])} runs each):",
        ]
        details += [
            f"  {row['stage']:<16} {row['rows'] if row['rows'] is not None else '':>8} rows  "
            f"{row['cumulative_seconds']:8.3f} s  (+{row['seconds']:.3f} s)"
            for row in fig["stages"]
        ]
        details.append("the $facet branches alone, over the rows they receive:")
        details += [f"  {name:<24} {seconds:.3f} s" for name, seconds in fig["facets"].items()]
    targets = [
        f"  full 30-day report within {fig['max_ratio']:g}x of the single hand-written "
        f"aggregation ({fig['ratio_full_to_hand_written']:.1f}x): "
        f"{verdict(met['full_within_5x'])}",
        "  the report's first-response median equals the hand-written one: "
        f"{verdict(met['first_response_median_matches'])}",
        "  the report's counts, durations, backlog and workload equal those recounted in "
        f"Python from the generated histories: {verdict(met['equals_the_python_recount'])}",
    ]
    for name, (recounted, reported) in fig["recount_mismatches"].items():
        targets.append(f"    {name}: recounted {recounted}, reported {reported}")
    title = f"statistics benchmark, n={fig['n']}, seed={fig['seed']}, repeats={fig['repeats']}"
    return summary(title, rows, "details:", details, met, targets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = sized_parser(__doc__, FULL_TICKETS, QUICK_TICKETS)
    parser.add_argument(
        "--repeats", type=positive(int), default=5, help="runs of each measure (default 5)"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also time the pipeline prefix by prefix and each $facet branch alone "
        "(about four more reports' time)",
    )
    return sized(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with temporary_dir("stats-bench-") as path:
        fig = measure(args.n, args.seed, args.repeats, args.stages, path)
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
