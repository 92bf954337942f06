"""The daily digest: once a day at its hour, in the leads' channel, with its chart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.client import web_client
from jobs.digest import Digest
from tests.conftest import AGENT, FakeClock
from tests.fakes.slack import FakeSlack
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.stats import Stats
from ticketcore.store import Store

LEADS = "C0LEADS"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def digest(store: Store, slack: FakeSlack) -> Digest:
    return Digest(
        store=store,
        client=web_client("xoxb-test", slack.url),
        channel=LEADS,
        hour=9,
        stats=lambda: Stats(store),
    )


def test_yesterdays_digest_is_posted_once_at_its_hour(
    store: Store, service: TicketService, clock: FakeClock, slack: FakeSlack
) -> None:
    clock.now = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)  # the day before yesterday: one
    service.open_ticket(player=Player(player_id="p0"), channel=Channel.API, text="crash")
    clock.now = datetime(2026, 10, 31, 10, 0, tzinfo=UTC)  # yesterday: two, one answered
    first = service.open_ticket(player=Player(player_id="p1"), channel=Channel.API, text="gems")
    service.open_ticket(player=Player(player_id="p2"), channel=Channel.API, text="login")
    clock.advance(minutes=20)
    service.reply(first.number, actor=AGENT, text="Restored")
    daily = digest(store, slack)

    assert not daily.post_if_due(datetime(2026, 11, 1, 8, 59, tzinfo=UTC))  # not yet
    assert daily.post_if_due(datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    assert not daily.post_if_due(datetime(2026, 11, 1, 9, 1, tzinfo=UTC))  # posted already

    [posted] = slack.messages_in(LEADS)
    summary = posted["blocks"][0]["text"]["text"]
    assert "2 created, 0 resolved, 0 reopened" in summary
    assert "First response 20 min median" in summary
    assert "created +1" in str(posted["blocks"][1])  # two against one the day before
    assert "<@" not in str(posted["blocks"])  # a channel message pings no agent
    [chart] = slack.files.values()
    assert chart["channels"] == [LEADS] and slack.uploads[chart["id"]].startswith(PNG)


def test_a_failed_post_is_tried_again_the_next_minute(
    store: Store, clock: FakeClock, slack: FakeSlack
) -> None:
    daily = digest(store, slack)
    slack.fail_next("chat.postMessage", error="internal_error")

    with pytest.raises(SlackApiError):
        daily.post_if_due(datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    assert daily.post_if_due(datetime(2026, 11, 1, 9, 1, tzinfo=UTC))
    assert len(slack.messages_in(LEADS)) == 1
