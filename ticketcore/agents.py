"""Who is on shift: agents switch themselves on and off; assignment rules read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ticketcore.store import Store

DEFAULT_CAP = 25  # open tickets an agent holds before round robin passes them by
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    def next_on_shift(
        self, at: datetime, *, open_count: Callable[[str], int], cap: int = DEFAULT_CAP
    ) -> str | None:
        """Round robin among the agents on shift: the one whose last assignment is oldest,
        skipping anyone holding `cap` open tickets; None when nobody can take one."""
        agents = self.store.agents.find({"on_shift": True}, {"last_assigned_at": 1})
        oldest_first = sorted(agents, key=lambda a: (a.get("last_assigned_at") or EPOCH, a["_id"]))
        for agent in oldest_first:
            if open_count(agent["_id"]) >= cap:
                continue
            # Claim the turn only if nobody took it meanwhile (another worker's rule).
            claimed = self.store.agents.update_one(
                {"_id": agent["_id"], "last_assigned_at": agent.get("last_assigned_at")},
                {"$set": {"last_assigned_at": at}},
            )
            if claimed.modified_count:
                return str(agent["_id"])
        return None
