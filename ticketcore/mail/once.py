"""Send each Message-Id at most once, whichever worker or retry gets there.

Providers accept the same mail twice and deliver it twice. A ledger keyed by our own
Message-Id records an attempt before the mail is handed over and the provider's id once
it took it. A job that runs again finds the mail sent and stops; one that finds only the
attempt (a crash or a lost answer in between) asks the provider whether it took the
mail, where the provider can tell (Mailgun's events), and sends only if not.
"""

from __future__ import annotations

import logging

from pymongo.errors import DuplicateKeyError

from ticketcore.clock import Clock
from ticketcore.mail import MailDeferred, Mailer, OutgoingMail
from ticketcore.store import Store

log = logging.getLogger(__name__)


class SendOnce:
    def __init__(self, mailer: Mailer, store: Store, clock: Clock) -> None:
        self.mailer = mailer
        self.store = store
        self.clock = clock

    def sent(self, message_id: str) -> str | None:
        """The provider's id of a mail already handed over, or None."""
        doc = self.store.mail_sent.find_one({"_id": message_id}, {"provider_id": 1})
        return None if doc is None or "provider_id" not in doc else str(doc["provider_id"])

    def send(self, mail: OutgoingMail) -> str:
        doc = self.store.mail_sent.find_one({"_id": mail.message_id})
        if doc is not None and "provider_id" in doc:
            return str(doc["provider_id"])
        if doc is None and self.attempt(mail.message_id):
            provider_id = self.mailer.send(mail)
        else:  # an earlier attempt, outcome unknown: did the provider take it?
            provider_id = self.accepted_earlier(mail.message_id) or self.mailer.send(mail)
        self.record(mail.message_id, provider_id)
        return provider_id

    def attempt(self, message_id: str) -> bool:
        """Record the attempt before the mail leaves; False if one is recorded already."""
        try:
            self.store.mail_sent.insert_one({"_id": message_id, "attempted_at": self.clock()})
        except DuplicateKeyError:
            return False
        return True

    def accepted_earlier(self, message_id: str) -> str | None:
        """What the provider says of an earlier attempt whose outcome is unknown. If it
        cannot be asked, the mail is sent: a reply twice is better than none."""
        try:
            return self.mailer.accepted(message_id)
        except MailDeferred as exc:
            log.warning("could not ask whether %s was sent (%s); sending it", message_id, exc)
            return None

    def record(self, message_id: str, provider_id: str) -> None:
        self.store.mail_sent.update_one(
            {"_id": message_id},
            {"$set": {"provider_id": provider_id, "at": self.clock()}},
            upsert=True,
        )
