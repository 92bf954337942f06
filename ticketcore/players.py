"""The player directory: one record per player, however many channels they write from."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ticketcore.notices import EMAIL_CODE, TELEGRAM_REBOUND, new_notice
from ticketcore.store import Document, Store

# Who the player is by mail is only believed once they showed they read the address: an
# address given by /email waits in `email_pending` until its code comes back.
PENDING = "email_pending"
BIND_TRIES = 5


class EmailCheck(StrEnum):
    CONFIRMED = "confirmed"
    WRONG = "wrong"
    EXPIRED = "expired"  # too late, or too many wrong codes: ask for a new one
    NOTHING_PENDING = "nothing_pending"


def code_hash(address: str, code: str) -> str:
    return hashlib.sha256(f"{address}\n{code}".encode()).hexdigest()


class Directory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def by_telegram(self, telegram_user_id: int) -> dict[str, Any] | None:
        return self.store.players.find_one({"telegram_user_id": telegram_user_id})

    def by_email(self, email: str) -> dict[str, Any] | None:
        """The player with this address; one the game knows (with a player id) first."""
        return self.store.players.find_one(
            {"email": email.strip().lower()}, sort=[("player_id", DESCENDING)]
        )

    def set_language(self, telegram_user_id: int, language: str, at: datetime) -> None:
        self.store.players.update_one(
            {"telegram_user_id": telegram_user_id},
            {"$set": {"language": language, "language_set_at": at}},
            upsert=True,
        )

    def ask_to_confirm_email(
        self,
        telegram_user_id: int,
        address: str,
        code: str,
        *,
        at: datetime,
        expires_at: datetime,
        language: str | None,
    ) -> None:
        """Keep `address` as unconfirmed and owe a mail of `code` to it, in one write; a
        newer request replaces an older one, code and attempts alike. The code waits in the
        notice only until it is mailed; the record keeps its hash."""
        payload = {"to": address, "code": code, "language": language}
        pending = {"address": address, "code_hash": code_hash(address, code)}
        self.store.players.update_one(
            {"telegram_user_id": telegram_user_id},
            {
                "$set": {PENDING: {**pending, "expires_at": expires_at, "attempts": 0}},
                "$push": {"notices": new_notice(EMAIL_CODE, at, payload)},
            },
            upsert=True,
        )

    def confirm_email(
        self, telegram_user_id: int, code: str, at: datetime, *, max_attempts: int
    ) -> EmailCheck:
        """Check a code the player sent back; every try counts, before it is compared, so
        tries at the same moment cannot get past `max_attempts` together."""
        counted = self.store.players.update_one(
            {
                "telegram_user_id": telegram_user_id,
                f"{PENDING}.expires_at": {"$gt": at},
                f"{PENDING}.attempts": {"$lt": max_attempts},
            },
            {"$inc": {f"{PENDING}.attempts": 1}},
        )
        record = self.by_telegram(telegram_user_id) or {}
        pending: Document | None = record.get(PENDING)
        if pending is None:
            return EmailCheck.NOTHING_PENDING
        if counted.modified_count == 0:
            self._drop_pending(record["_id"], pending)
            return EmailCheck.EXPIRED
        if not hmac.compare_digest(code_hash(pending["address"], code), pending["code_hash"]):
            if pending["attempts"] >= max_attempts:
                self._drop_pending(record["_id"], pending)
                return EmailCheck.EXPIRED
            return EmailCheck.WRONG
        self.store.players.update_one(
            {"_id": record["_id"], f"{PENDING}.code_hash": pending["code_hash"]},
            {
                "$set": {"email": pending["address"], "email_set_at": at, "email_confirmed_at": at},
                "$unset": {PENDING: ""},
            },
        )
        return EmailCheck.CONFIRMED

    def _drop_pending(self, record_id: ObjectId, pending: Document) -> None:
        self.store.players.update_one(
            {"_id": record_id, f"{PENDING}.code_hash": pending["code_hash"]},
            {"$unset": {PENDING: ""}},
        )

    def link_telegram(self, telegram_user_id: int, player_id: str, at: datetime) -> int | None:
        """Make `player_id`'s record the Telegram user's; fold a Telegram-only record in.
        Returns the Telegram user the player had before, when another: that chat is owed a
        notice in the same write."""
        for _ in range(BIND_TRIES):
            existing = self.store.players.find_one({"player_id": player_id})
            if existing is None:
                try:
                    self.store.players.update_one(
                        {"telegram_user_id": telegram_user_id},
                        {"$set": {"player_id": player_id, "linked_at": at}},
                        upsert=True,
                    )
                    return None
                except DuplicateKeyError:  # the game's record appeared meanwhile
                    continue
            stored, previous = self._rebind(existing, telegram_user_id, at)
            if stored:
                return previous
        raise RuntimeError(f"player {player_id} kept changing while being linked")

    def _rebind(
        self, existing: Document, telegram_user_id: int, at: datetime
    ) -> tuple[bool, int | None]:
        """Move the record to the user, if its Telegram user is still the one read: whether
        it was, and the user it had before, when another."""
        previous = existing.get("telegram_user_id")
        telegram_only = self.by_telegram(telegram_user_id)
        folded = telegram_only is not None and telegram_only["_id"] != existing["_id"]
        source = telegram_only if folded and telegram_only is not None else {}
        dropped = ("_id", "player_id", "notices")
        kept = {k: v for k, v in source.items() if k not in dropped}
        update: Document = {"$set": {**kept, "telegram_user_id": telegram_user_id, "linked_at": at}}
        notices = list(source.get("notices", []))
        moved = previous is not None and previous != telegram_user_id
        if moved:
            payload = {"chat_id": previous, "language": existing.get("language")}
            notices.append(new_notice(TELEGRAM_REBOUND, at, payload))
            stale = {"telegram_chat_id", "telegram_username"} - set(kept)
            if stale:
                update["$unset"] = dict.fromkeys(stale, "")
        if notices:
            update["$push"] = {"notices": {"$each": notices}}
        done = self.store.players.update_one(
            {"_id": existing["_id"], "telegram_user_id": previous}, update
        )
        if done.matched_count == 0:
            return False, None
        if folded and telegram_only is not None:
            self.store.players.delete_one({"_id": telegram_only["_id"]})
        return True, previous if moved else None
