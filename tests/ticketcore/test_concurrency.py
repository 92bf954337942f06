"""Racing writers against the real embedded server lose nothing and keep history whole."""

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import AGENT, PLAYER
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService


def test_racing_follow_ups_are_all_kept_in_order(service: TicketService) -> None:
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="start").number
    texts = [f"message {i}" for i in range(80)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda t: service.add_player_message_to(number, text=t, channel=Channel.API), texts
            )
        )
    ticket = service.get(number)
    page = service.messages(ticket, limit=200)
    stored = [m.message.text for m in page.items if m.message]
    assert sorted(stored[1:]) == sorted(texts)
    assert ticket.message_count == 81
    assert [m.seq for m in page.items] == sorted({m.seq for m in page.items}), "one seq per action"


def test_racing_status_changes_leave_a_consistent_history(service: TicketService) -> None:
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="start").number
    moves = [Status.INPROGRESS, Status.PENDING, Status.WAITING, Status.ANSWERED] * 10

    def move(status: Status) -> None:
        service.set_status(number, status, actor=AGENT)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(move, moves))
    ticket = service.get(number)
    history = service.history(ticket, limit=500).items
    status = "new"
    for entry in history[1:]:
        for change in entry.changes:
            assert change.old == status, "every change starts where the previous one ended"
            status = change.new
    assert status == ticket.status.value
    assert [e.seq for e in history] == sorted(e.seq for e in history)


def test_racing_first_messages_from_different_players_get_distinct_numbers(
    service: TicketService,
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        tickets = list(
            pool.map(
                lambda i: service.add_player_message(
                    player=Player(player_id=f"r{i}"), channel=Channel.API, text="x"
                ),
                range(60),
            )
        )
    assert sorted(t.number for t in tickets) == list(range(1, 61))
