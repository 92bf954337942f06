"""A post whose outcome is unknown (the answer was lost, the worker died mid-call) is
found in Slack on the retry instead of being posted a second time."""

from __future__ import annotations

from jobs.deliver import deliver
from jobs.slack import SLACK_CARD, SLACK_ESCALATION, SLACK_THREAD
from tests.support.slack_desk import TRIAGE, Desk
from ticketcore.models import Actor, ActorKind, Priority

AGENT = Actor(kind=ActorKind.AGENT, id="U0ANN", via="slack")


def retry_when_due(desk: Desk, number: int, kind: str) -> dict[str, str]:
    """Run the ticket's owed `kind` effects again, as the sweeper would once their backoff
    has passed; their outcomes by key."""
    desk.runtime.store.tickets.update_one(
        {"number": number}, {"$set": {"outbox.$[].due_at": desk.runtime.clock()}}
    )
    doc = desk.runtime.store.tickets.find_one({"number": number})
    keys = [r["key"] for r in doc["outbox"] if r["kind"] == kind]
    assert keys, f"no {kind} effect is owed"
    return deliver(str(doc["_id"]), keys)


def test_a_card_posted_whose_answer_was_lost_is_kept_not_posted_again(desk: Desk) -> None:
    desk.slack.lose_answers("chat.postMessage")  # Slack posts it; the worker sees a 500
    number = desk.open_ticket()
    desk.deliver()
    assert len(desk.slack.messages_in(TRIAGE)) == 1
    doc = desk.runtime.store.tickets.find_one({"number": number})
    assert "slack_card" not in doc.get("refs", {})  # the store does not know the card
    desk.runtime.service.take(number, actor=AGENT)  # a change before the retry

    assert set(retry_when_due(desk, number, SLACK_CARD).values()) == {"done"}

    [card] = desk.slack.messages_in(TRIAGE)
    assert desk.card(number)["ts"] == card["ts"]  # the card Slack has is the ticket's card
    assert "<@U0ANN>" in str(card["blocks"])  # redrawn: it shows the ticket as it is now
    assert len(desk.slack.calls_to("conversations.history")) == 1
    # Later changes redraw that card.
    desk.runtime.service.set_priority(number, Priority.URGENT, actor=AGENT)
    desk.deliver()
    assert len(desk.slack.messages_in(TRIAGE)) == 1
    assert desk.slack.calls_to("chat.update")[-1].args["ts"] == card["ts"]


def test_a_thread_message_whose_answer_was_lost_is_not_posted_again(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.slack.lose_answers("chat.postMessage")
    desk.runtime.service.add_note(number, actor=AGENT, text="Checked the purchase log")
    desk.deliver()
    card = desk.card(number)
    assert len(desk.slack.thread(TRIAGE, card["ts"])) == 1

    assert set(retry_when_due(desk, number, SLACK_THREAD).values()) == {"done"}

    [note] = desk.slack.thread(TRIAGE, card["ts"])
    assert "Checked the purchase log" in note["text"]
    assert [c.args["ts"] for c in desk.slack.calls_to("conversations.replies")] == [card["ts"]]


def test_a_first_attempt_posts_without_looking(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.runtime.service.add_note(number, actor=AGENT, text="Checked the purchase log")
    desk.deliver()
    assert len(desk.slack.messages_in(TRIAGE)) == 1
    posted = desk.slack.calls_to("chat.postMessage")
    assert len(posted) == 2  # the card and the note in its thread
    assert {c.args["metadata"]["event_payload"]["number"] for c in posted} == {number}
    assert not desk.slack.calls_to("conversations.history")
    assert not desk.slack.calls_to("conversations.replies")


def test_a_post_that_really_failed_is_posted_on_the_retry(desk: Desk) -> None:
    desk.slack.fail_next("chat.postMessage", status=500)  # Slack did not post it
    number = desk.open_ticket()
    desk.deliver()
    assert desk.slack.messages_in(TRIAGE) == []

    assert set(retry_when_due(desk, number, SLACK_CARD).values()) == {"done"}

    assert len(desk.slack.messages_in(TRIAGE)) == 1
    assert len(desk.slack.calls_to("conversations.history")) == 1  # looked, found nothing


def test_a_lead_alert_whose_answer_was_lost_is_not_posted_again(desk: Desk) -> None:
    number = desk.open_ticket()
    desk.deliver()
    desk.slack.lose_answers("chat.postMessage")
    desk.runtime.service.escalate(number, actor=AGENT, reason="The player is a streamer")
    desk.deliver()
    assert len(desk.slack.messages_in("C0LEADS")) == 1

    assert set(retry_when_due(desk, number, SLACK_ESCALATION).values()) == {"done"}

    assert len(desk.slack.messages_in("C0LEADS")) == 1


def test_a_look_that_fails_for_now_posts_nothing_until_it_can_look(desk: Desk) -> None:
    desk.slack.lose_answers("chat.postMessage")
    number = desk.open_ticket()
    desk.deliver()
    desk.slack.fail_next("conversations.history", status=500)  # Slack's trouble goes on

    assert set(retry_when_due(desk, number, SLACK_CARD).values()) == {"failed"}
    assert len(desk.slack.calls_to("chat.postMessage")) == 1  # not posted blind
    assert set(retry_when_due(desk, number, SLACK_CARD).values()) == {"done"}
    assert len(desk.slack.messages_in(TRIAGE)) == 1


def test_a_look_refused_for_good_still_posts(desk: Desk) -> None:
    desk.slack.fail_next("chat.postMessage", status=500)
    number = desk.open_ticket()
    desk.deliver()
    # A workspace that installed the app before it asked for the history scope.
    desk.slack.fail_next("conversations.history", status=200, error="missing_scope")

    assert set(retry_when_due(desk, number, SLACK_CARD).values()) == {"done"}
    assert len(desk.slack.messages_in(TRIAGE)) == 1
