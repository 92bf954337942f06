"""The fake Telegram Bot API, driven by the real python-telegram-bot."""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

from tests.fakes.telegram import (
    FakeTelegram,
    callback_update,
    channel_post_update,
    command_update,
    document_update,
    edited_text_update,
    group_text_update,
    photo_update,
    text_update,
    video_update,
    voice_update,
)

T = TypeVar("T")
PLAYER = 4242
OTHER_PLAYER = 4343
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Solved", callback_data="solved:7")]])
BINARY = b"\x89PNG\r\n--not-a-boundary\r\n\x00\xff" * 50


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to timedelta time periods, so PTB does not warn when they are read."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    """A real PTB Bot pointed at the fake."""
    return Bot(
        token or fake.token, base_url=fake.url + "/bot", base_file_url=fake.url + "/file/bot"
    )


def with_bot(fake: FakeTelegram, scenario: Callable[[Bot], Awaitable[T]]) -> T:
    """Run `scenario` with an initialized Bot, shut down afterwards whatever happens."""

    async def main() -> T:
        async with make_bot(fake) as bot:
            return await scenario(bot)

    return asyncio.run(main())


def seconds(period: int | float | timedelta) -> float:
    """A time period PTB hands out, in seconds."""
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


def send(chat_id: int, text: str) -> Callable[[Bot], Awaitable[Any]]:
    """A scenario sending one text message."""
    return lambda bot: bot.send_message(chat_id, text)


def test_url_is_the_server_root_on_loopback(fake: FakeTelegram) -> None:
    assert fake.url.startswith("http://127.0.0.1:")
    assert not fake.url.endswith("/")


def test_get_me_describes_the_bot(fake: FakeTelegram) -> None:
    me = with_bot(fake, lambda bot: bot.get_me())

    assert (me.id, me.is_bot, me.username) == (123456, True, "helpdesk_test_bot")
    assert me.can_join_groups is True
    assert me.supports_inline_queries is False


def test_another_token_is_unauthorized(fake: FakeTelegram) -> None:
    async def main() -> None:
        async with make_bot(fake, token="999:WRONG"):
            pass

    with pytest.raises(InvalidToken):
        asyncio.run(main())

    assert [call.status for call in fake.attempts("getMe")] == [401]


def test_send_message_lands_in_sent_to_with_its_keyboard(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> list[Any]:
        first = await bot.send_message(
            PLAYER, "<b>Hi</b>", parse_mode="HTML", reply_markup=KEYBOARD
        )
        second = await bot.send_message(PLAYER, "again", disable_notification=True)
        return [first, second]

    first, second = with_bot(fake, scenario)

    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == PLAYER and first.chat.type == "private"
    assert first.reply_markup == KEYBOARD
    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["<b>Hi</b>", "again"]
    assert fake.sent_to(PLAYER)[0]["reply_markup"] == KEYBOARD.to_dict()
    params = [call.params for call in fake.calls_to("sendMessage")]
    assert params[0]["chat_id"] == PLAYER and params[0]["parse_mode"] == "HTML"
    assert params[1]["disable_notification"] is True


def test_a_reply_points_at_the_replied_message(fake: FakeTelegram) -> None:
    reply = with_bot(fake, lambda bot: bot.send_message(PLAYER, "answer", reply_to_message_id=7))

    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == 7
    assert fake.calls_to("sendMessage")[0].params["reply_parameters"]["message_id"] == 7


def test_a_text_over_4096_characters_is_refused(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        with_bot(fake, send(PLAYER, "x" * 5000))

    assert fake.sent_to(PLAYER) == []
    assert [call.status for call in fake.attempts("sendMessage")] == [400]


def test_an_empty_text_is_refused(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        with_bot(fake, send(PLAYER, "   "))


def test_rate_limit_refuses_a_second_quick_message_to_the_same_chat(fake: FakeTelegram) -> None:
    fake.rate_limit(30, 1)

    async def scenario(bot: Bot) -> RetryAfter:
        await bot.send_message(PLAYER, "one")
        await bot.send_message(OTHER_PLAYER, "another chat is fine")
        with pytest.raises(RetryAfter) as excinfo:
            await bot.send_message(PLAYER, "two")
        return excinfo.value

    refused = with_bot(fake, scenario)

    assert seconds(refused.retry_after) == 1
    [throttled] = [call for call in fake.attempts("sendMessage") if call.status == 429]
    assert throttled.answer["parameters"] == {"retry_after": 1}
    assert throttled.answer["description"] == "Too Many Requests: retry after 1"


def test_rate_limit_overall_and_lifting_it(fake: FakeTelegram) -> None:
    fake.rate_limit(2, None, retry_after=4)

    async def scenario(bot: Bot) -> RetryAfter:
        await bot.send_message(1, "a")
        await bot.send_message(2, "b")
        with pytest.raises(RetryAfter) as excinfo:
            await bot.send_message(3, "c")
        fake.rate_limit(None, None)
        await bot.send_message(3, "c")
        return excinfo.value

    assert seconds(with_bot(fake, scenario).retry_after) == 4
    assert [m["text"] for m in fake.sent_to(3)] == ["c"]


def test_the_rate_limiter_waits_out_a_429_and_retries(fake: FakeTelegram) -> None:
    fake.rate_limit(30, 1)

    async def main() -> float:
        app = (
            Application.builder()
            .token(fake.token)
            .base_url(fake.url + "/bot")
            .base_file_url(fake.url + "/file/bot")
            .rate_limiter(AIORateLimiter(max_retries=1))
            .build()
        )
        async with app:
            await app.bot.send_message(PLAYER, "one")
            started = time.monotonic()
            await app.bot.send_message(PLAYER, "two")
            return time.monotonic() - started

    waited = asyncio.run(main())

    assert waited >= 1
    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["one", "two"]
    assert [call.status for call in fake.attempts("sendMessage")] == [200, 429, 200]


def test_a_blocked_player_gives_forbidden_until_unblocked(fake: FakeTelegram) -> None:
    fake.block(PLAYER)

    with pytest.raises(Forbidden, match="Forbidden: bot was blocked by the user"):
        with_bot(fake, send(PLAYER, "hello?"))

    fake.unblock(PLAYER)
    with_bot(fake, send(PLAYER, "hello again"))
    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["hello again"]


def test_fail_next_fails_then_works(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", times=2)

    async def scenario(bot: Bot) -> list[TelegramError]:
        errors = []
        for _ in range(2):
            with pytest.raises(TelegramError) as excinfo:
                await bot.send_message(PLAYER, "try")
            errors.append(excinfo.value)
        await bot.send_message(PLAYER, "try")
        return errors

    errors = with_bot(fake, scenario)

    assert all(isinstance(error, NetworkError) for error in errors)
    assert [call.status for call in fake.attempts("sendMessage")] == [500, 500, 200]
    assert len(fake.calls_to("sendMessage")) == 1


def test_fail_next_with_retry_after_is_a_flood_error(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", retry_after=3)

    with pytest.raises(RetryAfter) as excinfo:
        with_bot(fake, send(PLAYER, "hi"))

    assert seconds(excinfo.value.retry_after) == 3


def test_down_answers_500_until_it_ends(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> None:
        fake.down(30)
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(PLAYER, "lost")
        fake.down(None)
        await bot.send_message(PLAYER, "back")

    with_bot(fake, scenario)

    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["back"]


def test_get_file_then_download_returns_the_registered_bytes(fake: FakeTelegram) -> None:
    fake.add_file("player-photo", BINARY, file_path="photos/file_1.jpg")

    async def scenario(bot: Bot) -> tuple[Any, bytearray]:
        file = await bot.get_file("player-photo")
        return file, await file.download_as_bytearray()

    file, content = with_bot(fake, scenario)

    assert bytes(content) == BINARY
    assert file.file_size == len(BINARY)
    assert file.file_path == f"{fake.url}/file/bot{fake.token}/photos/file_1.jpg"


def test_get_file_of_an_unknown_id_is_refused(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Invalid file_id"):
        with_bot(fake, lambda bot: bot.get_file("nope"))


def test_uploaded_photo_and_document_round_trip(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> tuple[Any, Any, bytearray]:
        photo = await bot.send_photo(PLAYER, BINARY, caption="screenshot")
        document = await bot.send_document(PLAYER, BINARY, filename="log.txt")
        file = await bot.get_file(photo.photo[-1].file_id)
        return photo, document, await file.download_as_bytearray()

    photo, document, downloaded = with_bot(fake, scenario)

    assert photo.caption == "screenshot"
    assert [size.width for size in photo.photo] == [90, 320, 800]
    assert bytes(downloaded) == BINARY
    assert (document.document.file_name, document.document.mime_type) == ("log.txt", "text/plain")
    assert document.document.file_size == len(BINARY)
    upload = fake.calls_to("sendDocument")[0].params["document"]
    assert upload.content == BINARY
    assert len(fake.sent_to(PLAYER)) == 2


def test_a_photo_sent_by_file_id_needs_no_upload(fake: FakeTelegram) -> None:
    photo = with_bot(fake, lambda bot: bot.send_photo(PLAYER, "AgAC-known-id"))

    assert photo.photo[-1].file_id == "AgAC-known-id"
    assert fake.calls_to("sendPhoto")[0].params["photo"] == "AgAC-known-id"


def test_set_webhook_is_recorded_and_blocks_get_updates(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> Any:
        await bot.set_webhook(
            "https://helpdesk.example/telegram",
            secret_token="s3cret_token",
            allowed_updates=["message", "callback_query"],
            drop_pending_updates=True,
        )
        info = await bot.get_webhook_info()
        with pytest.raises(Conflict):
            await bot.get_updates()
        await bot.delete_webhook()
        return info

    info = with_bot(fake, scenario)

    assert info.url == "https://helpdesk.example/telegram"
    assert info.has_custom_certificate is False
    assert info.pending_update_count == 0
    assert fake.calls_to("setWebhook")[0].params["secret_token"] == "s3cret_token"
    assert fake.webhook == {}


def test_set_webhook_keeps_the_webhook(fake: FakeTelegram) -> None:
    url = "https://helpdesk.example/telegram"
    with_bot(fake, lambda bot: bot.set_webhook(url, secret_token="abc-123"))

    assert fake.webhook == {"url": url, "secret_token": "abc-123"}


def test_a_secret_token_with_bad_characters_is_refused(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Secret token contains unallowed characters"):
        with_bot(fake, lambda bot: bot.set_webhook("https://x.example", secret_token="no spaces"))


def test_get_updates_returns_pushed_updates_and_confirms_them(fake: FakeTelegram) -> None:
    pushed = text_update(user_id=PLAYER, text="my account is locked")
    fake.push_update(pushed)

    async def scenario(bot: Bot) -> tuple[Any, Any]:
        updates = await bot.get_updates(timeout=1)
        after = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
        return updates, after

    updates, after = with_bot(fake, scenario)

    [update] = updates
    assert isinstance(update, Update)
    assert update.update_id == pushed["update_id"]
    assert update.message is not None and update.message.text == "my account is locked"
    assert update.effective_user is not None and update.effective_user.id == PLAYER
    assert after == ()
    assert fake.pending_updates == []


def test_a_long_poll_wakes_when_an_update_arrives(fake: FakeTelegram) -> None:
    pusher = threading.Timer(0.2, fake.push_update, [text_update(user_id=PLAYER, text="hi")])

    async def scenario(bot: Bot) -> tuple[Any, float]:
        pusher.start()
        started = time.monotonic()
        updates = await bot.get_updates(timeout=30)
        return updates, time.monotonic() - started

    try:
        updates, waited = with_bot(fake, scenario)
    finally:
        pusher.join()

    assert len(updates) == 1
    assert 0.1 < waited < 1


def test_an_empty_long_poll_ends_after_the_cap(fake: FakeTelegram) -> None:
    fake.max_poll_wait = 0.2

    async def scenario(bot: Bot) -> tuple[Any, float]:
        started = time.monotonic()
        updates = await bot.get_updates(timeout=30)
        return updates, time.monotonic() - started

    updates, waited = with_bot(fake, scenario)

    assert updates == ()
    assert 0.15 < waited < 1
    assert fake.calls_to("getUpdates")[0].params["timeout"] == 30


def test_answer_callback_query_and_edit_reply_markup(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> Any:
        sent = await bot.send_message(PLAYER, "Was this helpful?", reply_markup=KEYBOARD)
        pressed = callback_update(user_id=PLAYER, data="solved:7", message_id=sent.message_id)
        query = Update.de_json(pressed, bot).callback_query
        assert query is not None
        assert await bot.answer_callback_query(query.id, text="Thanks!") is True
        return await bot.edit_message_reply_markup(PLAYER, sent.message_id, reply_markup=None)

    edited = with_bot(fake, scenario)

    assert edited.reply_markup is None
    assert "reply_markup" not in fake.sent_to(PLAYER)[0]
    assert fake.calls_to("answerCallbackQuery")[0].params["text"] == "Thanks!"


def test_edit_message_text_replaces_the_text(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> Any:
        sent = await bot.send_message(PLAYER, "Ticket #7 is open")
        return await bot.edit_message_text("Ticket #7 is closed", PLAYER, sent.message_id)

    edited = with_bot(fake, scenario)

    assert edited.text == "Ticket #7 is closed"
    assert edited.edit_date is not None
    assert fake.sent_to(PLAYER)[0]["text"] == "Ticket #7 is closed"


def test_editing_an_unknown_message_is_refused(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message to edit not found"):
        with_bot(fake, lambda bot: bot.edit_message_reply_markup(PLAYER, 99, reply_markup=KEYBOARD))


def test_an_edit_that_changes_nothing_is_refused(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> None:
        sent = await bot.send_message(PLAYER, "same", reply_markup=KEYBOARD)
        await bot.edit_message_reply_markup(PLAYER, sent.message_id, reply_markup=KEYBOARD)

    with pytest.raises(BadRequest, match="Message is not modified"):
        with_bot(fake, scenario)


def test_commands_are_stored_per_scope(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> Any:
        await bot.set_my_commands([BotCommand("start", "Open a ticket")])
        return await bot.get_my_commands()

    [command] = with_bot(fake, scenario)

    assert (command.command, command.description) == ("start", "Open a ticket")


def test_an_unknown_method_is_404(fake: FakeTelegram) -> None:
    with pytest.raises(EndPointNotFound):
        with_bot(fake, lambda bot: bot.do_api_request("sendTelepathy"))

    assert fake.attempts("sendTelepathy")[0].answer["description"] == "Not Found: method not found"


def test_reset_forgets_calls_state_and_faults(fake: FakeTelegram) -> None:
    with_bot(fake, send(PLAYER, "before"))
    fake.block(PLAYER)

    fake.reset()
    with_bot(fake, send(PLAYER, "after"))

    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["after"]
    assert [call.method for call in fake.calls] == ["getMe", "sendMessage"]


def test_updater_polling_feeds_an_application_handler(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"got: {update.message.text}")

    async def main() -> None:
        app = (
            Application.builder()
            .token(fake.token)
            .base_url(fake.url + "/bot")
            .base_file_url(fake.url + "/file/bot")
            .build()
        )
        app.add_handler(MessageHandler(filters.TEXT, echo))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            fake.push_update(text_update(user_id=PLAYER, text="help"))
            deadline = time.monotonic() + 3
            while not fake.sent_to(PLAYER) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await app.updater.stop()
            await app.stop()

    asyncio.run(main())

    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["got: help"]


BUILDERS: list[tuple[str, dict[str, Any], str, str]] = [
    ("text", text_update(user_id=PLAYER, text="hello"), "message", "text"),
    ("command", command_update(user_id=PLAYER, args="ref-42"), "message", "text"),
    (
        "photo",
        photo_update(user_id=PLAYER, file_id="P1", file_unique_id="UP1", file_size=9000),
        "message",
        "photo",
    ),
    (
        "document",
        document_update(
            user_id=PLAYER, file_id="D1", file_name="crash.log", mime_type="text/plain", file_size=5
        ),
        "message",
        "document",
    ),
    ("voice", voice_update(user_id=PLAYER, file_id="V1"), "message", "voice"),
    ("video", video_update(user_id=PLAYER, file_id="VI1", caption="bug"), "message", "video"),
    (
        "edited",
        edited_text_update(user_id=PLAYER, message_id=3, text="fixed typo"),
        "edited_message",
        "text",
    ),
    ("callback", callback_update(user_id=PLAYER, data="x", message_id=5), "callback_query", "data"),
    ("group", group_text_update(user_id=PLAYER, text="hi all"), "message", "text"),
    ("channel", channel_post_update(text="Patch notes"), "channel_post", "text"),
]


@pytest.mark.parametrize(
    ("data", "kind", "content"),
    [builder[1:] for builder in BUILDERS],
    ids=[builder[0] for builder in BUILDERS],
)
def test_every_builder_parses_into_the_expected_update(
    fake: FakeTelegram, data: dict[str, Any], kind: str, content: str
) -> None:
    async def scenario(bot: Bot) -> Update:
        return Update.de_json(data, bot)

    update = with_bot(fake, scenario)

    assert update.update_id == data["update_id"]
    parsed = getattr(update, kind)
    assert parsed is not None
    assert getattr(parsed, content)
    assert update.api_kwargs == {} and parsed.api_kwargs == {}


def test_builder_details(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> list[Update]:
        builders = [
            command_update(user_id=PLAYER, command="/start", args="ref-42"),
            photo_update(user_id=PLAYER, file_id="P1", file_unique_id="UP1", file_size=9000),
            group_text_update(user_id=PLAYER, text="hi all"),
            edited_text_update(user_id=PLAYER, message_id=3, text="fixed"),
            callback_update(user_id=PLAYER, data="solved:7", message_id=5),
        ]
        return [Update.de_json(data, bot) for data in builders]

    command, photo, group, edited, callback = with_bot(fake, scenario)

    assert command.message is not None and command.message.text == "/start ref-42"
    assert command.message.parse_entities() == {command.message.entities[0]: "/start"}
    assert photo.message is not None
    assert [size.file_size for size in photo.message.photo] == sorted(
        size.file_size for size in photo.message.photo
    )
    assert photo.message.photo[-1].file_id == "P1"
    assert group.effective_chat is not None and group.effective_chat.type == "group"
    assert edited.edited_message is not None and edited.edited_message.edit_date is not None
    query = callback.callback_query
    assert query is not None and query.message is not None
    assert query.message.message_id == 5
    assert query.from_user.id == PLAYER and query.chat_instance


def test_json_and_query_string_requests_are_understood(fake: FakeTelegram) -> None:
    markup = KEYBOARD.to_dict()
    with httpx.Client(base_url=f"{fake.url}/bot{fake.token}") as client:
        as_json = client.post(
            "/sendMessage", json={"chat_id": PLAYER, "text": "1", "reply_markup": markup}
        )
        as_query = client.get("/sendMessage", params={"chat_id": str(PLAYER), "text": "2"})
        wrong_token = client.post(f"{fake.url}/bot1:nope/getMe")

    assert as_json.json()["result"]["reply_markup"] == markup
    assert as_query.json()["result"]["text"] == "2"
    assert wrong_token.status_code == 401
    assert wrong_token.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert [m["text"] for m in fake.sent_to(PLAYER)] == ["1", "2"]
