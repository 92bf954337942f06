"""Builders of what Mailgun's inbound "forward" route POSTs, made from raw RFC 5322 mail.

Raw mail lives in `tests/fixtures/mail/*.eml`. The one big fixture, `big_attachment.eml`, is
not stored: `big_attachment_eml()` builds it on demand (the same bytes every time) and
`load_fixture("big_attachment.eml")` returns it, so the repository stays small.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parseaddr
from html.parser import HTMLParser
from pathlib import Path
from typing import cast

from email_reply_parser import EmailReplyParser

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
SUPPORT_ADDRESS = "support@mg.example.com"
TOKEN_HEX_CHARS = 50
BIG_ATTACHMENT_BYTES = 3 * 1024 * 1024
BASE64_LINE = 76
OUTLOOK_RULE = re.compile(r"_{7,}\s*$")  # the rule above a quoted Outlook message

FormData = dict[str, str]
FormFiles = list[tuple[str, tuple[str, bytes, str]]]


def sign_mailgun(
    signing_key: str, timestamp: int | None = None, token: str | None = None
) -> dict[str, str]:
    """The `timestamp`, `token` and `signature` fields Mailgun signs every webhook with."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(TOKEN_HEX_CHARS // 2) if token is None else token
    digest = hmac.new(signing_key.encode(), f"{stamp}{nonce}".encode(), hashlib.sha256)
    return {"timestamp": stamp, "token": nonce, "signature": digest.hexdigest()}


def mailgun_form(
    raw: bytes,
    *,
    signing_key: str,
    recipient: str = SUPPORT_ADDRESS,
    timestamp: int | None = None,
    token: str | None = None,
    with_stripped: bool = True,
    spf: str | None = "Pass",
    dkim: str | None = "Pass",
) -> tuple[FormData, FormFiles]:
    """What the forward route POSTs for `raw`: form fields and `attachment-N` file parts.

    Pass both to `client.post(url, data=data, files=files)` (httpx or Starlette's TestClient):
    with no attachment `files` is empty and the body is urlencoded, as Mailgun sends it.
    `stripped-text` comes from email_reply_parser, which knows only English attribution
    lines ("On ... wrote:"): another language's attribution stays in it, quoted lines do not.
    `spf` and `dkim` are the verdicts Mailgun adds on top of the headers and posts as fields
    (its spam filter set to mark); None leaves one out.
    """
    message = message_from_bytes(raw, policy=policy.default)
    plain, html = _bodies(message)
    data: FormData = {
        "recipient": recipient,
        "sender": _envelope_sender(message),
        "from": str(message.get("From", "")),
        "subject": str(message.get("Subject", "")),
        "body-plain": plain,
    }
    if html is not None:
        data["body-html"] = html
    if with_stripped:
        data |= _stripped(plain)
    verdicts = {"X-Mailgun-Spf": spf, "X-Mailgun-Dkim-Check-Result": dkim}
    added = [[name, value] for name, value in verdicts.items() if value is not None]
    data |= dict(added)
    headers = [*added, *([name, str(value).strip()] for name, value in message.items())]
    data["message-headers"] = json.dumps(headers)
    files = [
        (f"attachment-{number}", attachment)
        for number, attachment in enumerate(_attachments(message), 1)
    ]
    if files:
        data["attachment-count"] = str(len(files))
    data |= sign_mailgun(signing_key, timestamp, token)
    return data, files


def load_fixture(name: str) -> bytes:
    """The raw bytes of `tests/fixtures/mail/<name>`; `big_attachment.eml` is generated."""
    if name == "big_attachment.eml":
        return big_attachment_eml()
    return (FIXTURES / name).read_bytes()


def fixture_names() -> list[str]:
    """Every raw mail fixture, the generated one included, sorted by name."""
    return sorted({path.name for path in FIXTURES.glob("*.eml")} | {"big_attachment.eml"})


@functools.cache
def big_attachment_eml(size: int = BIG_ATTACHMENT_BYTES) -> bytes:
    """A player's mail with a `size`-byte screen recording attached; the same bytes each call.

    Real recordings are about this big; the content is deterministic noise behind an MP4
    header, so the bytes decode the same way on every run and every machine.
    """
    header = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    video = (header + hashlib.shake_256(b"screen-recording").digest(size))[:size]
    encoded = base64.b64encode(video).decode("ascii")
    lines = "\n".join(encoded[i : i + BASE64_LINE] for i in range(0, len(encoded), BASE64_LINE))
    boundary = "000000000000b2f9e40627f3a1c5"
    text = (
        "Return-Path: <jamie.chen@example.com>\n"
        "MIME-Version: 1.0\n"
        "From: Jamie Chen <jamie.chen@example.com>\n"
        "Date: Fri, 27 Nov 2026 12:48:10 +0000\n"
        "Message-ID: <CAK7wT3pM9xQ2vLr+Yd4nB8gHs1cJ6aFz0oE5uN2iR7kW3sG8Xc@mail.gmail.com>\n"
        "Subject: Video of the crash when I open the arena\n"
        "To: support@mg.example.com\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "\n"
        "Hi,\n\nThe game closes every time I open the arena. I recorded it, the video is\n"
        "attached.\n\nJamie\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: video/mp4; name="screen_recording_20261127.mp4"\n'
        'Content-Disposition: attachment; filename="screen_recording_20261127.mp4"\n'
        "Content-Transfer-Encoding: base64\n"
        "X-Attachment-Id: f_mi3y1k8d0\n"
        "Content-ID: <f_mi3y1k8d0>\n"
        "\n"
        f"{lines}\n"
        f"--{boundary}--\n"
    )
    return text.encode("ascii")


def _envelope_sender(message: Message) -> str:
    """The MAIL FROM address: Return-Path when there is one (empty for bounces), else From."""
    return_path = message.get("Return-Path")
    if return_path is not None:
        return parseaddr(str(return_path))[1]
    return parseaddr(str(message.get("From", "")))[1]


def _bodies(message: EmailMessage) -> tuple[str, str | None]:
    """The plain and HTML bodies; Mailgun makes a plain one from HTML-only mail."""
    plain_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    html = None if html_part is None else str(cast(EmailMessage, html_part).get_content())
    if plain_part is not None:
        return str(cast(EmailMessage, plain_part).get_content()), html
    return (html_to_text(html) if html is not None else ""), html


def _stripped(plain: str) -> FormData:
    """`stripped-text` (no quoted history, no signature) and `stripped-signature` if found."""
    fields = {"stripped-text": EmailReplyParser.parse_reply(plain)}
    parsed = EmailReplyParser.read(plain)
    signatures = [
        part.content
        for part in parsed.fragments
        if part.signature and not part.quoted and not OUTLOOK_RULE.match(part.content)
    ]
    if signatures and signatures[0]:
        fields["stripped-signature"] = signatures[0]
    return fields


def _attachments(message: EmailMessage) -> list[tuple[str, bytes, str]]:
    """Files Mailgun posts as attachments: not the body, not inline images of the HTML."""
    found: list[tuple[str, bytes, str]] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        unnamed_inline = disposition is None and filename is not None and "Content-ID" not in part
        attached = disposition == "attachment" or unnamed_inline
        if not attached:
            continue
        content = part.get_payload(decode=True)
        data = content if isinstance(content, bytes) else b""
        name = filename or f"attachment-{len(found) + 1}"
        found.append((name, data, part.get_content_type()))
    return found


class _TextOfHtml(HTMLParser):
    """Collects the readable text of HTML: no scripts or styles, blocks on their own lines."""

    PARAGRAPHS = frozenset(
        {"p", "div", "ul", "ol", "table", "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}
    )
    LINES = frozenset({"br", "li", "tr"})
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.PARAGRAPHS:
            self.chunks.append("\n\n")
        elif tag in self.LINES:
            self.chunks.append("\n* " if tag == "li" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.PARAGRAPHS:
            self.chunks.append("\n\n")

    def handle_data(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data)
        after_break = not self.chunks or self.chunks[-1].endswith(("\n", "* "))
        if self._hidden or (after_break and not text.strip()):
            return
        self.chunks.append(text)


def html_to_text(html: str) -> str:
    """A plain-text rendering of HTML, as Mailgun gives `body-plain` for HTML-only mail."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.chunks).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
