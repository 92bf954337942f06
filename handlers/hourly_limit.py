"""A count per key and clock hour in Redis: how the edges limit what one sender may open."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from ticketcore.clock import Clock

HOUR = 3600


@dataclass(frozen=True)
class HourlyLimit:
    redis: Redis
    name: str  # the keys' prefix, one per thing limited
    per_hour: int
    clock: Clock

    def allows(self, key: str) -> bool:
        """Count one more for `key` in this hour; whether it is within the limit."""
        hour = int(self.clock().timestamp() // HOUR)
        counter = f"{self.name}:{key}:{hour}"
        count = int(self.redis.incr(counter))
        self.redis.expire(counter, HOUR)
        return count <= self.per_hour
