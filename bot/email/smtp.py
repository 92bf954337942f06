"""Send mail over SMTP, for studios that run their own mail server.

SMTP_URL names the server: `smtp://user:password@host:587?starttls=true`, or
`smtps://…:465` for TLS from the first byte. Replies in the 4xx range are temporary (try
again later), 5xx permanent (the ticket records them).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from ticketcore.clock import Clock
from ticketcore.mail import MailDeferred, MailRejected, OutgoingMail

TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # TLS from the first byte (smtps)
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587?starttls=true")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=not tls and query.get("starttls", ["false"])[0].lower() in TRUE,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"SMTP {code}: {' '.join(text.split())}"[:300]


class SmtpMailer:
    def __init__(self, url: str, clock: Clock, *, timeout: float = 30) -> None:
        self.server = SmtpServer.from_url(url)
        self.clock = clock
        self.timeout = timeout

    def connect(self) -> smtplib.SMTP:
        server = self.server
        context = ssl.create_default_context()
        if server.tls:
            return smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        if server.starttls:
            smtp.starttls(context=context)
        return smtp

    def accepted(self, message_id: str) -> str | None:
        return None  # SMTP keeps no record a client could ask

    def send(self, mail: OutgoingMail) -> str:
        try:
            with self.connect() as smtp:
                if self.server.username:
                    smtp.login(self.server.username, self.server.password or "")
                smtp.send_message(mail.as_email(self.clock()))
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            raise self.failure(code, message) from exc
        except smtplib.SMTPResponseException as exc:
            raise self.failure(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailDeferred(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from exc
        return mail.message_id

    @staticmethod
    def failure(code: int, message: bytes | str) -> Exception:
        text = _reply_text(code, message)
        return MailRejected(text) if 500 <= code < 600 else MailDeferred(text)
