"""The SMTP backend against a real SMTP server (aiosmtpd) on this machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.email.smtp import SmtpMailer, SmtpServer
from tests.support.ports import unused_port
from ticketcore.mail import MailDeferred, MailRejected, OutgoingMail

REFUSED = "gone@example.com"  # the server answers 550 for it
BUSY = "busy@example.com"  # 451: try later


class Recorder:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 mailbox unavailable"
        if address == BUSY:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> AuthResult:
        ok = isinstance(auth, LoginPassword) and auth.password == b"s3cret"
        if ok:
            recorder.logins.append(auth.login.decode())
        return AuthResult(success=ok)

    port = unused_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield recorder, port
    controller.stop()


def a_mail(to: str = "player@example.com") -> OutgoingMail:
    return OutgoingMail(
        message_id="<ticket-7.abc@mg.example.com>",
        sender="Dragon Support <support@mg.example.com>",
        to=to,
        subject="Re: [#7] Lost gems",
        text="We put them back.",
        html="<p>We put them back.</p>",
        reply_to="support@mg.example.com",
        in_reply_to="<player-1@example.com>",
        references=("<player-1@example.com>",),
    )


def mailer(port: int, credentials: str = "support:s3cret@") -> SmtpMailer:
    return SmtpMailer(f"smtp://{credentials}127.0.0.1:{port}", lambda: datetime.now(UTC))


def test_a_mail_goes_out_multipart_with_our_threading_headers(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    assert mailer(port).send(a_mail()) == "<ticket-7.abc@mg.example.com>"
    [message] = recorder.messages
    assert recorder.logins == ["support"]
    assert message["Message-ID"] == "<ticket-7.abc@mg.example.com>"
    assert message["In-Reply-To"] == "<player-1@example.com>"
    assert message["Reply-To"] == "support@mg.example.com"
    assert message["Auto-Submitted"] == "no"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and plain.get_content().strip() == "We put them back."
    assert html is not None and "<p>We put them back.</p>" in html.get_content()


def test_a_refused_recipient_is_permanent_and_a_busy_one_temporary(
    smtp: tuple[Recorder, int],
) -> None:
    _, port = smtp
    with pytest.raises(MailRejected, match="550"):
        mailer(port).send(a_mail(REFUSED))
    with pytest.raises(MailDeferred, match="451"):
        mailer(port).send(a_mail(BUSY))


def test_no_server_is_temporary() -> None:
    with pytest.raises(MailDeferred, match="unreachable"):
        mailer(unused_port()).send(a_mail())


def test_smtp_urls() -> None:
    server = SmtpServer.from_url("smtps://me%40studio:p%40ss@mail.studio.com")
    assert (server.host, server.port, server.tls, server.starttls) == (
        "mail.studio.com",
        465,
        True,
        False,
    )
    assert (server.username, server.password) == ("me@studio", "p@ss")
    plain = SmtpServer.from_url("smtp://relay:587?starttls=true")
    assert (plain.port, plain.tls, plain.starttls, plain.username) == (587, False, True, None)
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpServer.from_url("http://mail.studio.com")
