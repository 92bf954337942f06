"""One player, many channels: the game's id, a mail address and a Telegram user are one
player, and their tickets from every channel are found together."""

from __future__ import annotations

from jobs.runtime import Runtime
from tests.conftest import AGENT, run_jobs
from ticketcore.models import Channel, Player


def test_a_players_tickets_from_every_channel_are_one_history(runtime: Runtime) -> None:
    service = runtime.service
    # The game opens a ticket knowing both the id and the address: the directory links them.
    from_game = service.open_ticket(
        player=Player(player_id="p-7", email="ann@example.com"), channel=Channel.API, text="a"
    ).number
    run_jobs(runtime.queue)
    # Mail from the address before anything else was known, and a Telegram user...
    by_mail = service.open_ticket(
        player=Player(email="ann@example.com"), channel=Channel.EMAIL, text="b"
    ).number
    by_telegram = service.open_ticket(
        player=Player(telegram_user_id=42), channel=Channel.TELEGRAM, text="c"
    ).number
    # ... whom the game later vouches for (a deep link): the same player.
    service.bind_player_id(42, "p-7", actor=AGENT)
    stranger = service.open_ticket(
        player=Player(player_id="p-8"), channel=Channel.API, text="d"
    ).number
    run_jobs(runtime.queue)

    from_the_game = service.player_tickets(Player(player_id="p-7"))
    from_the_mail = service.player_tickets(service.get(by_mail).player)

    everything = [by_telegram, by_mail, from_game]  # newest first
    assert [t.number for t in from_the_game] == everything
    assert [t.number for t in from_the_mail] == everything
    assert stranger not in [t.number for t in from_the_game]
    assert [t.number for t in service.player_tickets(Player(player_id="p-7"), limit=2)] == [
        by_telegram,
        by_mail,
    ]
