"""Load benchmark: a busy support day compressed into ten minutes, end to end.

It runs the helpdesk as in the end-to-end suite (`helpdesk serve` and `--workers`
`helpdesk worker` processes on embedded defaults, in a temporary DATA_DIR) against the
fake Slack, Telegram, Mailgun and game-account servers, which answer 429 at the platforms'
real limits: chat.postMessage one a second per channel, chat.update one a second for the
workspace (Tier 3), Telegram one a second per chat and 30 a second overall.

The day: `--n` players (default 1,500) open tickets by Telegram, e-mail and the game API
over the first 80% of `--minutes` (default 10); each writes again a little later; an agent
takes the ticket from its Slack card, answers it through the Reply modal (all through
signed Slack requests), and the player answers back: four messages a ticket, 6,000 in all.
A storm of `--storm` near-identical API tickets arrives at 40% of the day and should
become one incident. Tickets are spread over 16 queues (4 games x 4 regions), each with
its own Slack channel, by flow rules (Telegram, e-mail) or the API's `game` field: at this
compression the day needs about 10 Slack posts a second, ten times what one channel takes.

It prints the p50/p95/p99 of player-message-to-card (outside the storm), follow-up to its
thread message, and agent-reply-to-player (Telegram and e-mail) latencies; the effects
owed, delivered, lost and duplicated (cards, thread messages, replies, stored messages);
the job backlog (outbox effects owed, RQ jobs waiting) over time; and how long after the
day's end the backlog took to reach zero. Then one line of JSON with every figure.
Run it from the project root: `.venv/bin/python bench/day.py` (`--quick`: 300 players in
four minutes).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import dataclasses
import heapq
import itertools
import json
import random
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import redis

from bench.harness import percentile, positive, print_results, summary, temporary_dir, verdict
from embedded import servers
from tests.e2e.desk import AGENTS, LEAD_GROUP, Desk, Fakes
from tests.fakes.game_api import FakeGameApi
from tests.fakes.http import Call
from tests.fakes.mail import SUPPORT_ADDRESS
from tests.fakes.mailgun import FakeMailgun, SentMail
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram, text_update

Document = dict[str, Any]

GAMES = ("skyforge", "ironpeak", "moonvale", "stormhold")
REGIONS = ("eu", "na", "asia", "latam")
QUEUES = [f"{game}-{region}" for game in GAMES for region in REGIONS]
CHANNELS = {queue: f"C0Q{n:02d}" for n, queue in enumerate(QUEUES)}
AGENT_IDS = [f"U0AGENT{n:02d}" for n in range(12)]
STORM_QUEUE = QUEUES[0]
SLACK, PLAYER = "slack", "player"  # where a token can be seen
STORM_TEXT = "cannot log in after the patch the launcher says error 1047 when connecting"
TOPICS = (
    "purchase did not arrive",
    "lost my guild rank",
    "cannot change nickname",
    "arena reward missing",
    "account was banned",
    "game crashes on start",
    "refund for double charge",
    "friend list is empty",
)
FIRST_TELEGRAM_USER = 500_000
SAMPLE_SECONDS = 2.0
# How often the effects owed are counted while the day runs (after it, every sample): no
# index serves that count on the embedded server, and reading every ticket every two
# seconds took 8% of the store's time at 1,500 tickets, a load the desk itself never has.
OWED_SECONDS = 10.0
# How often the fakes' records are read: each read copies them all, and this process is
# also the players, the agents and the fakes on the same two cores. The times measured
# are the fakes' own, so reading less often does not blur them.
WATCH_SECONDS = 0.5
STEP_PATIENCE = 300.0  # seconds after its opening a story's step waits for what it needs
CARD_TITLE = re.compile(r"^#(\d+) · ")
TOKEN = re.compile(r"\b([ofra])(\d{5})k\b")  # o: opening, f: follow-up, r: reply, a: answer

# One rule a queue: a player names the game and the region in the message, as a word of
# its own (the flows file's patterns are RE2, without \b).
FLOWS = "rules:\n" + "".join(
    f"  - name: route-{queue}\n"
    f"    on: ticket.created\n"
    f'    if: {{text_matches: "(?i)(?:^|\\\\W){queue}(?:\\\\W|$)"}}\n'
    f"    then:\n"
    f"      - set_queue: {queue}\n"
    for queue in QUEUES
)


def token(kind: str, index: int) -> str:
    return f"{kind}{index:05d}k"


def words(rng: random.Random) -> str:
    """Words unlike any other player's."""
    return " ".join(uuid.UUID(int=rng.getrandbits(128)).hex[:7] for _ in range(10))


# ----------------------------------------------------------------- the day's plan


@dataclass
class Story:
    """One player's ticket through the day, with the moments each step happened."""

    index: int
    channel: str  # telegram | email | api
    queue: str
    opens_at: float  # seconds into the day
    follows_after: float
    takes_after: float
    replies_after: float
    answers_after: float
    storm: bool = False
    number: int | None = None
    sent: dict[str, float] = field(default_factory=dict)  # token kind -> monotonic send time
    mail_ids: list[str] = field(default_factory=list)

    @property
    def telegram_user(self) -> int:
        return FIRST_TELEGRAM_USER + self.index

    @property
    def email(self) -> str:
        return f"player{self.index}@players.example"


def plan(players: int, storm: int, seconds: float, seed: int) -> list[Story]:
    rng = random.Random(seed)
    opening = seconds * 0.8
    channels = ["telegram"] * 60 + ["email"] * 20 + ["api"] * 20
    stories = [
        Story(
            index=i,
            channel=rng.choice(channels),
            queue=rng.choice(QUEUES),
            # Arrivals follow a busy day's shape: a morning rise, an evening peak.
            opens_at=opening * rng.betavariate(1.6, 1.3),
            follows_after=rng.uniform(5, 30),
            takes_after=rng.uniform(10, 45),
            replies_after=rng.uniform(5, 30),
            answers_after=rng.uniform(5, 25),
        )
        for i in range(players)
    ]
    storm_start = seconds * 0.4
    stories += [
        Story(
            index=players + n,
            channel="api",
            queue=STORM_QUEUE,
            opens_at=storm_start + n * 20 / max(1, storm),
            follows_after=0,
            takes_after=0,
            replies_after=0,
            answers_after=0,
            storm=True,
        )
        for n in range(storm)
    ]
    return stories


# ----------------------------------------------------------------- the people


class Day:
    """Players and agents acting on the plan, and what the fakes saw, as it happens."""

    def __init__(self, desk: Desk, stories: list[Story], seed: int) -> None:
        self.desk = desk
        self.stories = stories
        self.by_index = {s.index: s for s in stories}
        self.rng = random.Random(seed + 1)
        self.http = httpx.Client(timeout=30)
        self.lock = threading.Lock()
        # Where each token was seen (Slack, or the player's own channel), and when each
        # copy arrived: an agent's reply shows in both, and is owed once in each.
        self.seen: dict[str, dict[str, list[float]]] = {SLACK: {}, PLAYER: {}}
        self.cards: Counter[int] = Counter()
        self.card_at: dict[int, float] = {}  # story index -> when its card was posted
        self.numbers: dict[int, int] = {}  # story index -> the number on its card
        self.errors: Counter[str] = Counter()
        self._cursor: dict[str, int] = {"slack": 0, "telegram": 0, "mailgun": 0}
        self.start = time.monotonic()  # the day's second zero, set again when it begins

    # -- players ---------------------------------------------------------------------

    def text(self, story: Story, kind: str) -> str:
        """A player's words: a topic of their own, varied, so that only the storm is one."""
        opening = f"{story.queue} {self.rng.choice(TOPICS)}" if kind == "o" else ""
        return f"{token(kind, story.index)} {opening} {words(self.rng)}"

    def player_writes(self, story: Story, kind: str) -> None:
        text = STORM_TEXT if story.storm else self.text(story, kind)
        story.sent[kind] = time.monotonic()
        if story.channel == "telegram":
            update = text_update(user_id=story.telegram_user, text=text)
            self.post("/telegram/webhook", json=update, headers=self.desk_headers("telegram"))
        elif story.channel == "email":
            self.mail(story, kind, text)
        elif kind == "o":
            body = {"text": text, "player_id": f"g{story.index}", "game": story.queue}
            answer = self.post("/api/v1/tickets", json=body, headers=self.desk_headers("api"))
            if answer is not None:
                story.number = int(answer.json()["number"])
        else:
            assert story.number is not None
            path = f"/api/v1/tickets/{story.number}/messages"
            self.post(path, json={"text": text}, headers=self.desk_headers("api"))

    def mail(self, story: Story, kind: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = f"Player {story.index} <{story.email}>"
        message["To"] = SUPPORT_ADDRESS
        message["Subject"] = ("Re: " if kind != "o" else "") + f"Purchase {story.queue}"
        message["Message-Id"] = make_msgid(domain="players.example")
        if story.mail_ids:  # answering in the same conversation
            message["In-Reply-To"] = story.mail_ids[-1]
            message["References"] = " ".join(story.mail_ids)
        message.set_content(text)
        story.mail_ids.append(message["Message-Id"])
        try:
            self.desk.mail(bytes(message))
        except (AssertionError, httpx.HTTPError) as exc:
            self.errors[f"mail: {exc}"[:80]] += 1

    def desk_headers(self, kind: str) -> dict[str, str]:
        from tests.e2e.desk import API_KEY, TELEGRAM_SECRET

        if kind == "telegram":
            return {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        return {"Authorization": f"Bearer {API_KEY}"}

    def post(self, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            answer = self.http.post(f"{self.desk.url}{path}", **kwargs)
        except httpx.HTTPError as exc:
            self.errors[f"{path}: {type(exc).__name__}"] += 1
            return None
        if answer.status_code >= 300:
            self.errors[f"{path}: {answer.status_code}"] += 1
            return None
        return answer

    def wait(self, what: str, story: Story) -> float | None:
        """Look again in a second; after STEP_PATIENCE seconds the step is given up and
        counted (its effects then show as lost)."""
        if time.monotonic() - self.start < story.opens_at + STEP_PATIENCE:
            return 1.0
        with self.lock:
            self.errors[f"gave up waiting for {what}"] += 1
        return None

    # -- agents -----------------------------------------------------------------------

    def agent_of(self, story: Story) -> str:
        return AGENT_IDS[story.index % len(AGENT_IDS)]

    def take(self, story: Story) -> None:
        assert story.number is not None
        channel = CHANNELS[story.queue]
        self.desk.click(self.agent_of(story), "ticket.take", story.number, channel=channel)

    def reply(self, story: Story) -> None:
        assert story.number is not None
        trigger = f"trig-{story.index}"
        agent, channel = self.agent_of(story), CHANNELS[story.queue]
        self.desk.click(agent, "ticket.reply", story.number, trigger_id=trigger, channel=channel)
        text = f"{token('r', story.index)} your purchase is restored, sorry for the wait"
        values = {
            "reply.text.0": {"text": {"type": "plain_text_input", "value": text}},
            "status": {
                "status": {"type": "static_select", "selected_option": {"value": "answered"}}
            },
        }
        story.sent["r"] = time.monotonic()
        self.desk.submit(agent, trigger, values)

    # -- what the fakes received --------------------------------------------------------

    def watch(self) -> None:
        """Note every card, thread message, Telegram message and mail that names a token."""
        fakes = self.desk.fakes
        for call in self._new("slack", lambda: fakes.slack.calls):
            if call.method == "chat.postMessage" and call.ok:
                self._slack_post(call)
        for call in self._new("telegram", lambda: fakes.telegram.calls):
            if call.method == "sendMessage" and call.ok:
                self._saw(PLAYER, str(call.params.get("text", "")), call.at)
        for mail in self._new("mailgun", lambda: list(fakes.mailgun.messages)):
            self._mail(mail)

    def _new(self, name: str, source: Callable[[], list[Any]]) -> list[Any]:
        items = source()
        new, self._cursor[name] = items[self._cursor[name] :], len(items)
        return new

    def _slack_post(self, call: Call) -> None:
        blocks = call.params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        shown = json.dumps(blocks) + str(call.params.get("text", ""))
        header = blocks[0].get("text", {}).get("text", "") if blocks else ""
        title = CARD_TITLE.match(header)
        if title and not call.params.get("thread_ts"):
            opening = TOKEN.search(shown)
            with self.lock:
                self.cards[int(title.group(1))] += 1
                if opening and opening.group(1) == "o":  # as an agent reads it off the card
                    index = int(opening.group(2))
                    self.card_at.setdefault(index, call.at)
                    self.numbers.setdefault(index, int(title.group(1)))
            return
        self._saw(SLACK, shown, call.at)

    def _mail(self, mail: SentMail) -> None:
        text = mail.text or ""
        self._saw(PLAYER, text, mail.at)
        message_id = mail.header("Message-Id")
        for match in TOKEN.finditer(text):
            story = self.by_index.get(int(match.group(2)))
            if match.group(1) == "r" and story is not None and message_id:
                story.mail_ids.append(message_id)  # the player answers this mail

    def _saw(self, where: str, text: str, at: float) -> None:
        with self.lock:
            for found in {m.group(0) for m in TOKEN.finditer(text)}:
                self.seen[where].setdefault(found, []).append(at)


# ----------------------------------------------------------------- running the day


class Scheduler:
    """Runs steps at their moment on a pool of threads; a step that is not ready yet
    (its card has not appeared) comes back a little later."""

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(threads)
        self.heap: list[tuple[float, int, Callable[[], float | None]]] = []
        self.order = itertools.count()
        self.lock = threading.Lock()
        self.pending = 0

    def at(self, moment: float, step: Callable[[], float | None]) -> None:
        with self.lock:
            heapq.heappush(self.heap, (moment, next(self.order), step))
            self.pending += 1

    def run(self, start: float, idle: Callable[[], None]) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    return
                due = self.heap and self.heap[0][0] <= time.monotonic() - start
                item = heapq.heappop(self.heap) if due else None
            if item is None:
                idle()
                time.sleep(0.05)
                continue
            self.pool.submit(self._run, start, item[2])

    def _run(self, start: float, step: Callable[[], float | None]) -> None:
        try:
            again = step()
        except Exception as exc:  # a step that broke is counted, never silently dropped
            again = None
            print(f"step failed: {exc!r}", file=sys.stderr)
        with self.lock:
            self.pending -= 1
        if again is not None:
            self.at(time.monotonic() - start + again, step)


def day_steps(day: Day, story: Story, scheduler: Scheduler) -> None:
    """Queue one story: it opens; its later steps wait for its card."""

    def opening() -> None:
        day.player_writes(story, "o")
        if not story.storm:
            scheduler.at(story.opens_at + story.follows_after, follow_up)
            scheduler.at(story.opens_at + story.takes_after, take)

    def card_known() -> bool:
        story.number = story.number or day.numbers.get(story.index)
        return story.index in day.card_at

    def follow_up() -> float | None:
        if story.channel == "api" and story.number is None:
            return day.wait("the ticket's number", story)
        day.player_writes(story, "f")
        return None

    def take() -> float | None:
        if not card_known():
            return day.wait("the card", story)
        day.take(story)
        scheduler.at(time.monotonic() - day.start + story.replies_after, reply)
        return None

    def reply() -> None:
        day.reply(story)
        scheduler.at(time.monotonic() - day.start + story.answers_after, answer)

    def answer() -> float | None:
        if story.channel != "api" and token("r", story.index) not in day.seen[PLAYER]:
            return day.wait("the reply to reach the player", story)
        day.player_writes(story, "a")
        return None

    scheduler.at(story.opens_at, opening)


@dataclass
class Sample:
    at: float  # seconds into the day
    # Card redraws owed, the tickets' and the incidents' (chat.update, one a second for the
    # whole workspace).
    redraws: int
    others: int  # every other effect owed: cards, thread messages, replies, bookkeeping
    jobs: int  # RQ jobs waiting

    @property
    def zero(self) -> bool:
        return self.redraws == self.others == self.jobs == 0


class Backlog:
    """The jobs waiting, sampled every SAMPLE_SECONDS, and the effects owed, counted every
    OWED_SECONDS while the day runs (a sample between counts repeats the last count)."""

    def __init__(self, desk: Desk) -> None:
        running = servers.published(desk.data_dir)
        assert running is not None and running.redis_url
        self.redis = redis.Redis.from_url(running.redis_url)
        self.desk = desk
        self.samples: list[Sample] = []
        self.kinds: Counter[str] = Counter()  # effects owed, by kind, at the last count
        self.counted_at = -OWED_SECONDS

    def sample(self, at: float, *, count: bool = True) -> Sample:
        if count or at - self.counted_at >= OWED_SECONDS:
            self.kinds, self.counted_at = self.count_owed(), at
        kinds = self.kinds
        # RQ keeps the set of its queues' keys: a SCAN of the whole keyspace (one key per
        # job) took a fifth of Redis and a third of this process under load.
        jobs = sum(int(self.redis.llen(key)) for key in self.redis.smembers("rq:queues"))
        redraws = kinds["slack.card (redraw)"]
        sample = Sample(round(at, 1), redraws, sum(kinds.values()) - redraws, jobs)
        self.samples.append(sample)
        if len(self.samples) % 5 == 1:  # a line every ten seconds, so a long run shows life
            print(f"{at:6.0f} s: owed {dict(kinds)}; {jobs} jobs waiting", file=sys.stderr)
        return sample

    def count_owed(self) -> Counter[str]:
        kinds: Counter[str] = Counter()
        owing = self.desk.store.tickets.find(
            {"outbox.0": {"$exists": True}}, {"outbox.kind": 1, "refs.slack_card": 1}
        )
        for doc in owing:
            has_card = bool(doc.get("refs", {}).get("slack_card"))
            for record in doc["outbox"]:
                # An incident's card is redrawn as tickets join it: in the same line for
                # chat.update as the tickets' cards, so counted with them.
                redraw = (record["kind"] == "slack.card" and has_card) or record[
                    "kind"
                ] == "slack.incident"
                kinds["slack.card (redraw)" if redraw else record["kind"]] += 1
        return kinds

    def zero_after(self, ended: float, test: Callable[[Sample], bool]) -> float | None:
        """Seconds from the day's end until `test` first held (at the end: 0)."""
        after = [s for s in self.samples if s.at >= ended]
        return next((round(s.at - ended, 1) for s in after if test(s)), None)


# ----------------------------------------------------------------- the desk


class DayDesk(Desk):
    """The end-to-end desk with a channel per queue and more workers."""

    workers: int = 2
    extra: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        queues = ",".join(f"{queue}={channel}" for queue, channel in CHANNELS.items())
        # The sweeper and leases as shipped: the end-to-end suite shortens them to seconds,
        # which under a backlog would re-enqueue every owed ticket every second.
        shipped = {"SWEEP_INTERVAL": "10", "OUTBOX_GRACE": "30", "OUTBOX_LEASE": "15"}
        return super().env() | shipped | {"SLACK_QUEUE_CHANNELS": queues, "LOG_LEVEL": "ERROR"}

    def start(self) -> None:
        self.start_web()
        env = self.env()
        self.extra = [
            subprocess.Popen(
                [sys.executable, "-m", "app", "worker", *(["--no-cron"] if n else [])],
                env=env,
                cwd=self.data_dir.parent,
            )
            for n in range(self.workers)
        ]

    def stop(self) -> None:
        for process in self.extra:  # before the web process, which runs the embedded Redis
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        super().stop()


@contextmanager
def day_desk(directory: Path, workers: int) -> Iterator[DayDesk]:
    with ExitStack() as stack:
        slack = stack.enter_context(FakeSlack())
        slack.channel_members[AGENTS] = list(AGENT_IDS)
        slack.usergroup_users[LEAD_GROUP] = ["U0LEAD"]
        # The platforms' real limits (see the module's docstring).
        slack.rate_limit("chat.postMessage", 1, per_channel=True)
        slack.rate_limit("chat.update", 1, per_channel=False)
        telegram = stack.enter_context(FakeTelegram())
        telegram.rate_limit(30, 1)
        fakes = Fakes(
            slack=slack,
            telegram=telegram,
            mailgun=stack.enter_context(FakeMailgun()),
            game=stack.enter_context(FakeGameApi()),
        )
        desk = DayDesk(directory / "var", fakes, FLOWS)
        desk.workers = workers
        stack.callback(desk.close)
        desk.start()
        yield desk


# ----------------------------------------------------------------- figures


def latencies(day: Day, kind: str, where: str) -> list[float]:
    values = []
    for story in day.stories:
        sent = story.sent.get(kind)
        seen = day.seen[where].get(token(kind, story.index))
        if sent is not None and seen:
            values.append(seen[0] - sent)
    return values


def tally(owed: list[int], copies: list[int]) -> Document:
    return {
        "owed": len(owed),
        "delivered": sum(1 for c in copies if c >= 1),
        "lost": sum(1 for c in copies if c == 0),
        "duplicated": sum(c - 1 for c in copies if c > 1),
    }


def effects(day: Day) -> dict[str, Document]:
    """Every owed effect the fakes can show, counted."""
    calm = [s for s in day.stories if not s.storm]
    numbers = [s.number for s in calm if s.number is not None]
    follow = [s for s in calm if "f" in s.sent]
    replied = [s for s in calm if "r" in s.sent and s.channel != "api"]
    answered = [s for s in calm if "a" in s.sent]

    def copies(stories: list[Story], kind: str, where: str = SLACK) -> list[int]:
        return [len(day.seen[where].get(token(kind, s.index), [])) for s in stories]

    stored = Counter(
        m.group(0)
        for doc in day.desk.store.history.find({"message.text": {"$exists": True}}, {"message": 1})
        for m in [TOKEN.match(doc["message"].get("text") or "")]
        if m
    )
    written = [(s, k) for s in calm for k in ("o", "f", "a") if k in s.sent]
    return {
        "cards": tally(numbers, [day.cards[n] for n in numbers])
        | {"without_number": len(calm) - len(numbers)},
        "thread_follow_ups": tally([1] * len(follow), copies(follow, "f")),
        "thread_answers": tally([1] * len(answered), copies(answered, "a")),
        "replies_to_players": tally([1] * len(replied), copies(replied, "r", PLAYER)),
        "stored_player_messages": tally(
            [1] * len(written), [stored[token(k, s.index)] for s, k in written]
        ),
    }


def figures(day: Day, backlog: Backlog, ended: float) -> Document:
    storm = [s for s in day.stories if s.storm]
    storm_numbers = {
        int(doc["number"])
        for doc in day.desk.store.tickets.find(
            {"player.id": {"$in": [f"g{s.index}" for s in storm]}}, {"number": 1}
        )
    }
    incidents = day.desk.store.incidents.count_documents({})
    fig: Document = {
        "players": sum(1 for s in day.stories if not s.storm),
        "storm_tickets": len(storm),
        "messages_sent": sum(len(s.sent) for s in day.stories),
        "day_seconds": round(ended, 1),
        "drained_seconds_after_end": backlog.zero_after(ended, lambda s: s.zero),
        "all_but_redraws_drained_seconds_after_end": backlog.zero_after(
            ended, lambda s: s.others == 0
        ),
        "incidents": incidents,
        "storm_cards": sum(day.cards[n] for n in storm_numbers),
        "redraws": redraws(day),
        "errors": dict(day.errors),
        "effects": effects(day),
        "backlog": [dataclasses.astuple(sample) for sample in backlog.samples],
        "store": store_load(day.desk),
    }
    for name, values in (
        ("message_to_card", latencies_to_card(day)),
        ("follow_up_to_thread", latencies(day, "f", SLACK)),
        ("reply_to_player", latencies(day, "r", PLAYER)),
    ):
        fig[name] = {
            "n": len(values),
            "p50": round(percentile(values, 0.5), 2),
            "p95": round(percentile(values, 0.95), 2),
            "p99": round(percentile(values, 0.99), 2),
            "max": round(max(values, default=0.0), 2),
        }
    return fig


def store_load(desk: Desk) -> dict[str, dict[str, list[float]]]:
    """What the day cost the store, by collection and operation: [commands, seconds].
    From its `top` counters (which count the time a write waited for the store's lock)."""
    assert desk.client is not None
    totals = desk.client.admin.command("top")["totals"]
    load: dict[str, dict[str, list[float]]] = {}
    for namespace, sections in totals.items():
        if namespace == "note" or not isinstance(sections, dict):
            continue
        ops = {
            op: [counts["count"], round(counts["time"] / 1e6, 1)]
            for op, counts in sections.items()
            if op in ("queries", "getmore", "insert", "update", "remove", "commands")
            and counts["count"]
        }
        if ops:
            load[namespace.split(".", 1)[1]] = ops
    return load


def redraws(day: Day) -> dict[str, int]:
    """How the cards were redrawn: through the response URL of an agent's click on the
    card, or by chat.update (one a second for the workspace)."""
    slack = day.desk.fakes.slack
    return {
        "response_url": sum(1 for r in slack.responses if r.get("replace_original")),
        "chat_update": len(slack.calls_to("chat.update")),
    }


def latencies_to_card(day: Day) -> list[float]:
    return [
        day.card_at[s.index] - s.sent["o"]
        for s in day.stories
        if not s.storm and "o" in s.sent and s.index in day.card_at
    ]


def report(fig: Document) -> str:
    rows = [["latency (s)", "n", "p50", "p95", "p99", "max"]]
    for name in ("message_to_card", "follow_up_to_thread", "reply_to_player"):
        f = fig[name]
        rows.append(
            [
                name.replace("_", " "),
                str(f["n"]),
                *(f"{f[k]:.2f}" for k in ("p50", "p95", "p99", "max")),
            ]
        )
    rows.append(["effects", "owed", "delivered", "lost", "duplicated", ""])
    for name, f in fig["effects"].items():
        rows.append(
            [
                name.replace("_", " "),
                *(str(f[k]) for k in ("owed", "delivered", "lost", "duplicated")),
                "",
            ]
        )
    drained = fig["drained_seconds_after_end"]
    others = fig["all_but_redraws_drained_seconds_after_end"]
    samples = fig["backlog"]
    every = max(1, len(samples) // 24)

    def after_end(seconds: float | None) -> str:
        return "never (timeout)" if seconds is None else f"{seconds} s after the end"

    details = [
        f"  {fig['players']} players and {fig['storm_tickets']} storm tickets, "
        f"{fig['messages_sent']} messages and agent replies in {fig['day_seconds']} s",
        f"  storm: {fig['incidents']} incident(s), {fig['storm_cards']} cards of its own",
        f"  card redraws: {fig['redraws']['response_url']} through clicks' response URLs, "
        f"{fig['redraws']['chat_update']} by chat.update",
        f"  backlog zero {after_end(drained)}; all but card redraws {after_end(others)}",
        "  backlog over time (s: card redraws owed / other effects owed / jobs waiting):",
        *(
            "    " + ", ".join(f"{t:.0f}: {r}/{o}/{j}" for t, r, o, j in shown[i : i + 6])
            for shown in [samples[::every]]
            for i in range(0, len(shown), 6)
        ),
        f"  request errors: {fig['errors'] or 'none'}",
        "  store load (commands, seconds):",
        *(
            f"    {collection}: "
            + ", ".join(
                f"{op} {count:.0f} in {seconds:.0f} s" for op, (count, seconds) in ops.items()
            )
            for collection, ops in sorted(fig["store"].items())
        ),
    ]
    lost = sum(f["lost"] for f in fig["effects"].values())
    doubled = sum(f["duplicated"] for f in fig["effects"].values())
    met = {
        "card p95 < 5 s": fig["message_to_card"]["p95"] < 5.0,
        "nothing lost": lost == 0,
        "nothing doubled": doubled == 0,
        "backlog zero within 60 s": drained is not None and drained <= 60,
    }
    targets = [f"  {name}: {verdict(ok)}" for name, ok in met.items()]
    return summary("support day benchmark", rows, "details:", details, met, targets)


# ----------------------------------------------------------------- main


def measure(args: argparse.Namespace, directory: Path) -> Document:
    stories = plan(args.players, args.storm, args.minutes * 60, args.seed)
    with day_desk(directory, args.workers) as desk:
        day = Day(desk, stories, args.seed)
        backlog = Backlog(desk)
        scheduler = Scheduler(threads=32)
        for story in stories:
            day_steps(day, story, scheduler)
        day.start = time.monotonic()
        last_sample = 0.0

        last_watch = 0.0

        def idle() -> None:
            nonlocal last_sample, last_watch
            now = time.monotonic() - day.start
            if now - last_watch >= WATCH_SECONDS:
                last_watch = now
                day.watch()
            if now - last_sample >= SAMPLE_SECONDS:
                last_sample = now
                backlog.sample(now, count=False)

        scheduler.run(day.start, idle)
        # The day ends with the last thing a player or an agent did (steps that gave up
        # waiting for something do not stretch it).
        ended = max(at for story in stories for at in story.sent.values()) - day.start
        while time.monotonic() - day.start - ended < args.drain_timeout:
            time.sleep(SAMPLE_SECONDS)
            day.watch()
            if backlog.sample(time.monotonic() - day.start).zero:
                break
        time.sleep(3)  # a last look: anything posted twice after the drain shows now
        day.watch()
        return figures(day, backlog, ended)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=positive(int), default=None, help="tickets (1500)")
    parser.add_argument("--minutes", type=positive(float), default=None, help="day length (10)")
    parser.add_argument("--storm", type=int, default=None, help="storm tickets (60)")
    parser.add_argument("--workers", type=positive(int), default=2, help="worker processes (2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--drain-timeout", type=positive(float), default=1800.0, help="seconds after the day"
    )
    parser.add_argument("--quick", action="store_true", help="300 players in 4 minutes")
    args = parser.parse_args(argv)
    quick = {"players": 300, "minutes": 4.0, "storm": 20}
    full = {"players": 1500, "minutes": 10.0, "storm": 60}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    with temporary_dir("helpdesk-day-") as directory:
        fig = measure(args, directory)
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
