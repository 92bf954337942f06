"""A Mailer that writes each message as an .eml file: the default with no mail service."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from ticketcore.clock import Clock
from ticketcore.mail import OutgoingMail


def to_email_message(mail: OutgoingMail, date: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = mail.message_id
    msg["Date"] = format_datetime(date)
    msg["From"] = mail.sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    msg["Auto-Submitted"] = "auto-replied" if "auto" in mail.tags else "no"
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg


class FileMailer:
    """Writes `DATA_DIR/outbox/<hash of Message-Id>.eml`; a resend finds the file and stops."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock

    def path_for(self, mail: OutgoingMail) -> Path:
        digest = hashlib.sha256(mail.message_id.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.eml"

    def send(self, mail: OutgoingMail) -> str:
        path = self.path_for(mail)
        if path.exists():
            return mail.message_id
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bytes(to_email_message(mail, self.clock())))
        tmp.replace(path)  # readers never see half a message
        return mail.message_id
