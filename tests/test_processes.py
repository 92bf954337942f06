"""`helpdesk serve` and `helpdesk worker` as real processes on embedded defaults."""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import httpx
import psutil
import pymongo
import pytest
from redis import Redis
from rq import Queue

from embedded import servers
from jobs.dispatch import QueueDispatcher
from jobs.runtime import QUEUE_NAME
from tests.conftest import AGENT, wait_for
from tests.support.ports import NETWORK, unused_port
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.store import Store

pytestmark = pytest.mark.slow  # real processes started, stopped and killed

KEY = "process-test-key"


class Helpdesk:
    """One `helpdesk serve` process and the directory it owns."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "REDIS_"))}
        return (
            base
            | {
                "DATA_DIR": str(self.data_dir),
                "PORT": str(self.port),
                "API_KEYS": KEY,
                "SWEEP_INTERVAL": "1",
                "OUTBOX_GRACE": "1",
                "OUTBOX_LEASE": "3",
                "LOG_LEVEL": "WARNING",
            }
            | extra
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], env=self.env(), cwd=self.data_dir.parent
        )
        wait_for(self.healthy, "helpdesk serve to answer /healthz", 60, ignoring=NETWORK)

    def healthy(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def worker(self) -> psutil.Process:
        assert self.process is not None
        children = psutil.Process(self.process.pid).children()
        # An argument of its own: the embedded database's child has a path argument too,
        # and the test's directory name may contain the word.
        workers = [c for c in children if "worker" in c.cmdline()]
        assert len(workers) == 1, children
        return workers[0]

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {KEY}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture
def helpdesk(tmp_path: Path) -> Iterator[Helpdesk]:
    desk = Helpdesk(tmp_path / "var")
    yield desk
    desk.stop()


def answers_on_one_connection(port: int, pause: float) -> list[bytes]:
    """The status lines of two requests sent `pause` seconds apart on one connection."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    lines = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        for wait in (0.0, pause):
            time.sleep(wait)
            connection.sendall(request)
            lines.append(read_answer(connection).split(b"\r\n", 1)[0])
    return lines


def read_answer(connection: socket.socket) -> bytes:
    """One whole HTTP answer (head and body), or what came before the server closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


def test_serve_answers_health_and_a_ticket_survives_a_restart(helpdesk: Helpdesk) -> None:
    helpdesk.start()
    health = httpx.get(f"{helpdesk.url}/healthz").json()
    assert health == {"status": "ok", "failing": []}
    # An idle connection outlives a client's own keep-alive (5 s for httpx): a client
    # never sends on a connection the server is closing.
    assert answers_on_one_connection(helpdesk.port, 6.0) == [b"HTTP/1.1 200 OK"] * 2
    created = helpdesk.api("POST", "/api/v1/tickets", json={"text": "Lost gems", "player_id": "p9"})
    assert created.status_code == 201
    number = created.json()["number"]
    wait_for(
        lambda: (
            'helpdesk_outbox_effects{state="pending"} 0'
            in httpx.get(f"{helpdesk.url}/metrics").text
        ),
        "the worker to drain the outbox",
        30,
        ignoring=NETWORK,
    )
    helpdesk.stop()
    assert servers.published(helpdesk.data_dir) is None, "a stopped server withdraws its address"

    helpdesk.start()
    again = helpdesk.api("GET", f"/api/v1/tickets/{number}")
    assert again.status_code == 200
    assert again.json()["subject"] == "Lost gems"
    assert [m["text"] for m in again.json()["messages"]] == ["Lost gems"]
    follow_up = helpdesk.api("POST", "/api/v1/tickets", json={"text": "Other", "player_id": "p9"})
    assert follow_up.json()["number"] == number + 1, "numbers continue after a restart"


def test_killing_the_worker_mid_delivery_loses_and_repeats_nothing(helpdesk: Helpdesk) -> None:
    helpdesk.start()
    running = servers.published(helpdesk.data_dir)
    assert running is not None and running.mongodb_uri and running.redis_url
    client: pymongo.MongoClient = pymongo.MongoClient(running.mongodb_uri, tz_aware=True)
    redis = Redis.from_url(running.redis_url)
    try:
        store = Store.connect(client, "helpdesk")
        service = TicketService(
            store, lambda: datetime.now(UTC), QueueDispatcher(Queue(QUEUE_NAME, connection=redis))
        )
        worker = helpdesk.worker()
        worker.suspend()  # hold the worker so the jobs queue up behind it
        numbers = []
        for i in range(30):
            player = Player(player_id=f"k{i}", email=f"k{i}@example.com")
            ticket = service.add_player_message(
                player=player, channel=Channel.EMAIL, text=f"help {i}"
            )
            service.reply(ticket.number, actor=AGENT, text=f"answer {i}")
            numbers.append(ticket.number)
        worker.resume()
        mail_dir = helpdesk.data_dir / "outbox"
        wait_for(
            lambda: len(list(mail_dir.glob("*.eml"))) >= 3, "the first mails", 30, ignoring=NETWORK
        )
        worker.kill()  # kill -9, in the middle of the deliveries

        def drained() -> bool:
            return not any(t.get("outbox") for t in store.tickets.find({}, {"outbox": 1}))

        wait_for(
            drained,
            "a restarted worker and the sweeper to deliver what was owed",
            60,
            ignoring=NETWORK,
        )
        assert helpdesk.worker().pid != worker.pid, "the supervisor started a new worker"
        mails = [
            email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in mail_dir.glob("*.eml")
        ]
        answers = [
            line.strip()
            for m in mails
            for line in m.get_body(("plain",)).get_content().splitlines()
            if re.fullmatch(r"answer \d+", line.strip())
        ]
        assert len(mails) == 30
        assert sorted(answers) == sorted(f"answer {i}" for i in range(30))
        replies = list(store.history.find({"message.kind": "reply"}))
        assert len(replies) == 30
        assert all(r["delivery"]["channel"] == "email" for r in replies)
        assert store.history.count_documents({"message.kind": "player"}) == 30
    finally:
        client.close()
        redis.close()


def run_helpdesk(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "app", "worker", "--burst"],
        env=base | {"DATA_DIR": str(tmp_path / "var")} | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unwritable_data_dir_fails_fast_saying_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    started = time.monotonic()
    result = run_helpdesk(tmp_path, DATA_DIR=str(blocker / "var"))
    assert result.returncode == 2
    assert time.monotonic() - started < 20
    assert f"DATA_DIR {blocker / 'var'} is not writable" in result.stderr
    assert "set DATA_DIR to a directory" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (
            "MONGODB_URI",
            "mongodb://127.0.0.1:{port}/",
            "MONGODB_URI mongodb://127.0.0.1:{port}/ does not answer",
        ),
        (
            "REDIS_URL",
            "redis://127.0.0.1:{port}/0",
            "REDIS_URL redis://127.0.0.1:{port}/0 does not answer",
        ),
    ],
)
def test_a_service_that_does_not_answer_fails_fast_naming_it(
    tmp_path: Path, setting: str, value: str, message: str
) -> None:
    port = unused_port()  # nothing listens there
    started = time.monotonic()
    result = run_helpdesk(tmp_path, **{setting: value.format(port=port)})
    assert result.returncode == 2
    assert time.monotonic() - started < 30
    lines = [line for line in result.stderr.splitlines() if line.startswith("helpdesk:")]
    assert len(lines) == 1
    assert message.format(port=port) in lines[0]


def test_reindex_rebuilds_a_lost_index_beside_the_serving_helpdesk(helpdesk: Helpdesk) -> None:
    def found(word: str) -> list[int]:
        answer = helpdesk.api("GET", "/api/v1/tickets", params={"q": word})
        assert answer.status_code == 200, answer.text
        return [item["number"] for item in answer.json()["items"]]

    def create(text: str) -> int:
        answer = helpdesk.api("POST", "/api/v1/tickets", json={"text": text, "player_id": text})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["number"])

    helpdesk.start()
    numbers = [create(f"castle{n} gems vanished") for n in range(3)]
    wait_for(lambda: found("castle2") == [numbers[2]], "the worker to index the tickets", 30)
    helpdesk.stop()
    shutil.rmtree(helpdesk.data_dir / "search")  # the index is lost; the store is not
    helpdesk.start()
    assert found("castle1") == []

    rebuilt = subprocess.run(
        [sys.executable, "-m", "app", "reindex"],
        env=helpdesk.env(),
        cwd=helpdesk.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert re.search(r"copying .* 3/3 .* tickets/s", rebuilt.stderr), rebuilt.stderr
    assert "3 tickets" in rebuilt.stderr and "is live" in rebuilt.stderr
    assert [found(f"castle{n}") for n in range(3)] == [[number] for number in numbers]
    # The serving worker follows the swap: a new ticket lands in the new index.
    later = create("tower door is stuck")
    wait_for(lambda: found("tower") == [later], "the new ticket in the new index", 30)


def test_sigterm_finishes_the_request_in_flight_then_stops(helpdesk: Helpdesk) -> None:
    """A deploy stops the web process with SIGTERM: a player's request already in flight
    (its body still arriving) is finished and answered; then the port is closed."""
    helpdesk.start()
    assert helpdesk.process is not None
    body = json.dumps({"text": "Gems lost during a deploy", "player_id": "p-deploy"}).encode()

    def slowly() -> Iterator[bytes]:
        yield body[:12]
        time.sleep(1.5)  # SIGTERM arrives while the rest of the body is on its way
        yield body[12:]

    answers: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    sender = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{helpdesk.url}/api/v1/tickets", content=slowly(), headers=headers, timeout=20
            )
        )
    )
    sender.start()
    time.sleep(0.5)
    helpdesk.process.send_signal(signal.SIGTERM)
    sender.join(timeout=30)
    assert [a.status_code for a in answers] == [201], answers
    assert helpdesk.process.wait(timeout=30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{helpdesk.url}/healthz", timeout=2)
    helpdesk.start()
    stored = helpdesk.api("GET", f"/api/v1/tickets/{answers[0].json()['number']}")
    assert stored.json()["subject"] == "Gems lost during a deploy"
