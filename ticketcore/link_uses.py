"""The record of player links used: a link binds a Telegram user once, even when two
users open it at the same moment (the token's id is the record's _id)."""

from __future__ import annotations

from datetime import datetime

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from ticketcore.store import Document, Store


class LinkUses:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def uses(self) -> Collection[Document]:
        return self.store.db["link_uses"]

    def claim(self, token_id: str, player_id: str, telegram_user_id: int, at: datetime) -> bool:
        """Take the link for this user; False when it was used before. The same user's
        retry of a use whose binding was never stored (an update Telegram sends again)
        takes it again."""
        use = {"player_id": player_id, "telegram_user_id": telegram_user_id, "used_at": at}
        try:
            self.uses.insert_one({"_id": token_id, **use, "bound_at": None})
            return True
        except DuplicateKeyError:
            earlier = self.uses.find_one({"_id": token_id}) or {}
        return earlier.get("telegram_user_id") == telegram_user_id and not earlier.get("bound_at")

    def bound(self, token_id: str, at: datetime) -> None:
        """The binding the link asked for is stored: no retry may use it again."""
        self.uses.update_one({"_id": token_id}, {"$set": {"bound_at": at}})
