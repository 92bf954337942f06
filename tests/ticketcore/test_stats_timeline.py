"""What the report reads on the ticket itself: the status moves and agent replies each
change appends, and the backfill that rebuilds them from the history of older tickets."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import AGENT, OTHER_AGENT, FakeClock
from tests.ticketcore.test_stats import counts_scenario, open_ticket, store_history, utc
from ticketcore.lifecycle import Status
from ticketcore.models import Channel
from ticketcore.service import TicketService
from ticketcore.stats import Period, Stats
from ticketcore.stats.timeline import backfill
from ticketcore.store import Document, Store
from ticketcore.writes import AGENT_REPLIES, STATUS_MOVES

ANN, BOB = AGENT.id, OTHER_AGENT.id
ARRAYS = {STATUS_MOVES: 1, AGENT_REPLIES: 1}


def arrays(store: Store) -> dict[int, Document]:
    """Both arrays of every ticket, by number; an absent array as None."""
    return {
        doc["number"]: {name: doc.get(name) for name in ARRAYS}
        for doc in store.tickets.find({}, {"number": 1, **ARRAYS})
    }


def forget_arrays(store: Store) -> None:
    """As a ticket written before the arrays existed."""
    store.tickets.update_many({}, {"$unset": ARRAYS})


def move(at: datetime, old: Status, new: Status) -> Document:
    return {"at": at, "old": old.value, "new": new.value}


def test_a_status_move_and_an_agents_reply_are_recorded_on_the_ticket(
    store: Store, clock: FakeClock
) -> None:
    service = TicketService(store, clock)
    clock.now = utc(11, 2, 9)
    number = open_ticket(service)
    assert arrays(store)[number] == {STATUS_MOVES: None, AGENT_REPLIES: None}  # nothing yet
    clock.now = utc(11, 2, 9, 10)
    service.take(number, actor=AGENT)
    service.add_note(number, actor=OTHER_AGENT, text="Seen this before")  # no reply
    clock.now = utc(11, 2, 9, 20)
    service.reply(number, actor=AGENT, text="Try again")
    clock.now = utc(11, 2, 9, 30)
    service.reply(number, actor=OTHER_AGENT, text="And restart", status=Status.ANSWERED)
    clock.now = utc(11, 2, 10)
    service.add_player_message_to(number, text="Thanks", channel=Channel.API)
    service.add_player_message_to(number, text="It works", channel=Channel.API)
    clock.now = utc(11, 2, 11)
    service.flow_fired(number, rule="ack", trigger="t-1", reply="We got your message")

    # The player's first message put the answered ticket back with its agent; the second,
    # the notes and the flow's answer move nothing and are no agent's reply. Bob's reply
    # left the status as it was: a reply, no move.
    assert arrays(store)[number] == {
        STATUS_MOVES: [
            move(utc(11, 2, 9, 10), Status.NEW, Status.INPROGRESS),
            move(utc(11, 2, 9, 20), Status.INPROGRESS, Status.ANSWERED),
            move(utc(11, 2, 10), Status.ANSWERED, Status.INPROGRESS),
        ],
        AGENT_REPLIES: [
            {"at": utc(11, 2, 9, 20), "by": ANN},
            {"at": utc(11, 2, 9, 30), "by": BOB},
        ],
    }


def answered_ticket(store: Store, clock: FakeClock, text: str) -> tuple[TicketService, int]:
    """A ticket opened on 2 November at 9:00 and answered at once by Ann."""
    service = TicketService(store, clock)
    clock.now = utc(11, 2, 9)
    number = open_ticket(service)
    service.reply(number, actor=AGENT, text=text)
    return service, number


def test_an_automatic_reply_moves_the_status_but_is_no_agents_reply(
    store: Store, clock: FakeClock
) -> None:
    service, number = answered_ticket(store, clock, "Fixed")
    clock.now = utc(11, 6, 9)
    service.auto_close(
        answered_after=timedelta(days=3),
        resolved_after=timedelta(days=7),
        notice=lambda ticket: "Closing this: write again if it comes back.",
    )
    recorded = arrays(store)[number]
    assert recorded[STATUS_MOVES][-1] == move(utc(11, 6, 9), Status.ANSWERED, Status.RESOLVED)
    assert recorded[AGENT_REPLIES] == [{"at": utc(11, 2, 9), "by": ANN}]


def test_the_backfill_rebuilds_what_the_live_writes_recorded(
    store: Store, clock: FakeClock
) -> None:
    counts_scenario(TicketService(store, clock), clock)
    live = arrays(store)
    period = Period(utc(11, 3), utc(11, 5))
    report = Stats(store).report(period).to_json()

    # From the entries still carried in the outboxes.
    forget_arrays(store)
    assert backfill(store, batch=2) == len(live)
    assert arrays(store) == {n: {k: v or [] for k, v in a.items()} for n, a in live.items()}
    assert Stats(store).report(period).to_json() == report
    # From the stored history, the outboxes emptied; and again: nothing left to fill.
    store_history(store, complete=True)
    forget_arrays(store)
    assert backfill(store) == len(live)
    assert Stats(store).report(period).to_json() == report
    assert backfill(store) == 0


def test_the_backfill_completes_a_ticket_changed_after_the_upgrade_before_it_ran(
    store: Store, clock: FakeClock
) -> None:
    service, number = answered_ticket(store, clock, "Fixed?")
    store_history(store, complete=True)
    forget_arrays(store)  # written before the upgrade
    clock.now = utc(11, 2, 10)
    service.reply(number, actor=OTHER_AGENT, text="Fixed.", status=Status.RESOLVED)
    # After the upgrade: only its own move and reply, both arrays there but partial.
    assert arrays(store)[number][STATUS_MOVES] == [
        move(utc(11, 2, 10), Status.ANSWERED, Status.RESOLVED)
    ]

    assert backfill(store) == 1
    assert arrays(store)[number] == {
        STATUS_MOVES: [
            move(utc(11, 2, 9), Status.NEW, Status.ANSWERED),
            move(utc(11, 2, 10), Status.ANSWERED, Status.RESOLVED),
        ],
        AGENT_REPLIES: [{"at": utc(11, 2, 9), "by": ANN}, {"at": utc(11, 2, 10), "by": BOB}],
    }


def test_the_command_backfills_an_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "REDIS_"))}
    env |= {"DATA_DIR": str(tmp_path / "var"), "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "app", "stats", "--backfill"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "filled the status moves and agent replies of 0 tickets from their history;"
        " counted the tickets in each status again\n"
    )
