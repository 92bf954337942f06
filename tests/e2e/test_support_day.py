"""A support day, end to end: `helpdesk serve` and `helpdesk worker` as real processes on
embedded defaults, talking to fake Slack, Telegram, Mailgun and game-account servers over
HTTP, driven only from the outside (signed webhooks, the API), and checked afterwards in
the store and in what every fake received."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from tests.conftest import wait_for
from tests.fakes.game_api import DEFAULT_TOKEN as GAME_TOKEN
from tests.fakes.game_api import FakeGameApi
from tests.fakes.mail import SUPPORT_ADDRESS, load_fixture, mailgun_form
from tests.fakes.mailgun import FakeMailgun
from tests.fakes.slack import (
    FakeSlack,
    block_action_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.fakes.telegram import FakeTelegram, edited_text_update, photo_update, text_update
from tests.test_processes import NETWORK, free_port
from ticketcore import embedded

SLACK_SECRET = "e2e-slack-signing-secret"
TELEGRAM_SECRET = "e2e-telegram-secret"
MAIL_KEY = "e2e-mailgun-signing-key"
API_KEY = "e2e-api-key"
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
      first_response: 1m
      business_hours: false
    - name: default
      first_response: 4h
      business_hours: false
autoclose:
  answered_after: 1m
  resolved_after: 1m
incidents:
  min_similar: 4
  window: 5m
"""
STORM = [
    "Cannot log in, error 503 on the login screen",
    "error 503 when I log in, cannot play",
    "Login fails with error 503 since this morning",
    "I cannot log in: error 503 on login",
    "error 503 at login, cannot log in at all",
]


@dataclass
class Fakes:
    slack: FakeSlack
    telegram: FakeTelegram
    mailgun: FakeMailgun
    game: FakeGameApi


class Desk:
    """The two processes, and the ways people and systems reach them from outside."""

    def __init__(self, data_dir: Path, fakes: Fakes) -> None:
        self.data_dir = data_dir
        self.fakes = fakes
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.store: Any = None
        self.client: pymongo.MongoClient[dict[str, Any]] | None = None

    def env(self) -> dict[str, str]:
        fakes = self.fakes
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "REDIS_"))}
        (self.data_dir.parent / "flows.yaml").write_text(FLOWS)
        return base | {
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

    def start(self) -> None:
        env = self.env()
        cwd = self.data_dir.parent
        serve = [sys.executable, "-m", "app", "serve", "--no-worker"]
        self.processes.append(subprocess.Popen(serve, env=env, cwd=cwd))
        wait_for(self.healthy, "helpdesk serve to answer", 90, ignoring=NETWORK)
        worker = [sys.executable, "-m", "app", "worker"]
        self.processes.append(subprocess.Popen(worker, env=env, cwd=cwd))
        running = embedded.published(self.data_dir)
        assert running is not None and running.mongodb_uri
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            running.mongodb_uri, tz_aware=True
        )
        self.client = client
        self.store = client["helpdesk"]

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)

    def healthy(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200

    # ---------------------------------------------------------------- the outside world

    def telegram(self, update: dict[str, Any]) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        answer = httpx.post(f"{self.url}/telegram/webhook", json=update, headers=headers)
        assert answer.status_code == 200, answer.text

    def mail(self, raw: bytes) -> None:
        data, files = mailgun_form(raw, signing_key=MAIL_KEY)
        answer = httpx.post(f"{self.url}/mailgun/inbound", data=data, files=files or None)
        assert answer.status_code == 200, answer.text

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def slack(self, body: bytes) -> None:
        headers = sign(SLACK_SECRET, body) | {"Content-Type": FORM}
        answer = httpx.post(f"{self.url}/slack/events", content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    def click(self, user: str, action_id: str, number: int, **kwargs: Any) -> None:
        selected = kwargs.pop("selected", None)
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
        health = httpx.get(f"{self.url}/healthz", timeout=5).json()
        return health["checks"]["outbox"] == {"pending": 0, "dead": 0}

    def history(self, number: int) -> list[dict[str, Any]]:
        doc = self.ticket(number)
        return list(self.store.history.find({"ticket_id": doc["_id"]}).sort("seq", 1))


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
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
        desk = Desk(tmp_path / "var", fakes)
        desk.start()
        stack.callback(desk.stop)
        yield desk


def test_a_support_day(desk: Desk) -> None:
    fakes = desk.fakes

    # -- morning: players write on every channel -----------------------------------------
    urgent = desk.api(
        "POST", "/api/v1/tickets", json={"text": "Payment failed twice", "player_id": "p-1"}
    )
    assert urgent.status_code == 201, urgent.text
    paid = int(urgent.json()["number"])
    first = text_update(user_id=101, text="My gems vanished after the update")
    desk.telegram(first)
    gems = desk.number_where({"player.telegram_user_id": 101})
    fakes.telegram.add_file("photo-1", b"\x89PNG fake screenshot", file_unique_id="u-photo-1")
    desk.telegram(photo_update(user_id=102, file_id="photo-1"))
    photo = desk.number_where({"player.telegram_user_id": 102})
    desk.telegram(
        edited_text_update(
            user_id=101,
            message_id=first["message"]["message_id"],
            text="My gems vanished after the update yesterday",
        )
    )
    desk.mail(load_fixture("gmail_reply_en.eml"))
    mailed = desk.number_where({"player.email": "alex.rivera@example.com"})
    wait_for(lambda: all(desk.card_of(n) for n in (paid, gems, photo, mailed)), "4 cards", 60)

    # -- agents work the tickets from Slack ----------------------------------------------
    desk.click(ANN, "ticket.take", gems)
    desk.click(ANN, "ticket.reply", gems, trigger_id="trig-reply")
    desk.submit(
        ANN,
        "trig-reply",
        {
            "reply.text.0": {"text": {"type": "plain_text_input", "value": "Gems restored!"}},
            "status": {
                "status": {"type": "static_select", "selected_option": {"value": "answered"}}
            },
        },
    )
    desk.click(ANN, "ticket.note", mailed, trigger_id="trig-note")
    desk.submit(
        ANN,
        "trig-note",
        {"note.text": {"text": {"type": "plain_text_input", "value": "Checked the logs"}}},
    )
    desk.click(ANN, "ticket.status", photo, selected="waiting")
    desk.click(ANN, "ticket.priority", paid, selected="urgent")
    found = desk.command(ANN, "search gems", "r-search")
    stats = desk.command(LEAD, "stats 1d", "r-stats")

    # -- the player answers on Telegram, a storm comes in, a ticket is resolved -----------
    wait_for(lambda: fakes.telegram.sent_to(101), "the reply on Telegram", 30)
    desk.telegram(text_update(user_id=101, text="Thanks, they are back"))
    for n, text in enumerate(STORM):
        answer = desk.api("POST", "/api/v1/tickets", json={"text": text, "player_id": f"s{n}"})
        assert answer.status_code == 201, answer.text
    desk.click(ANN, "ticket.resolve", mailed)

    # -- the urgent ticket breaches its SLA; a lead acknowledges the alert ----------------
    def alert() -> bool:
        """The leads' alert about the urgent ticket: its Acknowledge button names it."""
        button = {"action_id": "alert.ack", "value": str(paid)}
        return any(
            button.items() <= element.items()
            for message in fakes.slack.messages_in(LEADS)
            for block in message.get("blocks", [])
            for element in block.get("elements", [])
        )

    wait_for(alert, "the leads' SLA alert", 120)
    desk.click(LEAD, "alert.ack", paid, channel=LEADS)

    # -- quiet tickets close by themselves -----------------------------------------------
    wait_for(lambda: desk.ticket(mailed)["status"] == "closed", "auto-close", 150)
    wait_for(lambda: desk.ticket(paid).get("escalation", {}).get("acked_by"), "ack", 30)
    wait_for(desk.drained, "the outbox to drain", 60)

    # ---------------------------------------------------------------- what came of it
    gems_ticket, paid_ticket = desk.ticket(gems), desk.ticket(paid)
    assert gems_ticket["assignee"] == ANN
    said = [e["message"]["text"] for e in desk.history(gems) if e.get("message")]
    assert said[:1] == ["My gems vanished after the update"]
    assert "My gems vanished after the update yesterday" in said  # the edit
    assert "Gems restored!" in said and said[-1] == "Thanks, they are back"
    assert desk.ticket(photo)["status"] == "waiting"
    assert any(e["message"]["attachments"] for e in desk.history(photo) if e.get("message")), (
        "the photo is kept"
    )
    mailed_said = [e["message"] for e in desk.history(mailed) if e.get("message")]
    assert mailed_said[0]["text"] == "Still no gems, I restarted twice."  # no quote
    assert any(m["kind"] == "note" and m["text"] == "Checked the logs" for m in mailed_said)
    assert paid_ticket["priority"] == "urgent"
    assert paid_ticket["account"]["status"] == "ok"  # the game's account, beside the ticket
    assert paid_ticket["escalation"]["acked_by"] == LEAD
    storm = list(desk.store.tickets.find({"player.player_id": {"$in": ["s0", "s1", "s2"]}}))
    assert storm and all(t.get("incident") for t in storm), "the storm became an incident"

    assert found["response_type"] == "ephemeral" and f"#{gems}" in json.dumps(found)
    assert "created" in stats["text"]

    # Every fake got each thing once.
    to_101 = [m["text"] for m in fakes.telegram.sent_to(101)]
    assert to_101.count("Gems restored!") == 1
    assert not any("Checked the logs" in f"{m.text}{m.html}" for m in fakes.mailgun.messages)
    mail_ids = [m.header("Message-Id") or m.id for m in fakes.mailgun.messages]
    assert len(mail_ids) == len(set(mail_ids)), "no mail sent twice"
    mail_tags = Counter(tag for m in fakes.mailgun.messages for tag in m.tags)
    # The mail player: "request received" when it opened, the score question once resolved.
    assert (mail_tags["opened"], mail_tags["csat"]) == (1, 1), mail_tags
    assert all(m.recipients == ["alex.rivera@example.com"] for m in fakes.mailgun.messages)
    card_numbers = Counter(
        n
        for m in fakes.slack.calls_to("chat.postMessage")
        if m.args.get("channel") == TRIAGE and not m.args.get("thread_ts")
        for n in (paid, gems, photo, mailed)
        if f"#{n} ·" in str(m.args.get("blocks"))
    )
    assert all(card_numbers[n] == 1 for n in (paid, gems, photo, mailed)), card_numbers
