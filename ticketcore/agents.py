"""Who is on shift: agents switch themselves on and off; assignment rules read it."""

from __future__ import annotations

from datetime import datetime

from ticketcore.store import Store


class Roster:
    def __init__(self, store: Store) -> None:
        self.store = store

    def set_on_shift(self, agent_id: str, on_shift: bool, at: datetime) -> None:
        self.store.agents.update_one(
            {"_id": agent_id}, {"$set": {"on_shift": on_shift, "shift_changed_at": at}}, upsert=True
        )

    def is_on_shift(self, agent_id: str) -> bool:
        doc = self.store.agents.find_one({"_id": agent_id}, {"on_shift": 1})
        return bool(doc and doc.get("on_shift"))
