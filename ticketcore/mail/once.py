"""Send each Message-Id at most once, whichever worker or retry gets there.

Providers accept the same mail twice and deliver it twice. A ledger keyed by our own
Message-Id remembers what was handed over, so a job that runs again after a lost answer
or a crash past the send finds the mail sent and stops.
"""

from __future__ import annotations

from contextlib import suppress

from pymongo.errors import DuplicateKeyError

from ticketcore.clock import Clock
from ticketcore.mail import Mailer, OutgoingMail
from ticketcore.store import Store


class SendOnce:
    def __init__(self, mailer: Mailer, store: Store, clock: Clock) -> None:
        self.mailer = mailer
        self.store = store
        self.clock = clock

    def sent(self, message_id: str) -> str | None:
        """The provider's id of a mail already handed over, or None."""
        doc = self.store.mail_sent.find_one({"_id": message_id}, {"provider_id": 1})
        return None if doc is None else str(doc["provider_id"])

    def send(self, mail: OutgoingMail) -> str:
        earlier = self.sent(mail.message_id)
        if earlier is not None:
            return earlier
        provider_id = self.mailer.send(mail)
        record = {"_id": mail.message_id, "provider_id": provider_id, "at": self.clock()}
        with suppress(DuplicateKeyError):  # another worker sent it at the same moment
            self.store.mail_sent.insert_one(record)
        return provider_id
