"""A message a platform sends again is stored once, whatever Redis remembers: the
platform's own id rides on the write that stores it (Ticket.inbound_ids)."""

from __future__ import annotations

import threading

from tests.conftest import AGENT, PLAYER
from ticketcore.lifecycle import Status
from ticketcore.models import Channel
from ticketcore.service import TicketService
from ticketcore.writes import MAX_INBOUND_IDS


def send(service: TicketService, inbound_id: str, text: str = "lost gems") -> int:
    return service.add_player_message(
        player=PLAYER, channel=Channel.TELEGRAM, text=text, inbound_id=inbound_id
    ).number


def messages_of(service: TicketService, number: int) -> list[str]:
    page = service.messages(service.get(number))
    return [entry.message.text for entry in page.items if entry.message is not None]


def test_a_resent_message_is_stored_once(service: TicketService) -> None:
    number = send(service, "telegram:1:10")
    send(service, "telegram:1:11", "still nothing")
    again = service.add_player_message(
        player=PLAYER, channel=Channel.TELEGRAM, text="still nothing", inbound_id="telegram:1:11"
    )
    assert again.number == number
    assert again.message_count == 2
    assert messages_of(service, number) == ["lost gems", "still nothing"]


def test_a_resend_after_the_ticket_closed_opens_no_ticket(service: TicketService) -> None:
    number = send(service, "telegram:1:10")
    service.set_status(number, Status.RESOLVED, actor=AGENT)
    service.set_status(number, Status.CLOSED, actor=AGENT)
    again = send(service, "telegram:1:10")
    assert again == number
    assert [t.number for t in service.find(limit=10)] == [number]
    assert service.get(number).status is Status.CLOSED
    # A new message after the close still opens the linked ticket it always did.
    assert send(service, "telegram:1:12", "it happened again") != number


def test_a_resend_racing_the_original_is_stored_once(service: TicketService) -> None:
    start = threading.Barrier(6)
    numbers: list[int] = []

    def resend() -> None:
        start.wait()
        numbers.append(send(service, "telegram:1:10"))

    threads = [threading.Thread(target=resend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [number] = set(numbers)
    assert [t.number for t in service.find(limit=10)] == [number]
    assert service.get(number).message_count == 1


def test_follow_ups_racing_their_resends_are_each_stored_once(service: TicketService) -> None:
    number = send(service, "telegram:1:10")
    start = threading.Barrier(8)

    def follow_up(i: int) -> None:
        start.wait()
        send(service, f"telegram:1:{20 + i % 4}", f"follow-up {i % 4}")

    threads = [threading.Thread(target=follow_up, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert service.get(number).message_count == 5
    assert sorted(messages_of(service, number)[1:]) == [f"follow-up {i}" for i in range(4)]


def test_a_known_ticket_takes_an_api_message_once(service: TicketService) -> None:
    number = service.open_ticket(
        player=PLAYER, channel=Channel.API, text="first", inbound_id="api:game:k1"
    ).number
    again = service.open_ticket(
        player=PLAYER, channel=Channel.API, text="first", inbound_id="api:game:k1"
    )
    assert again.number == number
    for _ in range(2):
        service.add_player_message_to(
            number, text="more", channel=Channel.API, inbound_id="api:game:k2"
        )
    assert messages_of(service, number) == ["first", "more"]
    # The number sequence was not spent on the resend.
    assert service.open_ticket(player=PLAYER, channel=Channel.API, text="x").number == number + 1


def test_an_edit_resent_is_kept_once_and_a_later_edit_is_kept(service: TicketService) -> None:
    service.add_player_message(
        player=PLAYER,
        channel=Channel.TELEGRAM,
        text="lost gems",
        external_id="1:10",
        inbound_id="telegram:1:10",
    )
    for inbound_id, text in [("1", "lost 50 gems"), ("1", "lost 50 gems"), ("2", "lost 60")]:
        ticket = service.edit_player_message(
            player=PLAYER,
            channel=Channel.TELEGRAM,
            external_id="1:10",
            text=text,
            inbound_id=f"telegram:1:10:edit:{inbound_id}",
        )
    assert messages_of(service, ticket.number) == ["lost gems", "lost 50 gems", "lost 60"]


def test_a_thread_note_resent_is_kept_once(service: TicketService) -> None:
    number = send(service, "telegram:1:10")
    for _ in range(2):
        service.add_note(number, actor=AGENT, text="checked the logs", inbound_id="slack:C1:1.5")
    notes = [e for e in service.history(service.get(number)).items if e.message is not None]
    assert [e.message.text for e in notes] == ["lost gems", "checked the logs"]


def test_a_ticket_keeps_only_its_latest_ids(service: TicketService) -> None:
    number = send(service, "telegram:1:0")
    for i in range(1, MAX_INBOUND_IDS + 5):
        send(service, f"telegram:1:{i}", f"message {i}")
    kept = service.get(number).inbound_ids
    assert len(kept) == MAX_INBOUND_IDS
    assert kept[-1] == f"telegram:1:{MAX_INBOUND_IDS + 4}"
    assert "telegram:1:0" not in kept
    raw = service.store.tickets.find_one({"number": number})
    assert raw["inbound_ids"] == list(kept)
