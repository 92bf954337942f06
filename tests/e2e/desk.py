"""The helpdesk as real processes, and the outside world around it: `helpdesk serve` and
`helpdesk worker` on embedded defaults in a temporary DATA_DIR, fake Slack, Telegram,
Mailgun and game-account servers, and the signed requests people and systems send."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo

from embedded import servers
from tests.conftest import wait_for
from tests.fakes.game_api import DEFAULT_TOKEN as GAME_TOKEN
from tests.fakes.game_api import FakeGameApi
from tests.fakes.mail import SUPPORT_ADDRESS, mailgun_form
from tests.fakes.mailgun import FakeMailgun
from tests.fakes.slack import (
    FakeSlack,
    block_action_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.fakes.telegram import FakeTelegram
from tests.support.ports import NETWORK, unused_port

SLACK_SECRET = "e2e-slack-signing-secret"
TELEGRAM_SECRET = "e2e-telegram-secret"
MAIL_KEY = "e2e-mailgun-signing-key"
API_KEY = "e2e-api-key-of-the-game"
TRIAGE, LEADS, AGENTS, LEAD_GROUP = "C0TRIAGE", "C0LEADS", "C0AGENTS", "S0LEADS"
ANN, LEAD = "U0ANN", "U0LEAD"
FORM = "application/x-www-form-urlencoded"
FLOWS = """
rules:
  - name: sla-breach-to-leads
    on: sla.breached
    then:
      - escalate: {reason: "SLA breached"}
sla:
  policies:
    - name: urgent
      priority: urgent
      first_response: 10s  # seconds, so that the support day need not wait out minutes
      business_hours: false
    - name: default
      first_response: 4h
      business_hours: false
autoclose:
  answered_after: 10m  # longer than the day: the gems ticket is answered and then thanked
  resolved_after: 10s
incidents:
  min_similar: 4
  window: 5m
"""


@dataclass
class Fakes:
    slack: FakeSlack
    telegram: FakeTelegram
    mailgun: FakeMailgun
    game: FakeGameApi


class Desk:
    """The two processes, and the ways people and systems reach them from outside."""

    def __init__(
        self,
        data_dir: Path,
        fakes: Fakes,
        flows: str = FLOWS,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.fakes = fakes
        self.flows = flows
        self.settings = settings or {}  # more settings, or other values, for both processes
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.store: Any = None
        self.client: pymongo.MongoClient[dict[str, Any]] | None = None
        self.redis_url: str | None = None  # a Redis of its own, instead of the embedded one
        # One pooled client: a client per request builds a TLS context each time, which
        # cost the load benchmark a quarter of its process.
        self.http = httpx.Client(timeout=10)
        self.clicks = itertools.count(1)  # response URLs handed out with clicks

    def env(self) -> dict[str, str]:
        fakes = self.fakes
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "REDIS_"))}
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        (self.data_dir.parent / "flows.yaml").write_text(self.flows)
        return (
            base
            | {
                "DATA_DIR": str(self.data_dir),
                "PORT": str(self.port),
                "API_KEYS": API_KEY,
                "LOG_LEVEL": "WARNING",
                "SWEEP_INTERVAL": "1",
                "OUTBOX_GRACE": "1",
                "OUTBOX_LEASE": "5",
                "PERIODIC_INTERVAL": "2",
                "FLOWS_FILE": str(self.data_dir.parent / "flows.yaml"),
                "MACROS_FILE": str(self.data_dir.parent / "absent.yaml"),
                "SLACK_BOT_TOKEN": "xoxb-e2e",
                "SLACK_SIGNING_SECRET": SLACK_SECRET,
                "SLACK_API_URL": fakes.slack.url,
                "SLACK_TRIAGE_CHANNEL": TRIAGE,
                "SLACK_LEADS_CHANNEL": LEADS,
                "SLACK_AGENTS": AGENTS,
                "SLACK_LEADS": LEAD_GROUP,
                "STATS_DIGEST_HOUR": "",
                "TELEGRAM_BOT_TOKEN": fakes.telegram.token,
                "TELEGRAM_API_URL": fakes.telegram.url,
                "TELEGRAM_WEBHOOK_URL": "https://helpdesk.test/telegram/webhook",
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "MAILGUN_API_KEY": fakes.mailgun.api_key,
                "MAILGUN_DOMAIN": fakes.mailgun.domain,
                "MAILGUN_API_URL": fakes.mailgun.url,
                "MAILGUN_WEBHOOK_SIGNING_KEY": MAIL_KEY,
                "SUPPORT_EMAIL": SUPPORT_ADDRESS,
                "PUBLIC_URL": "https://help.example.com",
                "SECRET_KEY": "e2e-rating-secret",
                "ACCOUNT_API_URL": fakes.game.players_url,
                "ACCOUNT_API_TOKEN": GAME_TOKEN,
            }
            | ({"REDIS_URL": self.redis_url} if self.redis_url else {})
            | self.settings
        )

    def start(self) -> None:
        self.start_web()
        self.start_worker()

    def start_web(self) -> None:
        serve = [sys.executable, "-m", "app", "serve", "--no-worker"]
        self.web = subprocess.Popen(serve, env=self.env(), cwd=self.data_dir.parent)
        wait_for(self.healthy, "helpdesk serve to answer", 90, ignoring=NETWORK)
        running = servers.published(self.data_dir)
        assert running is not None and running.mongodb_uri
        if self.client is not None:
            self.client.close()
        self.client = pymongo.MongoClient(running.mongodb_uri, tz_aware=True)
        self.store = self.client["helpdesk"]

    def start_worker(self) -> None:
        worker = [sys.executable, "-m", "app", "worker"]
        self.worker = subprocess.Popen(worker, env=self.env(), cwd=self.data_dir.parent)

    def kill_worker(self) -> None:
        """kill -9: no clean-up, no chance to finish the job in hand."""
        assert self.worker is not None
        self.worker.kill()
        self.worker.wait(timeout=30)

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            self.worker.wait(timeout=30)

    def stop_web(self) -> None:
        if self.web is not None and self.web.poll() is None:
            self.web.send_signal(signal.SIGTERM)
            self.web.wait(timeout=30)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.stop_worker()
        self.stop_web()

    def close(self) -> None:
        """Stop, and let go of the client. A plain stop keeps it: a player's thread may
        still be sending while the desk restarts, and must see a refused connection."""
        self.stop()
        self.http.close()

    def healthy(self) -> bool:
        return self.http.get(f"{self.url}/healthz", timeout=2).status_code == 200

    # ---------------------------------------------------------------- the outside world

    def telegram(self, update: dict[str, Any]) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        answer = self.http.post(f"{self.url}/telegram/webhook", json=update, headers=headers)
        assert answer.status_code == 200, answer.text

    def mail(self, raw: bytes) -> None:
        data, files = mailgun_form(raw, signing_key=MAIL_KEY)
        answer = self.http.post(f"{self.url}/mailgun/inbound", data=data, files=files or None)
        assert answer.status_code == 200, answer.text

    def api(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_KEY}"} | (headers or {})
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def slack(self, body: bytes, content_type: str = FORM) -> None:
        headers = sign(SLACK_SECRET, body) | {"Content-Type": content_type}
        answer = self.http.post(f"{self.url}/slack/events", content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    def click(self, user: str, action_id: str, number: int, **kwargs: Any) -> None:
        """Click a button or menu of the ticket's card, as Slack sends it: with the card's
        `ts` and a response URL that can redraw the card (before the card is posted, or
        when `channel` holds no card of the ticket, a click on a copy of it)."""
        selected = kwargs.pop("selected", None)
        channel = kwargs.setdefault("channel", TRIAGE)
        ts = self.fakes.slack.find_top_level(channel, number=number)
        if ts is not None and "message_ts" not in kwargs:
            rid = f"click-{next(self.clicks)}"
            url = self.fakes.slack.response_url(rid, channel=channel, ts=ts)
            kwargs.update(message_ts=ts, response_url=url)
        self.slack(
            block_action_body(
                user=user,
                action_id=action_id,
                value=None if selected else str(number),
                selected=f"{number}:{selected}" if selected else None,
                **kwargs,
            )
        )

    def submit(self, user: str, trigger: str, values: dict[str, Any]) -> None:
        """Fill in the modal the last click with `trigger` opened, and submit it."""
        wait_for(lambda: self.opened(trigger), f"the modal of {trigger}", 20)
        view = self.opened(trigger)
        assert view is not None
        self.slack(
            view_submission_body(
                user=user,
                callback_id=view["callback_id"],
                private_metadata=view["private_metadata"],
                values=values,
            )
        )

    def opened(self, trigger: str) -> dict[str, Any] | None:
        calls = [
            c for c in self.fakes.slack.calls_to("views.open") if c.args["trigger_id"] == trigger
        ]
        return calls[-1].args["view"] if calls else None

    def command(self, user: str, text: str, rid: str) -> dict[str, Any]:
        url = self.fakes.slack.response_url(rid)
        self.slack(slash_command_body(user=user, text=text, response_url=url))
        wait_for(lambda: self.fakes.slack.responses_for(rid), f"/ticket {text}", 30)
        return self.fakes.slack.responses_for(rid)[0]

    # ---------------------------------------------------------------- reading back

    def ticket(self, number: int) -> dict[str, Any]:
        doc = self.store.tickets.find_one({"number": number})
        assert doc is not None
        return doc

    def number_where(self, query: dict[str, Any]) -> int:
        wait_for(lambda: self.store.tickets.find_one(query), f"a ticket {query}", 30)
        return int(self.store.tickets.find_one(query)["number"])

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.fakes.slack.messages_in(TRIAGE) if m.get("blocks")]

    def card_of(self, number: int) -> dict[str, Any] | None:
        ref = self.ticket(number).get("refs", {}).get("slack_card")
        if not ref:
            return None
        channel, _, ts = ref.partition(":")
        return next((m for m in self.fakes.slack.messages_in(channel) if m["ts"] == ts), None)

    def drained(self) -> bool:
        return self.store.tickets.count_documents({"outbox.0": {"$exists": True}}) == 0

    def history(self, number: int) -> list[dict[str, Any]]:
        doc = self.ticket(number)
        return list(self.store.history.find({"ticket_id": doc["_id"]}).sort("seq", 1))


@contextmanager
def running_desk(tmp_path: Path, flows: str = FLOWS, **settings: str) -> Iterator[Desk]:
    with ExitStack() as stack:
        slack = stack.enter_context(FakeSlack())
        slack.channel_members[AGENTS] = [ANN]
        slack.usergroup_users[LEAD_GROUP] = [LEAD]
        fakes = Fakes(
            slack=slack,
            telegram=stack.enter_context(FakeTelegram()),
            mailgun=stack.enter_context(FakeMailgun()),
            game=stack.enter_context(FakeGameApi()),
        )
        fakes.game.set_player("p-1", {"level": 40, "vip": True, "payer_tier": "dolphin"})
        desk = Desk(tmp_path / "var", fakes, flows, settings)
        stack.callback(desk.close)  # before start: a start that fails leaves no process
        desk.start()
        yield desk
