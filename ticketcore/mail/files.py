"""A Mailer that writes each message as an .eml file: the default with no mail service."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ticketcore.clock import Clock
from ticketcore.mail import OutgoingMail

log = logging.getLogger(__name__)


class FileMailer:
    """Writes `DATA_DIR/outbox/<hash of Message-Id>.eml`; a resend finds the file and stops."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock

    def path_of(self, message_id: str) -> Path:
        digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.eml"

    def accepted(self, message_id: str) -> str | None:
        return message_id if self.path_of(message_id).exists() else None

    def send(self, mail: OutgoingMail) -> str:
        path = self.path_of(mail.message_id)
        if path.exists():
            return mail.message_id
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bytes(mail.as_email(self.clock())))
        tmp.replace(path)  # readers never see half a message
        log.info("mail to %s written to %s (no mail service is set)", mail.to, path.name)
        return mail.message_id
