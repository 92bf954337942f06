"""Growth benchmark: what players, agents and leads wait for, as the store grows.

It runs the helpdesk as the end-to-end suite does (`helpdesk serve` and one `helpdesk
worker` on embedded defaults, in a temporary DATA_DIR, against the fake Slack, Telegram,
Mailgun and game-account servers), a fresh desk for each size: 1,000, 10,000 and 100,000
tickets (`--quick`, the default), and 500,000 as well with `--full` (`--sizes` picks others).

Growing a desk. A ticket a request at a time would take hours, so each desk is grown in bulk,
in the service's own shape. Eighteen template tickets go through the real system first: on
each channel (the API, a Telegram webhook update, a signed Mailgun inbound mail) a player
opens one and writes again, then from Slack an agent takes it, answers it (leaving it
waiting or answered), notes, resolves and closes it, down to each status; a Telegram
player rates theirs. The worker delivers everything they owe, and their ticket documents,
history entries and player records are read back. A clone is one template with a fresh
`_id` and number, a player of its own, its own mail and platform ids (they sit under
unique indexes), texts of its own, an agent from a pool of twenty, fresh history entries
pointing at it, and every date shifted by the same amount. Clones are spread at a steady
pace over the 365 days before now, numbered in that order (the numbers are taken from the
ticket counter before the templates open, so the templates stay the newest tickets), and
inserted with `insert_many`. Their statuses follow their age as the desk's own rules
leave tickets: opened in the last 16 hours, open (new, in progress, waiting, answered); in
the last 6.5 days, mostly resolved; older, closed. So neither the SLA (first response in
24 h, warned at 80%) nor auto-close (answered after 3 days, resolved after 7) has anything
due, as on a desk that keeps up. Their outboxes are empty: long delivered. The load is
timed apart; then `helpdesk reindex` runs as a process, timed, and the measuring begins.

Measuring. At each size every request below runs `--warmup` times (2), then `--repeats`
times (20), timed; the table shows p50/p95 in ms. A request that has used up `--budget`
seconds (60) stops early, after at least five timed runs; the JSON says how many it had.
- Writes, in rounds of one each, the round's tickets left to settle (their outboxes empty)
  before the next: `POST /api/v1/tickets` and a follow-up `POST .../messages`, a Telegram
  webhook update opening a ticket and one following up, a Mailgun inbound mail opening a
  ticket and one answering in its thread; and the card's first post, from the `POST` until
  the fake Slack records the card (waited for before the player writes again, which
  would redraw it).
- Reads, interleaved round by round so that all see the same caches: `GET
  /api/v1/tickets/{n}` (a different loaded ticket each time, with its messages); the lists
  `?limit=20` newest first, with `status=new`, `status=closed`, `assignee=` (the agent
  holding most tickets), `player_id=`, and the second page through the `cursor`; search
  (`?q=`, a word, and a word with a filter); `GET /api/v1/stats?since=30d`; and from Slack,
  signed as Slack signs them, `/ticket queue` and `/ticket mine` (until the answer reaches
  the response URL) and the Home tab (`app_home_opened`, until `views.publish`).
- The periodic sweeps, each called directly against the store: SLA alerts
  (`raise_sla_alerts`), repeated escalations and auto-close, as `jobs/periodic.py` calls
  them.
Also per size: the load's time, `helpdesk reindex` (one run, timed as a process), DATA_DIR
on disk, and the peak RSS of each process (serve, its embedded servers, the worker,
reindex).

Targets: each request within 1.5x of its time at the smallest size (the ratio column is the
largest size's p50 over the smallest's); the 30-day stats under 5 s at the largest size;
reindex of 200,000 tickets under 60 s, judged only at sizes from 200,000 on. Rows that
miss are reported, never left out. Progress goes to stderr; the table, then one line of
JSON with every figure, to stdout. Run it from the project root:
`.venv/bin/python bench/growth.py --quick`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import psutil
from bson import ObjectId
from pymongo import ReturnDocument

from bench.harness import percentile, positive, print_results, summary, temporary_dir, verdict
from bench.search import EN_PHRASES, EN_REPLIES, EN_SUBJECTS, NOTES, cumulative, zipf
from embedded import servers
from tests.conftest import wait_for
from tests.e2e.desk import ANN, Desk, running_desk
from tests.fakes.mail import SUPPORT_ADDRESS
from tests.fakes.slack import FakeSlack, event_body, slash_command_body
from tests.fakes.telegram import callback_update, text_update
from ticketcore.counts import TicketCounts
from ticketcore.flows_file import FlowsFile, load_flows_file
from ticketcore.service import TicketService
from ticketcore.store import NUMBER_COUNTER, Store

Document = dict[str, Any]

QUICK_SIZES = (1_000, 10_000, 100_000)
FULL_SIZES = (*QUICK_SIZES, 500_000)
REPEATS = 20
WARMUP = 2
BUDGET_SECONDS = 60.0
MIN_RUNS = 5  # timed runs a request gets even past its budget
LOAD_BATCH = 2_000  # tickets per insert_many, with their history and players
MAX_RATIO = 1.5
MAX_STATS_SECONDS = 5.0
REINDEX_TICKETS, MAX_REINDEX_SECONDS = 200_000, 60.0
SETTLE_SECONDS = 60.0  # how long a round's tickets may take to owe nothing
POLL_SECONDS = 0.005

# ----------------------------------------------------------------- the desk's rules

# The SLA and auto-close as a desk that keeps up lives with them: the loaded tickets are
# aged so that nothing is due (see `status_for_age`).
FLOWS = """
sla:
  policies:
    - name: default
      first_response: 24h
      business_hours: false
autoclose:
  answered_after: 3d
  resolved_after: 7d
incidents:
  min_similar: 10
  window: 5m
"""
SPAN = timedelta(days=365)
OPEN_FOR = timedelta(hours=16)  # younger tickets are open: before the SLA's 80% warning
RESOLVED_FOR = timedelta(days=6, hours=12)  # younger ones may still be resolved, not closed
NEWEST_CLONE = timedelta(minutes=15)  # the clones' last dates stay this far before now
# The intervals the desk ships with: the end-to-end suite shortens them to seconds.
SHIPPED = {
    "SWEEP_INTERVAL": "10",
    "OUTBOX_GRACE": "30",
    "OUTBOX_LEASE": "15",
    "PERIODIC_INTERVAL": "60",
    "LOG_LEVEL": "ERROR",
}

# ----------------------------------------------------------------- who is who

CHANNELS = ("api", "telegram", "email")
CHANNEL_CUM = cumulative([15, 55, 30])
OPEN_STATUSES = ("new", "inprogress", "waiting", "answered")
OPEN_CUM = cumulative([35, 30, 15, 20])
STATUSES = (*OPEN_STATUSES, "resolved", "closed")
GAMES = ("skyforge", "ironpeak", "moonvale", "stormhold")
TEMPLATE_TOPICS = [
    ("Gems missing", "I bought 500 gems yesterday and the wallet still shows zero"),
    ("Cannot log in", "The launcher rejects my password although the site accepts it"),
    ("Game crashes", "Every time the arena loads the client closes without a word"),
    ("Banned by mistake", "My account was suspended right after the weekend tournament"),
    ("Refund please", "A subscription renewed that I cancelled in September"),
    ("Guild vanished", "Our guild hall and its members list disappeared overnight"),
    ("Double charge", "The bank statement lists the starter pack purchase twice"),
    ("Event prize", "Finished all seven quests of the harvest festival, no chest came"),
    ("Nickname change", "The rename ticket was used up but my name stayed the same"),
    ("Lost progress", "After switching phones I am back at level one"),
    ("Friend list empty", "Nobody shows up in my friends tab since the patch"),
    ("Hacked account", "Somebody changed the email on my profile and sold my items"),
    ("Slow servers", "Ping jumps to two seconds in every evening raid"),
    ("Daily bonus", "The login calendar skipped day five and day six"),
    ("Shop error", "Opening the store gives error 1047 and a blank page"),
    ("Pet disappeared", "My dragon companion is gone from the stable"),
    ("Voice chat", "Teammates cannot hear me although the microphone test works"),
    ("Battle pass", "Premium track rewards are locked though I paid for the pass"),
]
TEMPLATE_GAME = GAMES[0]
TEMPLATE_TELEGRAM_USER = 1_000
CLONE_TELEGRAM_USER = 700_000_000  # plus the clone's number
BENCH_TELEGRAM_USER = 900_000_000  # plus the round: a player of the measured requests
PLAYERS_DOMAIN = "players.example"
TELEGRAM_IDS = ("telegram_user_id", "telegram_chat_id")
HEX_ID = re.compile(r"\b[0-9a-f]{24}\b")
CSAT_STAMP = re.compile(r"\.csat-(\d+)@")


def agent_pool(first: str) -> list[str]:
    """Twenty agents, `first` (the templates' agent) among them."""
    return [first, *(f"U0AG{n:02d}" for n in range(2, 21))]


AGENT_CUM = zipf(20)  # a few agents hold many tickets, most hold some
PHRASE_CUM = zipf(len(EN_PHRASES))  # a few phrases are common, most are rare


# ----------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """A ticket the service wrote, with its stored history and its player's record."""

    ticket: Document
    entries: list[Document]
    player: Document | None

    @property
    def channel(self) -> str:
        return str(self.ticket["channel"])

    @property
    def status(self) -> str:
        return str(self.ticket["status"])

    @property
    def span(self) -> timedelta:
        """From its opening to the last thing that happened to it."""
        last = max([self.ticket["updated_at"], *(e["at"] for e in self.entries)])
        return last - self.ticket["created_at"]


def read_template(store: Store, number: int) -> Template:
    """Ticket `number` as stored, its history in order, and its player's record if any."""
    ticket = store.tickets.find_one({"number": number})
    if ticket is None:
        raise LookupError(f"template #{number} is not in the store")
    if ticket.get("outbox"):
        raise ValueError(f"template #{number} still owes {len(ticket['outbox'])} effects")
    entries = list(store.history.find({"ticket_id": ticket["_id"]}).sort("seq", 1))
    player = ticket["player"]
    known = [
        {name: player[name]}
        for name in ("player_id", "email", "telegram_user_id")
        if player.get(name) is not None
    ]
    record = store.players.find_one({"$or": known}) if known else None
    return Template(ticket, entries, record)


def reserve_numbers(store: Store, count: int) -> range:
    """Take `count` ticket numbers from the counter the service numbers tickets by, in one
    step: they are never handed out again."""
    counter = store.counters.find_one_and_update(
        {"_id": NUMBER_COUNTER},
        {"$inc": {"value": count}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    last = int(counter["value"])
    return range(last - count + 1, last + 1)


# ----------------------------------------------------------------- cloning


def slack_ts(at: datetime, serial: int) -> str:
    """A Slack message `ts` from a moment, unique for distinct serials under a million."""
    return f"{int(at.timestamp())}.{serial % 1_000_000:06d}"


class Rewrite:
    """One clone's mapping of a template's values, applied to every value of a document:
    dates shifted, ids and identities replaced, texts swapped, everything else kept."""

    def __init__(
        self,
        shift: timedelta,
        texts: dict[str, str],
        ids: dict[str, str],
        ints: dict[int, int],
        telegram_chats: dict[str, str],
        object_ids: dict[ObjectId, ObjectId],
    ) -> None:
        self.shift = shift
        self.texts = texts  # whole string values: identities, texts, mail ids, agents
        self.ids = ids  # 24-hex ids, wherever they appear inside a string
        self.ints = ints  # Telegram user and chat ids
        self.telegram_chats = telegram_chats  # "chat:" prefixes of a message's external id
        self.object_ids = object_ids

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        if isinstance(value, datetime):
            return value + self.shift
        if isinstance(value, ObjectId):
            return self.object_ids.setdefault(value, ObjectId())
        if isinstance(value, str):
            return self.string(value, key)
        if isinstance(value, int) and not isinstance(value, bool) and key in TELEGRAM_IDS:
            return self.ints.get(value, value)
        return value

    def string(self, value: str, key: str | None) -> str:
        if value in self.texts:
            return self.texts[value]
        if key == "external_id":
            chat, colon, message = value.partition(":")
            if colon and chat in self.telegram_chats:
                return f"{self.telegram_chats[chat]}:{message}"
        if self.ids and HEX_ID.search(value):
            return HEX_ID.sub(lambda m: self.ids.get(m.group(0), m.group(0)), value)
        return value


class Cloner:
    """Clones of templates: each with a player, ids and texts of its own (seeded)."""

    def __init__(self, seed: int, agents: Sequence[str]) -> None:
        self.seed = seed
        self.agents = list(agents)

    def text(self, rng: random.Random) -> str:
        """A player's words: a sentence or two mostly, a few long ones."""
        words = min(80, max(4, int(rng.triangular(4, 80, 10))))
        picked = rng.choices(EN_PHRASES, cum_weights=PHRASE_CUM, k=words // 2 + 1)
        return " ".join(" ".join(picked).split()[:words])

    def clone(
        self, template: Template, number: int, created_at: datetime
    ) -> tuple[Document, list[Document], Document | None]:
        """The template as ticket `number`, opened at `created_at`: its document, its
        history entries and its player's record (None when the template has none)."""
        rng = random.Random(self.seed * 1_000_003 + number)
        ticket = template.ticket
        rewrite = Rewrite(
            shift=created_at - ticket["created_at"],
            texts=self.identities(ticket, number, rng) | self.texts_of(template, rng),
            ids=self.fresh_ids(template),
            ints={},
            telegram_chats={},
            object_ids={ticket["_id"]: ObjectId()},
        )
        player = ticket["player"]
        user = CLONE_TELEGRAM_USER + number
        for name in TELEGRAM_IDS:
            if player.get(name) is not None:
                rewrite.ints[player[name]] = user
                rewrite.telegram_chats[str(player[name])] = str(user)
                rewrite.texts[f"tg:{player[name]}"] = f"tg:{user}"
        rewrite.texts |= self.resolution(ticket, rewrite)
        rewrite.texts |= self.inbound_ids(ticket, number, rewrite)
        rewrite.texts |= self.mail_ids(template, number, rewrite)
        doc = rewrite(ticket)
        doc["number"] = number
        if "slack_card" in doc.get("refs", {}):
            channel = doc["refs"]["slack_card"].partition(":")[0]
            doc["refs"]["slack_card"] = f"{channel}:{slack_ts(doc['created_at'], number)}"
        entries = []
        for entry in template.entries:
            copy = rewrite(entry)
            copy["number"] = number
            copy["ticket_id"] = doc["_id"]
            if "slack_ts" in copy:
                copy["slack_ts"] = slack_ts(copy["at"], number * 64 + copy["seq"])
            entries.append(copy)
        record = rewrite(template.player) if template.player is not None else None
        return doc, entries, record

    def identities(self, ticket: Document, number: int, rng: random.Random) -> dict[str, str]:
        """The clone's player, agent and game in place of the template's."""
        player = ticket["player"]
        mapping = {}
        if player.get("player_id") is not None:
            new = f"gp{number}"
            mapping |= {player["player_id"]: new, f"id:{player['player_id']}": f"id:{new}"}
        if player.get("email") is not None:
            new = f"player{number}@{PLAYERS_DOMAIN}"
            mapping |= {player["email"]: new, f"email:{player['email']}": f"email:{new}"}
        if player.get("telegram_username") is not None:
            mapping[player["telegram_username"]] = f"gamer{number}"
        if ticket.get("assignee") is not None:
            agent = rng.choices(self.agents, cum_weights=AGENT_CUM)[0]
            mapping |= {ticket["assignee"]: agent, ticket["assignee"].lower(): agent.lower()}
        if ticket.get("queue") is not None:
            mapping[ticket["queue"]] = rng.choice(GAMES)
        return mapping

    def texts_of(self, template: Template, rng: random.Random) -> dict[str, str]:
        """New words for every message of the template (the opening text is the first
        player message, so it follows), and a new subject."""
        mapping = {template.ticket["subject"]: rng.choice(EN_SUBJECTS)}
        for entry in template.entries:
            message = entry.get("message")
            if not message or message["text"] in mapping:
                continue
            kind = message["kind"]
            words = (
                self.text(rng)
                if kind == "player"
                else rng.choice(EN_REPLIES if kind == "reply" else NOTES)
            )
            mapping[message["text"]] = words
        return mapping

    def fresh_ids(self, template: Template) -> dict[str, str]:
        """A fresh id for the ticket and each history entry, as the service makes them."""
        old = [str(template.ticket["_id"]), *(str(entry["_id"]) for entry in template.entries)]
        return {value: str(ObjectId()) for value in old}

    def resolution(self, ticket: Document, rewrite: Rewrite) -> dict[str, str]:
        """The resolution a score question names (`models.resolution_of`: its time in
        whole seconds), moved with the dates: on the refs and in the question's mail id."""
        if ticket.get("resolved_at") is None:
            return {}
        resolved = ticket["resolved_at"]
        return {str(int(resolved.timestamp())): str(int((resolved + rewrite.shift).timestamp()))}

    def inbound_ids(self, ticket: Document, number: int, rewrite: Rewrite) -> dict[str, str]:
        """The platforms' ids of the clone's messages: a Telegram message is the clone's
        player's chat and the message's number there; any other (an API Idempotency-Key,
        a Slack `ts`) is made the clone's own."""
        mapping = {}
        for old in ticket.get("inbound_ids", []):
            platform, _, rest = old.partition(":")
            chat, _, message = rest.partition(":")
            if platform == "telegram" and chat in rewrite.telegram_chats:
                mapping[old] = f"telegram:{rewrite.telegram_chats[chat]}:{message}"
            else:
                mapping[old] = f"{old}.{number}"
        return mapping

    def mail_ids(self, template: Template, number: int, rewrite: Rewrite) -> dict[str, str]:
        """The clone's own Message-Ids: ours name the ticket's number and ids (and the
        resolution a score question is about, which moves with the dates); the player's
        are made up, one per mail."""
        old_number = template.ticket["number"]
        mapping = {}
        for old in template.ticket.get("mail_ids", []):
            if old.startswith(f"<ticket-{old_number}."):
                new = rewrite.string(old, None).replace(
                    f"<ticket-{old_number}.", f"<ticket-{number}.", 1
                )
                new = CSAT_STAMP.sub(
                    lambda m: f".csat-{rewrite.texts.get(m.group(1), m.group(1))}@", new
                )
            else:
                new = f"<{ObjectId()}.{number}@{PLAYERS_DOMAIN}>"
            mapping[old] = new
        return mapping


# ----------------------------------------------------------------- the year's plan


def status_for_age(age: timedelta, rng: random.Random) -> str:
    """The status a ticket opened `age` ago has on a desk that keeps up with its rules."""
    if age < OPEN_FOR:
        return rng.choices(OPEN_STATUSES, cum_weights=OPEN_CUM)[0]
    if age < RESOLVED_FOR:
        return "resolved" if rng.random() < 0.75 else "closed"  # some agents close at once
    return "closed"


def year_plan(numbers: range, now: datetime, seed: int) -> Iterator[tuple[int, datetime, str, str]]:
    """(number, opened at, channel, status) of each ticket: a steady pace over the year
    before now, numbers in the order of opening."""
    rng = random.Random(seed)
    start = now - SPAN
    step = (SPAN - NEWEST_CLONE) / len(numbers)
    for i, number in enumerate(numbers):
        opened = start + step * (i + rng.random())
        opened = opened.replace(microsecond=opened.microsecond // 1000 * 1000)  # as stored
        channel = rng.choices(CHANNELS, cum_weights=CHANNEL_CUM)[0]
        yield number, opened, channel, status_for_age(now - opened, rng)


@dataclass
class Loaded:
    """What was loaded, and the numbers of the tickets on each channel."""

    tickets: int = 0
    entries: int = 0
    players: int = 0
    seconds: float = 0.0
    cloning_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, list[int]] = field(default_factory=dict)  # channel -> its numbers


def load(
    store: Store,
    templates: Sequence[Template],
    numbers: range,
    now: datetime,
    seed: int,
    agents: Sequence[str],
    progress: Callable[[str], None] = lambda text: None,
) -> Loaded:
    """Clones of the templates as tickets `numbers`, inserted in batches."""
    by_kind = {(t.channel, t.status): t for t in templates}
    cloner = Cloner(seed, agents)
    loaded = Loaded()
    plan = year_plan(numbers, now, seed)
    began = time.perf_counter()
    while batch := list(itertools.islice(plan, LOAD_BATCH)):
        tickets, entries, players = [], [], []
        cloning = time.perf_counter()
        for number, opened, channel, status in batch:
            template = by_kind[(channel, status)]
            opened = min(opened, now - NEWEST_CLONE - template.span)
            doc, history, record = cloner.clone(template, number, opened)
            tickets.append(doc)
            entries += history
            if record is not None:
                players.append(record)
            loaded.statuses[status] = loaded.statuses.get(status, 0) + 1
            loaded.numbers.setdefault(channel, []).append(number)
        loaded.cloning_seconds += time.perf_counter() - cloning
        insert(store, tickets, entries, players)
        loaded.tickets += len(tickets)
        loaded.entries += len(entries)
        loaded.players += len(players)
        rate = loaded.tickets / (time.perf_counter() - began)
        progress(f"  loaded {loaded.tickets:,} of {len(numbers):,} tickets ({rate:,.0f}/s)")
    counted(store)
    loaded.seconds = time.perf_counter() - began
    return loaded


def insert(
    store: Store, tickets: list[Document], entries: list[Document], players: list[Document]
) -> None:
    """Clones into the store, as they are: no write of the service's runs for them."""
    store.tickets.insert_many(tickets, ordered=False)
    store.history.insert_many(entries, ordered=False)
    if players:
        store.players.insert_many(players, ordered=False)


def counted(store: Store) -> None:
    """The tickets per status the writer keeps as it writes, counted again from the store
    (what `helpdesk stats --backfill` does): inserted clones went past the writer."""
    TicketCounts(store).recount()


# ----------------------------------------------------------------- the desk


def growth_desk(directory: Path) -> AbstractContextManager[Desk]:
    """A desk on embedded defaults with the fakes around it, the shipped intervals, and
    this benchmark's rules."""
    return running_desk(directory, FLOWS, **SHIPPED)


def player_mail(address: str, subject: str, text: str, answering: str | None = None) -> bytes:
    """A player's plain-text mail to support; `answering`: the Message-Id it replies to."""
    message = EmailMessage()
    message["From"] = f"Player <{address}>"
    message["To"] = SUPPORT_ADDRESS
    message["Subject"] = subject
    message["Message-Id"] = make_msgid(domain=PLAYERS_DOMAIN)
    if answering is not None:
        message["In-Reply-To"] = answering
        message["References"] = answering
    message.set_content(text)
    return bytes(message)


class TemplateMaker:
    """Tickets through the real system, from the outside: players write on their channel,
    an agent works the ticket from Slack."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.triggers = itertools.count(1)

    def make(self) -> list[int]:
        """A ticket for each channel and status, its outbox delivered; their numbers."""
        opened = {}
        for index, (channel, status) in enumerate(itertools.product(CHANNELS, STATUSES), 1):
            opened[(channel, status)] = self.open(channel, index)
        for (channel, status), number in opened.items():
            wait_for(lambda n=number: self.desk.ticket(n)["message_count"] >= 2, "follow-up", 30)
            self.work(channel, status, number)
        wait_for(self.desk.drained, "the templates' outboxes to empty", 180)
        return list(opened.values())

    def open(self, channel: str, index: int) -> int:
        # Topics unlike each other: alike, they would make a storm, and an incident.
        subject, detail = TEMPLATE_TOPICS[index - 1]
        text = f"{subject}\n{detail}"
        follow = f"Any news about {subject.lower()}?"
        desk = self.desk
        if channel == "api":
            body = {
                "text": text,
                "player_id": f"tpl-{index}",
                "email": f"tpl{index}@{PLAYERS_DOMAIN}",
                "game": TEMPLATE_GAME,
            }
            answer = desk.api("POST", "/api/v1/tickets", json=body)
            assert answer.status_code == 201, answer.text
            number = int(answer.json()["number"])
            answer = desk.api("POST", f"/api/v1/tickets/{number}/messages", json={"text": follow})
            assert answer.status_code in (200, 201), answer.text
            return number
        if channel == "telegram":
            user = TEMPLATE_TELEGRAM_USER + index
            desk.telegram(text_update(user_id=user, text=text))
            number = desk.number_where({"player.telegram_user_id": user})
            desk.telegram(text_update(user_id=user, text=follow))
            return number
        address = f"tpl{index}@{PLAYERS_DOMAIN}"
        first = player_mail(address, subject, text)
        desk.mail(first)
        number = desk.number_where({"player.email": address})
        first_id = str(message_from_bytes(first)["Message-Id"])
        desk.mail(player_mail(address, f"Re: {subject}", follow, answering=first_id))
        return number

    def work(self, channel: str, status: str, number: int) -> None:
        """Down to `status`: take, note, answer, resolve, rate (Telegram), close."""
        if status == "new":
            return
        self.step(number, lambda: self.desk.click(ANN, "ticket.take", number))
        if status in ("answered", "closed"):
            self.note(number, f"Checked the purchase logs of #{number}")
        if status == "inprogress":
            return
        self.reply(number, "waiting" if status == "waiting" else "answered")
        if status in ("waiting", "answered"):
            return
        self.step(number, lambda: self.desk.click(ANN, "ticket.resolve", number))
        if status == "resolved":
            return
        if channel == "telegram":
            self.rate(number, 4)
        self.step(number, lambda: self.desk.click(ANN, "ticket.status", number, selected="closed"))

    def step(self, number: int, action: Callable[[], None]) -> None:
        """Do `action` and wait until the ticket has changed (Slack's listeners run after
        their ack)."""
        before = self.desk.ticket(number)["version"]
        action()
        wait_for(lambda: self.desk.ticket(number)["version"] > before, f"#{number} to change", 30)

    def reply(self, number: int, status: str) -> None:
        trigger = f"tpl-trigger-{next(self.triggers)}"
        text = f"We restored the gems of #{number}, please restart the game"
        values = {
            "reply.text.0": {"text": {"type": "plain_text_input", "value": text}},
            "status": {"status": {"type": "static_select", "selected_option": {"value": status}}},
        }

        def answer() -> None:
            self.desk.click(ANN, "ticket.reply", number, trigger_id=trigger)
            self.desk.submit(ANN, trigger, values)

        self.step(number, answer)

    def note(self, number: int, text: str) -> None:
        trigger = f"tpl-trigger-{next(self.triggers)}"
        values = {"note.text": {"text": {"type": "plain_text_input", "value": text}}}

        def write() -> None:
            self.desk.click(ANN, "ticket.note", number, trigger_id=trigger)
            self.desk.submit(ANN, trigger, values)

        self.step(number, write)

    def rate(self, number: int, score: int) -> None:
        """The Telegram player presses a score under the question the desk sent them."""
        user = int(self.desk.ticket(number)["player"]["telegram_user_id"])

        def question() -> tuple[int, str] | None:
            for message in self.desk.fakes.telegram.sent_to(user):
                markup = message.get("reply_markup") or {}
                if isinstance(markup, str):
                    markup = json.loads(markup)
                for row in markup.get("inline_keyboard", []):
                    for button in row:
                        data = str(button.get("callback_data", ""))
                        if data.startswith(f"csat:{number}:") and data.endswith(f":{score}"):
                            return int(message["message_id"]), data
            return None

        wait_for(question, f"the score question of #{number}", 60)
        found = question()
        assert found is not None
        message_id, data = found
        self.step(
            number,
            lambda: self.desk.telegram(
                callback_update(user_id=user, data=data, message_id=message_id)
            ),
        )


# ----------------------------------------------------------------- watching processes


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def high_water(process: psutil.Process) -> int:
    """The most resident memory the kernel saw the process hold (Linux keeps it), or 0."""
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def describe(process: psutil.Process) -> str:
    """A child process by what it runs (`python -m embedded.servers` is the embedded
    MongoDB-wire server)."""
    command = process.cmdline()
    if "-m" in command[:-1]:
        module = " ".join(command[command.index("-m") + 1 :][:2])
        return "embedded MongoDB" if module.startswith("embedded.servers") else module
    return process.name()


def embedded_redis(desk: Desk) -> int | None:
    """The pid of the desk's embedded Redis: a daemon of its own, outside serve's tree,
    found by the directory of its socket."""
    running = servers.published(desk.data_dir)
    url = running.redis_url if running is not None else None
    if not url or not url.startswith("unix://"):
        return None
    directory = str(Path(url.removeprefix("unix://")).parent)
    for process in psutil.process_iter(["name", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "redis" in (process.info["name"] or "") and directory in command:
            return int(process.pid)
    return None


class PeakMemory:
    """The peak resident memory of processes and their children, sampled in a thread (and
    the kernel's own high-water mark where it keeps one)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.roots: dict[str, psutil.Process] = {}
        self.peaks: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="peak-memory", daemon=True)
        self.thread.start()

    def watch(self, label: str, pid: int) -> None:
        with self.lock:
            self.roots[label] = psutil.Process(pid)
        self.sample()

    def forget(self, label: str) -> None:
        self.sample()
        with self.lock:
            self.roots.pop(label, None)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with self.lock:
            roots = dict(self.roots)
        for label, root in roots.items():
            try:
                tree = [(label, root)] + [
                    (f"{label} > {describe(child)}", child)
                    for child in root.children(recursive=True)
                ]
            except psutil.Error:
                continue
            for name, process in tree:
                try:
                    rss = max(process.memory_info().rss, high_water(process))
                except psutil.Error:
                    continue
                with self.lock:
                    self.peaks[name] = max(self.peaks.get(name, 0), rss)

    def stop(self) -> dict[str, int]:
        self.sample()
        self.stopped.set()
        self.thread.join(timeout=5)
        return dict(self.peaks)


def disk_usage(directory: Path) -> int:
    """Bytes the files under `directory` take on disk."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:  # a file the desk removed meanwhile
                continue
            total += getattr(stat, "st_blocks", 0) * 512 or stat.st_size
    return total


# ----------------------------------------------------------------- measuring


class SlackWatch:
    """When the fake Slack received what the desk sends after answering a request: a body
    posted to a response URL, a call to a Web API method."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.arrived: dict[str, float] = {}
        catcher = slack.response_catcher
        record = catcher.record

        def timed_record(response_id: str, body: dict[str, Any]) -> None:
            self.arrived.setdefault(response_id, time.monotonic())
            record(response_id, body)

        catcher.record = timed_record  # type: ignore[method-assign]

    def response(self, response_id: str, since: float) -> float:
        """Seconds from `since` until the response URL got its first body."""
        deadline = since + SETTLE_SECONDS
        while response_id not in self.arrived:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer at response URL {response_id}")
            time.sleep(POLL_SECONDS)
        return self.arrived[response_id] - since

    def call(self, method: str, test: Callable[[dict[str, Any]], bool], since: float) -> float:
        """Seconds from `since` until the first successful call of `method` after it that
        passes `test`."""
        deadline = since + SETTLE_SECONDS
        while True:
            for call in self.slack.calls_to(method):
                if call.at >= since and test(call.params):
                    return call.at - since
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} call came")
            time.sleep(POLL_SECONDS)


def card_of(number: int) -> Callable[[dict[str, Any]], bool]:
    """Whether a chat.postMessage call posts ticket `number`'s card (not a thread message)."""

    def test(params: dict[str, Any]) -> bool:
        metadata = params.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        payload = metadata.get("event_payload") or {}
        return payload.get("number") == number and not params.get("thread_ts")

    return test


def words(rng: random.Random, count: int = 8) -> str:
    """Words unlike any other request's: alike, new tickets would make a storm."""
    return " ".join(f"{rng.getrandbits(32):08x}" for _ in range(count))


class Timer:
    """Each request's timed runs, after its warm-up runs; a request past its budget
    stops once it has MIN_RUNS timed runs."""

    def __init__(self, warmup: int, repeats: int, budget: float) -> None:
        self.warmup = warmup
        self.repeats = repeats
        self.budget = budget
        self.runs: dict[str, list[float]] = {}
        self.spent: dict[str, float] = {}

    def wanted(self, name: str, round_index: int) -> bool:
        runs = self.runs.get(name, [])
        if round_index < self.warmup:
            return True
        return len(runs) < MIN_RUNS or self.spent.get(name, 0.0) < self.budget

    def record(self, name: str, round_index: int, seconds: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + seconds
        if round_index >= self.warmup:
            self.runs.setdefault(name, []).append(seconds)

    def time(self, name: str, round_index: int, call: Callable[[], float | None]) -> None:
        """Run `call` if the request still wants runs; it returns its own latency, or None
        for the time the call took."""
        if not self.wanted(name, round_index):
            return
        began = time.perf_counter()
        latency = call()
        self.record(name, round_index, time.perf_counter() - began if latency is None else latency)

    @property
    def rounds(self) -> int:
        return self.warmup + self.repeats


class People:
    """The players, agents and leads of one desk, making the requests the benchmark times."""

    def __init__(self, desk: Desk, loaded: Loaded, seed: int) -> None:
        self.desk = desk
        self.loaded = loaded
        self.rng = random.Random(seed + 2)
        self.watch = SlackWatch(desk.fakes.slack)
        self.ids = itertools.count(1)
        self.numbers = [n for numbers in loaded.numbers.values() for n in numbers]

    # -- helpers ---------------------------------------------------------------------

    def get(self, path: str) -> None:
        answer = self.desk.api("GET", path, timeout=300)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text[:300]}"

    def settle(self, numbers: Sequence[int]) -> None:
        """Wait until the tickets owe nothing: the next round starts on a quiet desk."""
        deadline = time.monotonic() + SETTLE_SECONDS
        tickets = self.desk.store.tickets
        while any(
            (tickets.find_one({"number": n}, {"outbox": 1}) or {}).get("outbox") for n in numbers
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"tickets {list(numbers)} still owe effects")
            time.sleep(0.1)

    # -- writes ------------------------------------------------------------------------

    def writes(self, timer: Timer) -> None:
        """Rounds of one of each write, each round left to settle before the next."""
        for index in range(timer.rounds):
            progress(f"    writes: round {index + 1} of {timer.rounds}")
            self.write_round(timer, index)

    def write_round(self, timer: Timer, index: int) -> None:
        desk, rng = self.desk, self.rng
        serial = next(self.ids)
        body = {"text": f"Purchase failed {words(rng)}", "player_id": f"bench-{serial}"}
        sent = time.monotonic()
        began = time.perf_counter()
        answer = desk.api("POST", "/api/v1/tickets", json=body, timeout=300)
        timer.record("POST /api/v1/tickets (new ticket)", index, time.perf_counter() - began)
        assert answer.status_code == 201, answer.text
        api_number = int(answer.json()["number"])
        # Before the player writes again: a follow-up would redraw a card in line.
        card = self.watch.call("chat.postMessage", card_of(api_number), sent)
        timer.record("card's first post after POST /api/v1/tickets", index, card)

        def follow_up() -> None:
            path = f"/api/v1/tickets/{api_number}/messages"
            answer = desk.api("POST", path, json={"text": words(rng)}, timeout=300)
            assert answer.status_code in (200, 201), answer.text

        timer.time("POST /api/v1/tickets/{n}/messages", index, follow_up)
        user = BENCH_TELEGRAM_USER + serial
        opening = text_update(user_id=user, text=f"Shop broken {words(rng)}")
        timer.time("Telegram update opening a ticket", index, lambda: desk.telegram(opening))
        telegram_number = desk.number_where({"player.telegram_user_id": user})
        again = text_update(user_id=user, text=words(rng))
        timer.time("Telegram update following up", index, lambda: desk.telegram(again))
        address = f"bench{serial}@{PLAYERS_DOMAIN}"
        first = player_mail(address, f"Lost items {serial}", words(rng))
        timer.time("Mailgun inbound mail opening a ticket", index, lambda: desk.mail(first))
        mail_number = desk.number_where({"player.email": address})
        first_id = str(message_from_bytes(first)["Message-Id"])
        answer_mail = player_mail(address, f"Re: Lost items {serial}", words(rng), first_id)
        timer.time("Mailgun inbound mail answering", index, lambda: desk.mail(answer_mail))
        self.settle([api_number, telegram_number, mail_number])

    # -- reads -------------------------------------------------------------------------

    def reads(self, timer: Timer) -> None:
        """Rounds of every read, interleaved, so that all see the same caches."""
        first_page = self.desk.api("GET", "/api/v1/tickets?limit=20", timeout=300).json()
        cursor = first_page["next_cursor"]
        api_numbers = self.loaded.numbers.get("api", [])
        calls: dict[str, Callable[[], float | None]] = {
            "GET /api/v1/tickets/{n} (with its messages)": lambda: self.get(
                f"/api/v1/tickets/{self.rng.choice(self.numbers)}"
            ),
            "GET /api/v1/tickets?limit=20": lambda: self.get("/api/v1/tickets?limit=20"),
            "  ... &status=new": lambda: self.get("/api/v1/tickets?limit=20&status=new"),
            "  ... &status=closed": lambda: self.get("/api/v1/tickets?limit=20&status=closed"),
            f"  ... &assignee={ANN}": lambda: self.get(f"/api/v1/tickets?limit=20&assignee={ANN}"),
            "  ... &player_id=": lambda: self.get(
                f"/api/v1/tickets?limit=20&player_id=gp{self.rng.choice(api_numbers)}"
            ),
            "  ... second page (&cursor=)": lambda: self.get(
                f"/api/v1/tickets?limit=20&cursor={cursor}"
            ),
            "search ?q=gems": lambda: self.get("/api/v1/tickets?q=gems&limit=20"),
            "search ?q=refund status:closed": lambda: self.get(
                "/api/v1/tickets?q=refund%20status:closed&limit=20"
            ),
            "GET /api/v1/stats?since=30d": lambda: self.get("/api/v1/stats?since=30d"),
            "Slack /ticket queue": lambda: self.command("queue"),
            "Slack /ticket mine": lambda: self.command("mine"),
            "Slack Home tab (app_home_opened)": self.home,
        }
        for index in range(timer.rounds):
            progress(f"    reads: round {index + 1} of {timer.rounds}")
            for name, call in calls.items():
                timer.time(name, index, call)

    def command(self, text: str) -> float:
        """Seconds until `/ticket text`'s answer reaches its response URL."""
        response_id = f"growth-{next(self.ids)}"
        url = self.desk.fakes.slack.response_url(response_id)
        body = slash_command_body(user=ANN, text=text, response_url=url)
        sent = time.monotonic()
        self.desk.slack(body)
        return self.watch.response(response_id, sent)

    def home(self) -> float:
        """Seconds until the Home tab the agent opened is published."""
        event = {"type": "app_home_opened", "user": ANN, "channel": "D0ANN", "tab": "home"}
        body = event_body(event, event_id=f"EvGrowth{next(self.ids)}")
        sent = time.monotonic()
        self.desk.slack(body, content_type="application/json")
        return self.watch.call("views.publish", lambda p: p.get("user_id") == ANN, sent)


def sweeps(store: Store, rules: FlowsFile, timer: Timer) -> dict[str, int]:
    """The periodic sweeps, called as `jobs/periodic.py` calls them, against the store;
    how many tickets each acted on in all (on a desk that keeps up: none)."""
    service = TicketService(store, lambda: datetime.now(UTC), sla=lambda: rules.sla)
    escalation, autoclose = rules.escalation, rules.autoclose
    acted = {"SLA alerts": 0, "escalation reminders": 0, "auto-close": 0}

    def sla() -> None:
        acted["SLA alerts"] += len(service.raise_sla_alerts())

    def reminders() -> None:
        repeated = service.repeat_escalations(
            every=escalation.repeat_every, limit=escalation.max_repeats
        )
        acted["escalation reminders"] += len(repeated)

    def auto_close() -> None:
        resolved, closed = service.auto_close(
            answered_after=autoclose.answered_after, resolved_after=autoclose.resolved_after
        )
        acted["auto-close"] += len(resolved) + len(closed)

    for index in range(timer.rounds):
        timer.time("sweep: SLA alerts", index, sla)
        timer.time("sweep: escalation reminders", index, reminders)
        timer.time("sweep: auto-close", index, auto_close)
    return acted


def reindex(desk: Desk, memory: PeakMemory) -> Document:
    """`helpdesk reindex` beside the running desk, timed as a process."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "reindex"],
        env=desk.env() | {"COLUMNS": "200"},  # its summary on one line
        cwd=desk.data_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory.watch("helpdesk reindex", process.pid)
    out, err = process.communicate()
    seconds = time.perf_counter() - began
    memory.forget("helpdesk reindex")
    if process.returncode != 0:
        raise RuntimeError(f"helpdesk reindex failed:\n{(out + err)[-2000:]}")
    said = next((line for line in err.splitlines() if "is live" in line), "")
    return {"seconds": round(seconds, 2), "said": said.strip()}


def measure_size(n: int, args: argparse.Namespace, directory: Path) -> Document:
    """One desk grown to `n` tickets, and every figure taken on it."""
    measured = revision()  # the code may change between sizes: each says what it ran
    with ExitStack() as stack:
        desk = stack.enter_context(growth_desk(directory))
        memory = PeakMemory()
        stack.callback(memory.stop)
        assert desk.web is not None and desk.worker is not None
        memory.watch("helpdesk serve", desk.web.pid)
        memory.watch("helpdesk worker", desk.worker.pid)
        redis = embedded_redis(desk)
        if redis is not None:
            memory.watch("embedded Redis", redis)
        store = Store(desk.store)
        numbers = reserve_numbers(store, n)
        progress(f"{n:,} tickets: templates through the desk")
        began = time.perf_counter()
        made = TemplateMaker(desk).make()
        template_seconds = time.perf_counter() - began
        templates = [read_template(store, number) for number in made]
        progress(f"  {len(templates)} templates in {template_seconds:.0f} s; loading")
        now = datetime.now(UTC)
        loaded = load(store, templates, numbers, now, args.seed, agent_pool(ANN), progress)
        progress(f"  loaded in {loaded.seconds:.0f} s; helpdesk reindex")
        indexed = reindex(desk, memory)
        progress(f"  reindex: {indexed['seconds']:.1f} s; measuring")
        timer = Timer(args.warmup, args.repeats, args.budget)
        people = People(desk, loaded, args.seed)
        load_before = os.getloadavg()[0]
        people.writes(timer)
        people.reads(timer)
        rules = load_flows_file(desk.data_dir.parent / "flows.yaml")
        acted = sweeps(store, rules, timer)
        load_after = os.getloadavg()[0]
        data_dir = disk_usage(desk.data_dir)
        peaks = memory.stop()
    rows = {
        name: {
            "p50_ms": round(percentile(runs, 0.5) * 1000, 2),
            "p95_ms": round(percentile(runs, 0.95) * 1000, 2),
            "max_ms": round(max(runs) * 1000, 2),
            "runs": len(runs),
            "runs_ms": [round(seconds * 1000, 1) for seconds in runs],
        }
        for name, runs in timer.runs.items()
    }
    return {
        "n": n,
        "revision": measured,
        "machine_load_1min": [round(load_before, 2), round(load_after, 2)],
        "templates": len(templates),
        "template_seconds": round(template_seconds, 1),
        "loaded_tickets": loaded.tickets,
        "loaded_history_entries": loaded.entries,
        "loaded_players": loaded.players,
        "load_seconds": round(loaded.seconds, 1),
        "cloning_seconds": round(loaded.cloning_seconds, 1),
        "load_tickets_per_s": round(loaded.tickets / loaded.seconds, 1),
        "statuses": dict(sorted(loaded.statuses.items())),
        "reindex_seconds": indexed["seconds"],
        "reindex_said": indexed["said"],
        "sweeps_acted_on": acted,
        "data_dir_bytes": data_dir,
        "peak_rss_bytes": dict(sorted(peaks.items())),
        "rows": rows,
    }


# ----------------------------------------------------------------- report

STATS_ROW = "GET /api/v1/stats?since=30d"
REINDEX_ROW = "helpdesk reindex (one run, s)"


def judge(sizes: list[Document]) -> Document:
    """Each request's figures across the sizes, its growth and its target."""
    smallest, largest = sizes[0], sizes[-1]
    rows: Document = {}
    for name in smallest["rows"]:
        by_size = {str(size["n"]): size["rows"][name] for size in sizes}
        first, last = smallest["rows"][name]["p50_ms"], largest["rows"][name]["p50_ms"]
        ratio = last / first if first else None
        if name == STATS_ROW:
            target = f"p50 < {MAX_STATS_SECONDS:g} s at {largest['n']:,}"
            met: bool | None = last < MAX_STATS_SECONDS * 1000
        else:
            target = f"<= {MAX_RATIO:g}x"
            met = None if len(sizes) < 2 or ratio is None else ratio <= MAX_RATIO
        rows[name] = {"by_size": by_size, "ratio": ratio, "target": target, "met": met}
    judged = [size for size in sizes if size["n"] >= REINDEX_TICKETS]
    reindex_met = (
        all(
            size["reindex_seconds"] <= MAX_REINDEX_SECONDS * size["n"] / REINDEX_TICKETS
            for size in judged
        )
        if judged
        else None
    )
    first, last = smallest["reindex_seconds"], largest["reindex_seconds"]
    rows[REINDEX_ROW] = {
        "by_size": {str(size["n"]): {"seconds": size["reindex_seconds"]} for size in sizes},
        "ratio": last / first if first else None,
        "target": (
            f"{MAX_REINDEX_SECONDS:g} s per {REINDEX_TICKETS:,}"
            + ("" if judged else f" (judged from {REINDEX_TICKETS:,})")
        ),
        "met": reindex_met,
    }
    return rows


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def report(fig: Document) -> str:
    sizes = fig["sizes"]
    header = [
        "request",
        *(f"{size['n']:,}: p50/p95 ms" for size in sizes),
        "p50 x",
        "target",
        "",
    ]
    rows = [header]
    for name, row in fig["rows"].items():
        cells = []
        for size in sizes:
            got = row["by_size"][str(size["n"])]
            if "seconds" in got:
                cells.append(f"{got['seconds']:.1f} s")
                continue
            runs = "" if got["runs"] >= fig["repeats"] else f" ({got['runs']} runs)"
            cells.append(f"{ms(got['p50_ms'])}/{ms(got['p95_ms'])}{runs}")
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = "not judged" if row["met"] is None else verdict(row["met"])
        rows.append([name, *cells, ratio, row["target"], met])
    details = []
    for size in sizes:
        statuses = ", ".join(f"{k} {v:,}" for k, v in size["statuses"].items())
        details += [
            f"  {size['n']:,} tickets: {size['templates']} templates through the desk in "
            f"{size['template_seconds']:.0f} s; {size['loaded_tickets']:,} clones, "
            f"{size['loaded_history_entries']:,} history entries and "
            f"{size['loaded_players']:,} player records loaded in {size['load_seconds']:.0f} s "
            f"({size['load_tickets_per_s']:,.0f} tickets/s, {size['cloning_seconds']:.0f} s "
            "of it cloning)",
            f"    statuses: {statuses}",
            f"    reindex: {size['reindex_said'] or '-'}",
            f"    sweeps acted on: {size['sweeps_acted_on']}; revision {size['revision']}; "
            f"machine load (1 min) {size['machine_load_1min'][0]:g} before the timed "
            f"requests, {size['machine_load_1min'][1]:g} after",
            f"    DATA_DIR on disk: {size['data_dir_bytes'] / 2**20:,.0f} MiB; peak RSS: "
            + ", ".join(
                f"{name} {rss / 2**20:,.0f} MiB" for name, rss in size["peak_rss_bytes"].items()
            ),
        ]
    judged = {name: row["met"] for name, row in fig["rows"].items() if row["met"] is not None}
    missed = [name for name, met in judged.items() if not met]
    targets = [
        f"  each request's p50 at {sizes[-1]['n']:,} within {MAX_RATIO:g}x of its p50 at "
        f"{sizes[0]['n']:,} (the 30-day stats: under {MAX_STATS_SECONDS:g} s at "
        f"{sizes[-1]['n']:,}; reindex: {MAX_REINDEX_SECONDS:g} s per {REINDEX_TICKETS:,} "
        f"tickets, judged from {REINDEX_TICKETS:,}): {len(judged) - len(missed)} of "
        f"{len(judged)} met",
        *(f"    MISSED: {name}" for name in missed),
    ]
    shown = ", ".join(f"{size['n']:,}" for size in sizes)
    title = (
        f"growth benchmark, sizes {shown}, {fig['warmup']} warm-up and {fig['repeats']} "
        f"timed runs each, seed {fig['seed']}, revision {' / '.join(fig['revisions'])}"
    )
    return summary(title, rows, "details:", details, judged, targets)


# ----------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {', '.join(f'{n:,}' for n in QUICK_SIZES)} (the default)",
    )
    which.add_argument(
        "--full", action="store_true", help=f"sizes {', '.join(f'{n:,}' for n in FULL_SIZES)}"
    )
    which.add_argument(
        "--sizes",
        type=lambda text: sorted({positive(int)(part) for part in text.split(",")}),
        help="other sizes, comma-separated, e.g. 1000,10000",
    )
    parser.add_argument(
        "--repeats", type=positive(int), default=REPEATS, help=f"timed runs (default {REPEATS})"
    )
    parser.add_argument(
        "--warmup", type=int, default=WARMUP, help=f"runs before timing (default {WARMUP})"
    )
    parser.add_argument(
        "--budget",
        type=positive(float),
        default=BUDGET_SECONDS,
        help=f"seconds a request may take in all before it stops early (default "
        f"{BUDGET_SECONDS:g}, after at least {MIN_RUNS} runs)",
    )
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(FULL_SIZES if args.full else QUICK_SIZES)
    return args


def revision() -> str | None:
    """The commit measured, `-dirty` when the work tree differs from it."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = []
    with temporary_dir("growth-bench-") as directory:
        for n in args.sizes:
            sizes.append(measure_size(n, args, directory / f"n{n}"))
            shutil.rmtree(directory / f"n{n}", ignore_errors=True)  # its disk, for the next
    fig: Document = {
        "revisions": sorted({str(size["revision"]) for size in sizes}),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "budget_seconds": args.budget,
        "seed": args.seed,
        "sizes": sizes,
    }
    fig["rows"] = judge(sizes)
    for size in sizes:
        del size["rows"]  # kept once, by request, in fig["rows"]
    fig["targets_met"] = {
        name: row["met"] for name, row in fig["rows"].items() if row["met"] is not None
    }
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
