"""The fake Mailgun sending API, driven by plain httpx, and the inbound form builders."""

# ruff: noqa: RUF001 - Russian mail mixes Cyrillic and Latin letters on purpose

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.fakes.mail import (
    big_attachment_eml,
    fixture_names,
    html_to_text,
    load_fixture,
    mailgun_form,
    sign_mailgun,
)
from tests.fakes.mailgun import FakeMailgun, SentMail

KEY = "key-test"
SIGNING_KEY = "signing-key-0123456789"
SUPPORT = "Support <support@mg.example.com>"
PLAYER = "alex.rivera@example.com"
NOT_AN_ADDRESS = "'{}' parameter is not a valid address. please check documentation"
MAILGUN_ID = re.compile(r"<\d{14}\.\d+\.[0-9A-F]{16}@mg\.example\.com>")
BINARY = b"\x89PNG\r\n\x1a\n--not-a-boundary\r\n\r\n\x00\xff" * 40
ATTACHMENT_COUNTS = {"attachments.eml": 2, "big_attachment.eml": 1}
REPLIES = {
    "gmail_reply_en.eml": "Still no gems, I restarted twice.",
    "outlook_reply_en.eml": "The purchase still hasn't arrived.",
    "apple_mail_reply_ru.eml": "Всё ещё не могу войти в аккаунт.",
    "gmail_reply_ru.eml": "Награду за ивент «Осенний фестиваль» так и не получила",
}


@pytest.fixture
def fake() -> Iterator[FakeMailgun]:
    with FakeMailgun() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(auth=("api", KEY), timeout=10) as http_client:
        yield http_client


def send(
    client: httpx.Client, fake: FakeMailgun, fields: dict[str, Any] | None = None
) -> httpx.Response:
    """POST a message as the helpdesk would, to `{MAILGUN_API_URL}/v3/{domain}/messages`."""
    data = {"from": SUPPORT, "to": PLAYER, "subject": "Re: [#1001] Lost gems", "text": "Hi"}
    return client.post(f"{fake.url}/v3/{fake.domain}/messages", data=data | (fields or {}))


def statuses(fake: FakeMailgun) -> list[int]:
    return [call.status for call in fake.attempts(fake.endpoint)]


def expected_signature(data: dict[str, str]) -> str:
    base = f"{data['timestamp']}{data['token']}".encode()
    return hmac.new(SIGNING_KEY.encode(), base, hashlib.sha256).hexdigest()


# The fake sending API


def test_url_is_the_server_root_on_loopback(fake: FakeMailgun) -> None:
    assert fake.url.startswith("http://127.0.0.1:")
    assert fake.messages_url == f"{fake.url}/v3/mg.example.com/messages"


def test_a_multipart_send_is_recorded_with_headers_tags_variables_and_files(
    fake: FakeMailgun, client: httpx.Client
) -> None:
    data = {
        "from": SUPPORT,
        "to": f"Alex Rivera <{PLAYER}>",
        "subject": "Re: [#1001] Lost my gems after update",
        "text": "We restored 2,450 gems.",
        "html": "<p>We restored 2,450 gems.</p>",
        "o:tag": ["reply", "ticket-1001"],
        "o:tracking": "no",
        "h:Reply-To": "support@mg.example.com",
        "h:In-Reply-To": "<CAJ8xK2m@mail.gmail.com>",
        "h:References": "<CAJ8xK2m@mail.gmail.com>",
        "h:Message-Id": "<ticket-1001.65a1b2c3@mg.example.com>",
        "v:ticket": "1001",
    }
    files = [
        ("attachment", ("screenshot.png", BINARY, "image/png")),
        ("attachment", ("квитанция.txt", "оплачено".encode(), "text/plain")),
    ]

    response = client.post(fake.messages_url, data=data, files=files)

    assert response.status_code == 200
    assert response.json() == {
        "id": "<ticket-1001.65a1b2c3@mg.example.com>",
        "message": "Queued. Thank you.",
    }
    [mail] = fake.messages
    assert (mail.id, mail.sender, mail.to) == (
        "<ticket-1001.65a1b2c3@mg.example.com>",
        SUPPORT,
        [f"Alex Rivera <{PLAYER}>"],
    )
    assert mail.recipients == [PLAYER]
    assert (mail.subject, mail.text, mail.html) == (
        data["subject"],
        data["text"],
        data["html"],
    )
    assert mail.headers == {
        "Reply-To": "support@mg.example.com",
        "In-Reply-To": "<CAJ8xK2m@mail.gmail.com>",
        "References": "<CAJ8xK2m@mail.gmail.com>",
        "Message-Id": "<ticket-1001.65a1b2c3@mg.example.com>",
    }
    assert mail.tags == ["reply", "ticket-1001"]
    assert mail.variables == {"ticket": "1001"}
    assert mail.options == {"tracking": "no"}
    assert mail.attachments == [
        ("screenshot.png", "image/png", BINARY),
        ("квитанция.txt", "text/plain", "оплачено".encode()),
    ]
    assert mail.at <= time.monotonic()
    assert fake.calls_to(fake.endpoint)[0].params["o:tag"] == ["reply", "ticket-1001"]


def test_an_urlencoded_send_gets_a_mailgun_id(fake: FakeMailgun, client: httpx.Client) -> None:
    first = send(client, fake, {"o:tag": "reply"})
    second = send(client, fake, {"to": [PLAYER, "Second <second@example.org>"]})

    assert first.headers["Content-Type"].startswith("application/json")
    ids = [first.json()["id"], second.json()["id"]]
    assert all(MAILGUN_ID.fullmatch(message_id) for message_id in ids)
    assert ids[0] != ids[1]
    assert [mail.id for mail in fake.messages] == ids
    assert fake.messages[0].tags == ["reply"]
    assert fake.messages[0].attachments == []
    assert fake.messages[1].recipients == [PLAYER, "second@example.org"]


def test_message_with_id_finds_a_message_by_its_message_id_header(
    fake: FakeMailgun, client: httpx.Client
) -> None:
    send(client, fake, {"h:Message-Id": "<ticket-1001.a@mg.example.com>"})
    send(client, fake, {"h:Message-ID": "<ticket-1002.b@mg.example.com>"})

    found = fake.message_with_id("ticket-1002.b@mg.example.com")

    assert found is not None and found.to == [PLAYER]
    assert found.header("message-id") == "<ticket-1002.b@mg.example.com>"
    assert fake.message_with_id("<ticket-9999.z@mg.example.com>") is None


def test_messages_is_a_copy(fake: FakeMailgun, client: httpx.Client) -> None:
    send(client, fake, {"o:tag": "reply"})

    copied = fake.messages
    copied[0].tags.append("tampered")
    copied.clear()

    assert [mail.tags for mail in fake.messages] == [["reply"]]


@pytest.mark.parametrize("auth", [("api", "key-wrong"), ("someone", KEY), None])
def test_a_wrong_or_missing_key_is_forbidden_in_plain_text(
    fake: FakeMailgun, auth: tuple[str, str] | None
) -> None:
    data = {"from": SUPPORT, "to": PLAYER, "text": "Hi"}

    response = httpx.post(fake.messages_url, data=data, auth=auth)

    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Forbidden"
    assert fake.messages == []


def test_an_unknown_domain_is_not_found(fake: FakeMailgun, client: httpx.Client) -> None:
    response = client.post(
        f"{fake.url}/v3/other.example.com/messages",
        data={"from": SUPPORT, "to": PLAYER, "text": "Hi"},
    )

    assert response.status_code == 404
    assert response.json() == {"message": "Domain not found: other.example.com"}
    assert [call.status for call in fake.calls] == [404]


def test_other_paths_are_not_found(fake: FakeMailgun, client: httpx.Client) -> None:
    assert client.get(fake.messages_url).status_code == 404
    assert client.post(f"{fake.url}/v3/{fake.domain}/events").status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"to": ""}, "'to' parameter is missing"),
        ({"to": "alex.rivera"}, NOT_AN_ADDRESS.format("to")),
        ({"to": [PLAYER, "nobody"]}, NOT_AN_ADDRESS.format("to")),
        ({"from": ""}, "'from' parameter is missing"),
        ({"from": "Support"}, NOT_AN_ADDRESS.format("from")),
        ({"text": ""}, "Need at least one of 'text', 'html' or 'template' parameters specified"),
    ],
)
def test_a_message_without_a_valid_to_from_or_body_is_a_bad_request(
    fake: FakeMailgun, client: httpx.Client, fields: dict[str, Any], message: str
) -> None:
    response = send(client, fake, fields)

    assert response.status_code == 400
    assert response.json() == {"message": message}
    assert fake.messages == []


def test_html_alone_is_a_body(fake: FakeMailgun, client: httpx.Client) -> None:
    assert send(client, fake, {"text": "", "html": "<p>Hi</p>"}).status_code == 200
    assert fake.messages[0].text == "" and fake.messages[0].html == "<p>Hi</p>"


def test_fail_next_429_with_retry_after_then_success(
    fake: FakeMailgun, client: httpx.Client
) -> None:
    fake.fail_next(429, retry_after=2)

    refused = send(client, fake)
    accepted = send(client, fake)

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert refused.json() == {"message": "Too Many Requests"}
    assert accepted.status_code == 200
    assert statuses(fake) == [429, 200]
    assert len(fake.messages) == 1


@pytest.mark.parametrize("status", [400, 500, 502, 503])
def test_fail_next_gives_the_status_the_given_number_of_times(
    fake: FakeMailgun, client: httpx.Client, status: int
) -> None:
    fake.fail_next(status, times=2, message="try later")

    answers = [send(client, fake) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [status, status, 200]
    assert answers[0].json() == {"message": "try later"}
    assert "Retry-After" not in answers[0].headers
    assert len(fake.calls_to(fake.endpoint)) == 1


def test_fail_next_401_is_plain_text_like_a_wrong_key(
    fake: FakeMailgun, client: httpx.Client
) -> None:
    fake.fail_next(401)

    assert send(client, fake).text == "Forbidden"
    assert send(client, fake).status_code == 200


def test_an_outage_answers_500_until_it_ends(fake: FakeMailgun, client: httpx.Client) -> None:
    fake.down(60)

    during = send(client, fake)
    fake.down(None)
    after = send(client, fake)

    assert during.status_code == 500
    assert during.json() == {"message": "Internal Server Error"}
    assert after.status_code == 200
    assert statuses(fake) == [500, 200]


def test_an_outage_ends_by_itself(fake: FakeMailgun, client: httpx.Client) -> None:
    fake.down(0.2)

    assert send(client, fake).status_code == 500
    time.sleep(0.3)
    assert send(client, fake).status_code == 200


def test_rate_limit_refuses_sends_beyond_the_rate_then_lifts(
    fake: FakeMailgun, client: httpx.Client
) -> None:
    fake.rate_limit(2, retry_after=3)

    answers = [send(client, fake) for _ in range(3)]
    fake.rate_limit(None)
    lifted = send(client, fake)

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "3"
    assert lifted.status_code == 200
    assert len(fake.messages) == 3


def test_rate_limit_refuses_a_rate_that_is_not_positive(fake: FakeMailgun) -> None:
    with pytest.raises(ValueError, match="positive"):
        fake.rate_limit(0)


def test_a_slow_api_answers_late(fake: FakeMailgun, client: httpx.Client) -> None:
    fake.slow(fake.endpoint, 0.2)

    started = time.monotonic()
    response = send(client, fake)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


def test_concurrent_sends_are_all_recorded(fake: FakeMailgun) -> None:
    def worker(number: int) -> None:
        with httpx.Client(auth=("api", KEY)) as own:
            for index in range(5):
                send(own, fake, {"subject": f"{number}-{index}"})

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake.messages) == 20
    assert len({mail.id for mail in fake.messages}) == 20


def test_reset_forgets_messages_calls_and_faults(fake: FakeMailgun, client: httpx.Client) -> None:
    send(client, fake)
    fake.fail_next(500)
    fake.rate_limit(1)

    fake.reset()

    assert (fake.messages, fake.calls) == ([], [])
    assert [send(client, fake).status_code for _ in range(2)] == [200, 200]


def test_sent_mail_is_a_dataclass_of_the_request(fake: FakeMailgun, client: httpx.Client) -> None:
    send(client, fake)

    [mail] = fake.messages

    assert isinstance(mail, SentMail)
    assert mail.headers == {} and mail.variables == {} and mail.tags == []
    assert mail.header("Message-Id") is None


# Inbound builders


def test_sign_mailgun_signs_timestamp_and_token() -> None:
    signed = sign_mailgun(SIGNING_KEY, timestamp=1795772464, token="a" * 50)

    assert signed["timestamp"] == "1795772464"
    assert signed["token"] == "a" * 50
    assert signed["signature"] == expected_signature(signed)


def test_sign_mailgun_makes_a_fresh_token_and_timestamp() -> None:
    first, second = sign_mailgun(SIGNING_KEY), sign_mailgun(SIGNING_KEY)

    assert re.fullmatch(r"[0-9a-f]{50}", first["token"])
    assert first["token"] != second["token"]
    assert abs(int(first["timestamp"]) - time.time()) < 5
    assert first["signature"] == expected_signature(first)


def test_there_are_the_fixtures_the_inbound_tests_rely_on() -> None:
    assert len(fixture_names()) >= 13
    assert {"gmail_new_en.eml", "bounce.eml", "big_attachment.eml"} <= set(fixture_names())


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_is_well_formed_mime(name: str) -> None:
    message = message_from_bytes(load_fixture(name), policy=policy.default)

    assert [part.defects for part in message.walk() if part.defects] == []
    problems = [key for key, value in message.items() if getattr(value, "defects", ())]
    assert problems == []
    for required in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert message[required], required


@pytest.mark.parametrize("name", fixture_names())
def test_mailgun_form_of_every_fixture(name: str) -> None:
    raw = load_fixture(name)
    message = message_from_bytes(raw, policy=policy.default)

    data, files = mailgun_form(raw, signing_key=SIGNING_KEY)

    assert data["signature"] == expected_signature(data)
    assert data["recipient"] == "support@mg.example.com"
    assert data["subject"] == str(message["Subject"])
    assert data["from"] == str(message["From"])
    assert all(isinstance(value, str) for value in data.values())
    headers = json.loads(data["message-headers"])
    assert all(len(pair) == 2 for pair in headers)
    # Mailgun's verdicts on top, then the mail's own headers as they came.
    assert [pair[0] for pair in headers] == [
        "X-Mailgun-Spf",
        "X-Mailgun-Dkim-Check-Result",
        *message.keys(),
    ]
    assert (data["X-Mailgun-Spf"], data["X-Mailgun-Dkim-Check-Result"]) == ("Pass", "Pass")
    message_ids = [value for header, value in headers if header.lower() == "message-id"]
    assert message_ids == [str(message["Message-ID"]).strip()]
    count = ATTACHMENT_COUNTS.get(name, 0)
    assert int(data.get("attachment-count", "0")) == count == len(files)
    assert [field for field, _ in files] == [f"attachment-{n}" for n in range(1, count + 1)]
    assert data["body-plain"].strip()


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_stripped_text_of_replies_has_no_quoted_history(name: str) -> None:
    data, _ = mailgun_form(load_fixture(name), signing_key=SIGNING_KEY)

    stripped = data["stripped-text"]
    assert REPLIES[name] in stripped
    assert REPLIES[name] in data["body-plain"]
    assert not [line for line in stripped.splitlines() if line.startswith(">")]
    assert "Support <support@mg.example.com>" in data["body-plain"]  # the history is there
    assert "Support team" not in stripped and "Команда поддержки" not in stripped


def test_stripped_text_drops_the_gmail_attribution_and_signature() -> None:
    data, _ = mailgun_form(load_fixture("gmail_reply_en.eml"), signing_key=SIGNING_KEY)

    assert data["stripped-text"] == "Still no gems, I restarted twice."
    assert data["stripped-signature"] == "-- \nAlex Rivera\nPlayer ID 48213377 | EU-3"


def test_stripped_text_drops_the_outlook_quoted_block() -> None:
    data, _ = mailgun_form(load_fixture("outlook_reply_en.eml"), signing_key=SIGNING_KEY)

    assert "From: Support" not in data["stripped-text"]
    assert "______" not in data["stripped-text"]
    assert data["stripped-text"].endswith("Kind regards,\nMaria Lopez")
    assert "stripped-signature" not in data


def test_email_reply_parser_keeps_a_russian_gmail_attribution() -> None:
    """It only knows English attributions: the line above the quote stays in stripped-text."""
    data, _ = mailgun_form(load_fixture("gmail_reply_ru.eml"), signing_key=SIGNING_KEY)

    assert data["stripped-text"].endswith(
        "пт, 27 нояб. 2026 г. в 10:02, Support <support@mg.example.com>:"
    )


def test_without_stripped_there_is_no_stripped_text() -> None:
    raw = load_fixture("gmail_reply_en.eml")

    data, _ = mailgun_form(raw, signing_key=SIGNING_KEY, with_stripped=False)

    assert "stripped-text" not in data and "stripped-signature" not in data


def test_mailgun_form_takes_timestamp_token_and_recipient() -> None:
    data, _ = mailgun_form(
        load_fixture("gmail_new_en.eml"),
        signing_key=SIGNING_KEY,
        recipient="help@mg.example.com",
        timestamp=1795772465,
        token="b" * 50,
    )

    assert (data["recipient"], data["timestamp"], data["token"]) == (
        "help@mg.example.com",
        "1795772465",
        "b" * 50,
    )
    assert data["signature"] == expected_signature(data)


def test_new_gmail_mail_has_no_threading_headers() -> None:
    data, _ = mailgun_form(load_fixture("gmail_new_en.eml"), signing_key=SIGNING_KEY)

    names = {name.lower() for name, _ in json.loads(data["message-headers"])}
    assert "in-reply-to" not in names and "references" not in names
    assert data["subject"] == "Lost my gems after update"
    assert data["sender"] == PLAYER
    assert data["body-html"].startswith('<div dir="ltr">')


def test_threading_headers_of_the_replies() -> None:
    def headers(name: str) -> dict[str, str]:
        data, _ = mailgun_form(load_fixture(name), signing_key=SIGNING_KEY)
        return dict(json.loads(data["message-headers"]))

    ticket_1001 = "<ticket-1001.65a1b2c3d4e5f60718293a4b@mg.example.com>"
    assert headers("gmail_reply_en.eml")["In-Reply-To"] == ticket_1001
    assert headers("gmail_reply_en.eml")["References"] == ticket_1001
    outlook = headers("outlook_reply_en.eml")["References"].split()
    assert outlook[1] == "<ticket-1002.65a1b2c3d4e5f60718293a4c@mg.example.com>"
    assert len(outlook) == 2
    apple = headers("apple_mail_reply_ru.eml")
    assert apple["In-Reply-To"] == "<ticket-1003.65a1b2c3d4e5f60718293a4d@mg.example.com>"
    assert headers("auto_reply.eml")["In-Reply-To"] == ticket_1001


def test_russian_fields_are_decoded() -> None:
    data, _ = mailgun_form(load_fixture("apple_mail_reply_ru.eml"), signing_key=SIGNING_KEY)

    assert data["subject"] == "Re: [#1003] Не могу войти в аккаунт"
    assert data["from"] == "Алексей Смирнов <alexey.smirnov@example.org>"
    assert "аккаунт" in data["stripped-text"]
    assert '<blockquote type="cite">' in data["body-html"]


def test_html_only_mail_gets_a_plain_body_without_the_script() -> None:
    data, _ = mailgun_form(load_fixture("html_only.eml"), signing_key=SIGNING_KEY)

    assert "<script>" in data["body-html"] and "onerror=alert(1)" in data["body-html"]
    assert "onclick=" in data["body-html"]
    plain = data["body-plain"]
    assert "* Town hall level 9\n* About 1,200 gems" in plain
    assert "document.cookie" not in plain and "alert" not in plain
    assert "Please help me get it back." in data["stripped-text"]


def test_html_to_text_keeps_words_apart() -> None:
    assert html_to_text("<b>a</b> <i>b</i><p>x&amp;y</p><style>p{}</style>") == "a b\n\nx&y\n"


def test_auto_reply_bulk_and_bounce_carry_their_markers() -> None:
    def form(name: str) -> tuple[dict[str, str], dict[str, str]]:
        data, _ = mailgun_form(load_fixture(name), signing_key=SIGNING_KEY)
        return data, dict(json.loads(data["message-headers"]))

    auto, auto_headers = form("auto_reply.eml")
    assert auto_headers["Auto-Submitted"] == "auto-replied"
    assert auto_headers["X-Autoreply"] == "yes"
    assert auto["subject"] == "Automatic reply: [#1001] Lost my gems after update"
    _, bulk_headers = form("bulk_precedence.eml")
    assert bulk_headers["Precedence"] == "bulk"
    assert "List-Unsubscribe" in bulk_headers
    bounce, bounce_headers = form("bounce.eml")
    assert bounce["sender"] == ""
    assert bounce_headers["Return-Path"] == "<>"
    assert bounce["from"].startswith("MAILER-DAEMON@mx.example.net")
    assert bounce_headers["Content-Type"].startswith("multipart/report;")
    assert "delivery-status" in bounce_headers["Content-Type"]


def test_attachments_are_files_httpx_can_post() -> None:
    data, files = mailgun_form(load_fixture("attachments.eml"), signing_key=SIGNING_KEY)

    (png_field, (png_name, png, png_type)), (_, (pdf_name, pdf, pdf_type)) = files
    assert png_field == "attachment-1"
    assert (png_name, png_type) == ("Screenshot_20261127-154101.png", "image/png")
    assert (pdf_name, pdf_type) == ("receipt_GPA.3318-7750-2217-40981.pdf", "application/pdf")
    assert_valid_png(png)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert data["subject"] == "Screenshot of the error"


def assert_valid_png(png: bytes) -> None:
    """Signature, chunk CRCs and pixel data all check out."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    offset, kinds, pixels = 8, [], b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        body = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body)
        kinds.append(kind)
        pixels += body if kind == b"IDAT" else b""
        offset += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height = struct.unpack(">II", png[16:24])
    assert len(zlib.decompress(pixels)) == height * (1 + 3 * width)


def test_an_inline_signature_logo_is_not_an_attachment() -> None:
    data, files = mailgun_form(load_fixture("inline_image_signature.eml"), signing_key=SIGNING_KEY)

    assert files == [] and "attachment-count" not in data
    assert 'src="cid:image001.png@01DB5F2A.7C3E1B40"' in data["body-html"]
    assert data["from"] == "Tomás Herrera <tomas.herrera@example.com>"


def test_a_subject_reference_without_threading_headers() -> None:
    data, _ = mailgun_form(load_fixture("subject_ref_only.eml"), signing_key=SIGNING_KEY)

    names = {name.lower() for name, _ in json.loads(data["message-headers"])}
    assert "[#1004]" in data["subject"]
    assert "in-reply-to" not in names and "references" not in names


def test_the_big_attachment_is_generated_the_same_every_time() -> None:
    raw = load_fixture("big_attachment.eml")

    _, [(field, (filename, content, content_type))] = mailgun_form(raw, signing_key=SIGNING_KEY)

    assert raw == big_attachment_eml()
    assert 3_000_000 < len(raw) < 5_000_000
    assert (field, filename, content_type) == (
        "attachment-1",
        "screen_recording_20261127.mp4",
        "video/mp4",
    )
    assert len(content) == 3 * 1024 * 1024
    assert content[4:8] == b"ftyp"
    assert (
        hashlib.sha256(content).hexdigest()
        == hashlib.sha256(
            mailgun_form(big_attachment_eml(), signing_key="other")[1][0][1][1]
        ).hexdigest()
    )
    assert len(mailgun_form(big_attachment_eml(1000), signing_key="k")[1][0][1][1]) == 1000


def echo_app() -> Starlette:
    """An app that answers with the form fields and file sizes it received."""

    async def inbound(request: Request) -> JSONResponse:
        async with request.form() as form:
            fields: dict[str, object] = {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                else:
                    content = await value.read()
                    fields[key] = [value.filename, value.content_type, len(content)]
            return JSONResponse({"type": request.headers["content-type"], "fields": fields})

    return Starlette(routes=[Route("/mail/inbound", inbound, methods=["POST"])])


@pytest.mark.parametrize("name", ["attachments.eml", "gmail_reply_ru.eml"])
def test_the_form_posts_through_starlettes_test_client(name: str) -> None:
    data, files = mailgun_form(load_fixture(name), signing_key=SIGNING_KEY)

    with TestClient(echo_app()) as test_client:
        answer = test_client.post("/mail/inbound", data=data, files=files).json()

    expected_type = "multipart/form-data" if files else "application/x-www-form-urlencoded"
    assert answer["type"].startswith(expected_type)
    received = answer["fields"]
    assert {key: received[key] for key in data} == data
    for field, (filename, content, content_type) in files:
        assert received[field] == [filename, content_type, len(content)]
