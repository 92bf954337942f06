from datetime import timedelta

import pytest

from tests.conftest import AGENT, OTHER_AGENT, PLAYER, FakeClock
from ticketcore.errors import CannotMerge, InvalidTransition, TicketClosed, TicketNotFound
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, MessageKind, Player, Priority
from ticketcore.service import TicketService


def open_one(service: TicketService, text: str = "I lost my gems\nafter the update") -> int:
    return service.add_player_message(player=PLAYER, channel=Channel.API, text=text).number


def test_first_message_opens_a_ticket_with_subject_from_its_first_line(
    service: TicketService,
) -> None:
    ticket = service.add_player_message(
        player=PLAYER, channel=Channel.API, text="\n  Lost gems \nmore"
    )
    assert (ticket.number, ticket.subject, ticket.status) == (1, "Lost gems", Status.NEW)
    assert ticket.player.player_id == "p-1001"
    assert ticket.message_count == 1
    page = service.messages(ticket)
    assert [(m.message.kind, m.message.text) for m in page.items if m.message] == [
        (MessageKind.PLAYER, "\n  Lost gems \nmore")
    ]


def test_numbers_are_sequential_and_per_player_ticket(service: TicketService) -> None:
    numbers = [
        service.add_player_message(
            player=Player(player_id=f"p{i}"), channel=Channel.API, text="hi"
        ).number
        for i in range(5)
    ]
    assert numbers == [1, 2, 3, 4, 5]


def test_follow_up_goes_to_the_open_ticket_on_the_same_channel(service: TicketService) -> None:
    first = open_one(service)
    again = service.add_player_message(player=PLAYER, channel=Channel.API, text="any news?")
    other_channel = service.add_player_message(
        player=PLAYER, channel=Channel.TELEGRAM, text="hello"
    )
    assert again.number == first
    assert again.message_count == 2
    assert other_channel.number != first


def test_player_text_that_looks_like_an_operator_is_kept_verbatim(service: TicketService) -> None:
    text = "$100 refund {$set: 1} $$ROOT"
    number = open_one(service, text)
    service.add_player_message(player=PLAYER, channel=Channel.API, text="$status")
    texts = [m.message.text for m in service.messages(service.get(number)).items if m.message]
    assert texts == [text, "$status"]


def test_take_assigns_and_starts_work(service: TicketService) -> None:
    number = open_one(service)
    ticket = service.take(number, actor=AGENT)
    assert (ticket.assignee, ticket.status) == ("U0AGENT", Status.INPROGRESS)
    history = service.history(ticket).items
    assert history[-1].event == "ticket.assigned"
    assert {(c.field, c.old, c.new) for c in history[-1].changes} == {
        ("assignee", None, "U0AGENT"),
        ("status", "new", "inprogress"),
    }
    assert history[-1].actor == AGENT


def test_reply_answers_and_stamps_first_response_once(
    service: TicketService, clock: FakeClock
) -> None:
    number = open_one(service)
    clock.advance(minutes=5)
    first = service.reply(number, actor=AGENT, text="Checking!")
    clock.advance(minutes=5)
    second = service.reply(number, actor=AGENT, text="Done.", status=Status.WAITING)
    assert first.status is Status.ANSWERED
    assert second.status is Status.WAITING
    assert (
        second.first_response_at
        == first.first_response_at
        == first.created_at + timedelta(minutes=5)
    )
    assert second.last_agent_reply_at == first.created_at + timedelta(minutes=10)


@pytest.mark.parametrize("status", [Status.ANSWERED, Status.WAITING, Status.RESOLVED])
@pytest.mark.parametrize("assigned", [True, False])
def test_player_message_reopens(service: TicketService, status: Status, assigned: bool) -> None:
    number = open_one(service)
    if assigned:
        service.take(number, actor=AGENT)
    service.reply(number, actor=AGENT, text="answer", status=status)
    ticket = service.add_player_message(player=PLAYER, channel=Channel.API, text="not fixed")
    assert ticket.number == number
    assert ticket.status is (Status.INPROGRESS if assigned else Status.NEW)
    assert ticket.resolved_at is None
    last = service.history(ticket).items[-1]
    assert last.event == "message.received"
    assert [(c.field, c.old, c.new) for c in last.changes] == [
        ("status", status.value, ticket.status.value)
    ]


def test_player_message_on_pending_keeps_it_pending(service: TicketService) -> None:
    number = open_one(service)
    service.set_status(number, Status.PENDING, actor=AGENT)
    ticket = service.add_player_message(player=PLAYER, channel=Channel.API, text="still waiting")
    assert ticket.status is Status.PENDING
    assert service.history(ticket).items[-1].changes == ()


def test_player_message_on_a_closed_ticket_opens_a_linked_one(service: TicketService) -> None:
    number = open_one(service)
    service.set_status(number, Status.CLOSED, actor=AGENT)
    by_number = service.add_player_message_to(number, text="it broke again", channel=Channel.API)
    assert by_number.number != number
    assert by_number.reopened_from == number
    assert by_number.subject == service.get(number).subject
    assert service.get(number).status is Status.CLOSED


def test_a_message_after_a_closed_ticket_opens_a_new_linked_one(service: TicketService) -> None:
    number = open_one(service)
    service.set_status(number, Status.CLOSED, actor=AGENT)
    fresh = service.add_player_message(player=PLAYER, channel=Channel.API, text="new problem")
    assert fresh.number != number
    assert fresh.status is Status.NEW
    assert fresh.reopened_from == number


def test_the_current_ticket_is_the_one_the_next_message_would_join(
    service: TicketService,
) -> None:
    assert service.current_ticket(PLAYER, Channel.API) is None
    older = open_one(service)
    newer = service.add_player_message(
        player=PLAYER, channel=Channel.API, text="another problem", new=True
    ).number
    current = service.current_ticket(PLAYER, Channel.API)
    assert current is not None and current.number == newer

    service.set_status(newer, Status.CLOSED, actor=AGENT)
    assert service.get(older).status is not Status.CLOSED
    assert service.current_ticket(PLAYER, Channel.API) is None  # the next one opens a ticket
    joined = service.add_player_message(player=PLAYER, channel=Channel.API, text="hello?")
    assert joined.number not in (older, newer)


def test_illegal_status_move_raises_and_changes_nothing(service: TicketService) -> None:
    number = open_one(service)
    service.set_status(number, Status.CLOSED, actor=AGENT)
    before = service.get(number)
    with pytest.raises(InvalidTransition) as refused:
        service.set_status(number, Status.INPROGRESS, actor=AGENT)
    assert refused.value.allowed == []
    after = service.get(number)
    assert after == before
    assert len(service.history(after).items) == 2


def test_resolving_and_reopening_tracks_resolved_at(
    service: TicketService, clock: FakeClock
) -> None:
    number = open_one(service)
    resolved = service.set_status(number, Status.RESOLVED, actor=AGENT)
    assert resolved.resolved_at == clock()
    reopened = service.set_status(number, Status.INPROGRESS, actor=AGENT)
    assert reopened.resolved_at is None
    clock.advance(hours=1)
    closed = service.set_status(number, Status.CLOSED, actor=AGENT)
    assert closed.closed_at == clock()
    assert closed.resolved_at == clock()


def test_setting_the_current_status_again_is_a_quiet_no_op(service: TicketService) -> None:
    number = open_one(service)
    service.set_status(number, Status.PENDING, actor=AGENT)
    ticket = service.set_status(number, Status.PENDING, actor=AGENT)
    assert ticket.status is Status.PENDING
    assert [e.event for e in service.history(ticket).items] == [
        "ticket.created",
        "ticket.status_changed",
    ]


def test_reply_on_closed_ticket_is_refused(service: TicketService) -> None:
    number = open_one(service)
    service.set_status(number, Status.CLOSED, actor=AGENT)
    with pytest.raises(TicketClosed):
        service.reply(number, actor=AGENT, text="late")


def test_note_is_internal_and_does_not_touch_status(service: TicketService) -> None:
    number = open_one(service)
    service.reply(number, actor=AGENT, text="answer")
    ticket = service.add_note(number, actor=OTHER_AGENT, text="player is a known tester")
    assert ticket.status is Status.ANSWERED
    kinds = [m.message.kind for m in service.messages(ticket).items if m.message]
    assert kinds == [MessageKind.PLAYER, MessageKind.REPLY, MessageKind.NOTE]


def test_assign_unassign_priority_queue_and_tags_are_recorded(service: TicketService) -> None:
    number = open_one(service)
    service.assign(number, "U0OTHER", actor=AGENT)
    service.assign(number, None, actor=AGENT)
    service.set_priority(number, Priority.URGENT, actor=AGENT)
    service.change(number, actor=AGENT, queue="ru")
    service.tag(number, ["Refund", "payment", "refund"], actor=AGENT)
    ticket = service.untag(number, ["payment"], actor=AGENT)
    assert (ticket.assignee, ticket.priority, ticket.queue, ticket.tags) == (
        None,
        Priority.URGENT,
        "ru",
        ("refund",),
    )
    changes = [
        (e.event, [(c.field, c.old, c.new) for c in e.changes])
        for e in service.history(ticket).items[1:]
    ]
    assert changes == [
        ("ticket.assigned", [("assignee", None, "U0OTHER")]),
        ("ticket.assigned", [("assignee", "U0OTHER", None)]),
        ("ticket.priority_changed", [("priority", "normal", "urgent")]),
        ("ticket.queue_changed", [("queue", None, "ru")]),
        ("ticket.tags_changed", [("tags", [], ["payment", "refund"])]),
        ("ticket.tags_changed", [("tags", ["payment", "refund"], ["refund"])]),
    ]


def test_several_fields_change_in_one_step_with_one_entry(service: TicketService) -> None:
    number = open_one(service)
    ticket = service.change(
        number, actor=AGENT, status=Status.PENDING, priority=Priority.HIGH, set_tags=["bug"]
    )
    last = service.history(ticket).items[-1]
    assert last.event == "ticket.updated"
    assert {c.field for c in last.changes} == {"status", "priority", "tags"}


def test_merge_closes_the_duplicate_and_redirects_its_player(service: TicketService) -> None:
    keep = open_one(service)
    dup = service.add_player_message(
        player=PLAYER, channel=Channel.EMAIL, text="same problem"
    ).number
    merged = service.merge(dup, keep, actor=AGENT)
    assert (merged.status, merged.merged_into) == (Status.CLOSED, keep)
    followed = service.add_player_message_to(dup, text="hello?", channel=Channel.EMAIL)
    assert followed.number == keep
    notes = [m.message.text for m in service.messages(followed).items if m.message]
    assert f"Ticket #{dup} (same problem) was merged into this one." in notes
    assert notes[-1] == "hello?"


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [(1, 1, "into itself"), (1, 2, "#2 is closed")],
)
def test_impossible_merges_are_refused(
    service: TicketService, source: int, target: int, reason: str
) -> None:
    open_one(service)
    service.add_player_message(player=Player(player_id="x"), channel=Channel.API, text="other")
    service.set_status(2, Status.CLOSED, actor=AGENT)
    with pytest.raises(CannotMerge, match=reason):
        service.merge(source, target, actor=AGENT)


def test_unknown_ticket_is_not_found(service: TicketService) -> None:
    for call in (
        lambda: service.get(99),
        lambda: service.reply(99, actor=AGENT, text="x"),
        lambda: service.set_status(99, Status.RESOLVED, actor=AGENT),
        lambda: service.add_player_message_to(99, text="x", channel=Channel.API),
        lambda: service.take(99, actor=AGENT),
    ):
        with pytest.raises(TicketNotFound):
            call()


def test_a_player_without_any_identity_is_refused_before_a_number_is_taken(
    service: TicketService,
) -> None:
    with pytest.raises(ValueError, match="player_id, an email or a Telegram user id"):
        service.open_ticket(player=Player(), channel=Channel.API, text="hi")
    assert open_one(service) == 1


def test_find_pages_newest_first(service: TicketService) -> None:
    for i in range(5):
        service.add_player_message(player=Player(player_id=f"p{i}"), channel=Channel.API, text="x")
    service.set_status(2, Status.RESOLVED, actor=AGENT)
    first = service.find(limit=2)
    second = service.find(limit=2, before_number=first[-1].number)
    assert [t.number for t in first + second] == [5, 4, 3, 2]
    assert [t.number for t in service.find(status=Status.RESOLVED)] == [2]
    assert [t.number for t in service.find(player_id="p3")] == [4]


def test_quiet_answered_tickets_resolve_and_resolved_ones_close(
    service: TicketService, clock: FakeClock
) -> None:
    quiet, talking, done = (
        service.add_player_message(
            player=Player(player_id=f"p{i}"), channel=Channel.API, text="x"
        ).number
        for i in range(3)
    )
    for number in (quiet, talking):
        service.reply(number, actor=AGENT, text="Try this")
    service.reply(done, actor=AGENT, text="Fixed", status=Status.RESOLVED)
    clock.advance(days=2)
    service.add_player_message_to(talking, text="Still broken", channel=Channel.API)
    service.reply(talking, actor=AGENT, text="And this?")
    clock.advance(days=1, hours=1)
    notice = lambda ticket: f"Closing #{ticket.number}: write again if it happens again."  # noqa: E731
    resolved, closed = service.auto_close(
        answered_after=timedelta(days=3), resolved_after=timedelta(days=7), notice=notice
    )
    assert (resolved, closed) == ([quiet], [])
    ticket = service.get(quiet)
    assert ticket.status is Status.RESOLVED
    [last] = service.messages(ticket).items[-1:]
    assert last.actor.id == "autoclose" and last.message is not None
    assert last.message.text == f"Closing #{quiet}: write again if it happens again."
    assert service.get(talking).status is Status.ANSWERED  # the player spoke two days ago
    clock.advance(days=7)
    resolved, closed = service.auto_close(
        answered_after=timedelta(days=3), resolved_after=timedelta(days=7)
    )
    assert (sorted(resolved), sorted(closed)) == ([talking], sorted([quiet, done]))
    assert service.get(done).status is Status.CLOSED
    # Nothing left to do: a second run changes nothing.
    assert service.auto_close(
        answered_after=timedelta(days=3), resolved_after=timedelta(days=7)
    ) == ([], [])


def test_message_pages_reach_past_long_runs_of_other_entries(service: TicketService) -> None:
    """Pages of messages are read in windows of the ticket's seq; hundreds of entries
    that are no messages (tags set and taken away) between two messages are skipped."""
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="first").number
    for i in range(150):
        service.tag(number, [f"t{i}"], actor=AGENT)
        service.untag(number, [f"t{i}"], actor=AGENT)
    for i in range(3):
        service.add_player_message(player=PLAYER, channel=Channel.API, text=f"later {i}")
    # No worker here: the request path has stored all but the last few dozen entries.
    assert service.store.history.find_one({"seq": 1, "is_message": True}) is not None
    ticket = service.get(number)
    page = service.messages(ticket, limit=2)
    assert [e.message.text for e in page.items] == ["later 1", "later 2"]
    rest = service.messages(ticket, before=page.before, limit=2)
    assert [e.message.text for e in rest.items] == ["first", "later 0"]
    assert rest.before is None
    everything = service.history(ticket, limit=1000)
    assert len(everything.items) == 304 and everything.before is None
