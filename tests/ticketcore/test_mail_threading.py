"""Mail in the ticket core: threading by Message-Id and subject, duplicates, delivery failures."""

from __future__ import annotations

import threading
from typing import Any

from tests.conftest import AGENT, FakeClock
from tests.ticketcore.conftest import TicketReads
from ticketcore.intake import mail_lookup
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, MessageKind, Player
from ticketcore.service import TicketService

ANNA = Player(email="Anna@Example.com", display_name="Anna")
BORIS = Player(email="boris@example.org")


def receive(service: TicketService, message_id: str, text: str = "hello", **fields: object):  # type: ignore[no-untyped-def]
    fields.setdefault("player", ANNA)
    fields.setdefault("sender_verified", True)
    return service.receive_mail(message_id=message_id, text=text, **fields)  # type: ignore[arg-type]


def player_texts(service: TicketService, number: int) -> list[str]:
    page = service.messages(service.get(number))
    messages = [e.message for e in page.items if e.message]
    return [m.text for m in messages if m.kind is MessageKind.PLAYER]


def test_a_new_mail_opens_an_email_ticket_with_its_subject(service: TicketService) -> None:
    ticket, new = receive(service, "<a1@example.com>", "My gems are gone", subject="Lost gems")
    assert new
    assert (ticket.channel, ticket.subject, ticket.player.email) == (
        Channel.EMAIL,
        "Lost gems",
        "anna@example.com",
    )
    assert ticket.mail_ids == ("<a1@example.com>",)
    [entry] = service.messages(ticket).items
    assert entry.message is not None and entry.message.external_id == "<a1@example.com>"


def test_the_same_message_id_twice_is_stored_once(service: TicketService) -> None:
    first, _ = receive(service, "<a1@example.com>")
    again, new = receive(service, "<a1@example.com>")
    assert not new
    assert again.number == first.number
    assert again.message_count == 1
    assert service.store.tickets.count_documents({}) == 1


def test_a_reply_to_a_mail_we_sent_lands_on_its_ticket(service: TicketService) -> None:
    ticket, _ = receive(service, "<a1@example.com>", subject="Lost gems")
    service.reply(ticket.number, actor=AGENT, text="Try again", status=Status.ANSWERED)
    ours = f"<ticket-{ticket.number}.abc@mg.example.com>"
    service.remember_mail_id(ticket.id, ours)
    follow_up, new = receive(service, "<a2@example.com>", "Still gone", thread_ids=[ours])
    assert new and follow_up.number == ticket.number
    assert follow_up.status is Status.NEW  # back to the team: the player answered
    assert follow_up.mail_ids == ("<a1@example.com>", ours, "<a2@example.com>")
    assert player_texts(service, ticket.number) == ["hello", "Still gone"]


def test_references_to_unknown_ids_open_a_new_ticket(service: TicketService) -> None:
    first, _ = receive(service, "<a1@example.com>")
    other, _ = receive(service, "<a2@example.com>", thread_ids=["<nobody@else>"])
    assert other.number != first.number


def test_a_subject_reference_counts_only_for_that_tickets_player(
    service: TicketService,
) -> None:
    ticket, _ = receive(service, "<a1@example.com>", subject="Lost gems")
    mine, _ = receive(service, "<a2@example.com>", subject_number=ticket.number)
    assert mine.number == ticket.number
    # Someone else naming Anna's ticket in a subject does not get into it.
    theirs, _ = receive(service, "<b1@example.org>", player=BORIS, subject_number=ticket.number)
    assert theirs.number != ticket.number
    assert player_texts(service, ticket.number) == ["hello", "hello"]


def test_a_mail_on_a_closed_ticket_opens_a_linked_one(
    service: TicketService, clock: FakeClock
) -> None:
    ticket, _ = receive(service, "<a1@example.com>", subject="Lost gems")
    service.set_status(ticket.number, Status.CLOSED, actor=AGENT)
    clock.advance(days=3)
    later, _ = receive(service, "<a2@example.com>", thread_ids=["<a1@example.com>"])
    assert later.number != ticket.number
    assert later.reopened_from == ticket.number
    assert later.mail_ids == ("<a2@example.com>",)


def test_the_same_mail_delivered_twice_at_once_makes_one_ticket(service: TicketService) -> None:
    results: list[tuple[int, bool]] = []
    start = threading.Barrier(4)

    def deliver() -> None:
        start.wait()
        ticket, new = receive(service, "<race@example.com>", "once")
        results.append((ticket.number, new))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({number for number, _ in results}) == 1
    assert service.store.tickets.count_documents({"mail_ids": "<race@example.com>"}) == 1


def test_tickets_without_mail_do_not_collide_on_the_mail_index(service: TicketService) -> None:
    for i in range(3):
        service.add_player_message(player=Player(player_id=f"p{i}"), channel=Channel.API, text="x")
    assert service.store.tickets.count_documents({"mail_ids": {"$exists": True}}) == 0


def test_a_failed_delivery_is_recorded_and_changes_the_ticket(service: TicketService) -> None:
    ticket, _ = receive(service, "<a1@example.com>")
    failed = service.delivery_failed(
        ticket.number, channel=Channel.EMAIL, reason="550 mailbox unavailable"
    )
    assert failed.delivery_problem == "email: 550 mailbox unavailable"
    assert failed.version == ticket.version + 1
    events = [e.event for e in service.history(failed).items]
    assert events[-1] == "delivery.failed"


def test_a_follow_up_finds_its_ticket_checks_for_a_duplicate_and_is_added_in_one_read(
    service: TicketService, reads: tuple[TicketService, TicketReads]
) -> None:
    counted, counter = reads
    ticket, _ = receive(service, "<a1@example.com>", subject="Lost gems")
    counter.count = 0
    follow_up, new = receive(counted, "<a2@example.com>", thread_ids=["<a1@example.com>"])
    assert new and follow_up.number == ticket.number
    # the read that finds the ticket (and that the mail is not on it yet) is the one the
    # compare-and-set write decides on
    assert counter.count == 1


def test_a_follow_up_decided_on_a_stale_read_loses_no_write_in_between(
    service: TicketService,
) -> None:
    ticket, _ = receive(service, "<a1@example.com>", subject="Lost gems")
    stale = service.store.tickets.find_one({"number": ticket.number})
    service.add_note(ticket.number, actor=AGENT, text="checking the payment")

    added = service.add_player_message_to(
        ticket.number, channel=Channel.EMAIL, text="still nothing", read=stale
    )

    assert added.version == ticket.version + 2
    texts = [entry.message.text for entry in service.messages(added).items if entry.message]
    assert texts[-2:] == ["checking the payment", "still nothing"]


def test_a_mail_seen_before_is_known_in_one_read(
    service: TicketService, reads: tuple[TicketService, TicketReads]
) -> None:
    counted, counter = reads
    first, _ = receive(service, "<a1@example.com>")
    counter.count = 0
    again, new = receive(counted, "<a1@example.com>", thread_ids=["<a0@example.com>"])
    assert (again.number, new) == (first.number, False)
    assert counter.count == 1


def test_the_mail_lookup_reads_the_mail_ids_index_and_sorts_nothing(
    service: TicketService,
) -> None:
    for n in range(30):
        receive(service, f"<m{n}@example.com>", player=Player(email=f"p{n}@example.com"))
    query = mail_lookup("<new@example.com>", ["<m3@example.com>", "<m7@example.com>"])
    plan = service.store.tickets.find(query).explain()["queryPlanner"]["winningPlan"]
    stages = plan_stages(plan)
    assert "IXSCAN" in stages and "SORT" not in stages and "COLLSCAN" not in stages
    assert service.store.tickets.find(query).explain()["executionStats"]["totalDocsExamined"] == 2


def plan_stages(plan: dict[str, Any]) -> list[str]:
    inner = [plan["inputStage"]] if "inputStage" in plan else plan.get("inputStages", [])
    return [plan["stage"], *(stage for child in inner for stage in plan_stages(child))]
