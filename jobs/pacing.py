"""Call budgets shared by every worker through Redis: how we stay inside platforms' limits."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from redis import Redis


@dataclass
class Pacer:
    """A per-key budget of calls per second, counted in one-second windows in Redis."""

    redis: Redis
    per_second: int

    def wait_for(self, key: str) -> float:
        """0 if a call may go now (and counts it), else seconds until the next window."""
        now = time.time()
        window = int(now)
        name = f"pace:{key}:{window}"
        used = int(self.redis.incr(name))
        if used == 1:
            self.redis.expire(name, 3)
        if used <= self.per_second:
            return 0.0
        return (window + 1 - now) + random.uniform(0.0, 0.25)
