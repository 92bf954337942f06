"""The player directory: one record per player, however many channels they write from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ticketcore.store import Store


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

    def set_email(self, telegram_user_id: int, email: str, at: datetime) -> bool:
        """The address a Telegram player gave: on their record, where mail from it and the
        game's tickets with it find them (one record per player id)."""
        self.store.players.update_one(
            {"telegram_user_id": telegram_user_id},
            {"$set": {"email": email, "email_set_at": at}},
            upsert=True,
        )
        return True

    def link_telegram(self, telegram_user_id: int, player_id: str, at: datetime) -> None:
        """Make `player_id`'s record the Telegram user's; fold a Telegram-only record in."""
        existing = self.store.players.find_one({"player_id": player_id}, {"_id": 1})
        telegram_only = self.by_telegram(telegram_user_id)
        if existing is None:
            try:
                self.store.players.update_one(
                    {"telegram_user_id": telegram_user_id},
                    {"$set": {"player_id": player_id, "linked_at": at}},
                    upsert=True,
                )
                return
            except DuplicateKeyError:  # the game's record appeared meanwhile
                existing = self.store.players.find_one({"player_id": player_id}, {"_id": 1})
        assert existing is not None
        kept = {k: v for k, v in (telegram_only or {}).items() if k not in ("_id", "player_id")}
        if telegram_only is not None and telegram_only["_id"] != existing["_id"]:
            self.store.players.delete_one({"_id": telegram_only["_id"]})
        self.store.players.update_one(
            {"_id": existing["_id"]},
            {"$set": {**kept, "telegram_user_id": telegram_user_id, "linked_at": at}},
        )
