"""Call budgets shared by every worker through Redis: how we stay inside platforms' limits.

A generic cell rate algorithm: each key keeps the theoretical arrival time of its next
call; a call takes the next slot, 1/rate after the previous one, so calls are spread
evenly and no sliding second ever sees more than `rate` of them (a fixed one-second
window lets twice that through across its edge). A slot a moment away is waited for in
the job; a slot further away is not taken, and the job comes back when it is due.

Callers turned away are told to come back one interval apart, in the order they asked,
not all at the next free slot: a hundred cards waiting for one chat.update a second
then come back about once each, instead of all of them every second (each visit costs
the store a claim and a release, and under a backlog those visits were most of its load).

A key has two lanes. A caller in the first lane (a new ticket's card) waits only behind
the first lane: while any of it is turned away and due back, the other callers (the
thread messages of a busy channel) take no slot, not even a free one, so the slot it
comes back for is still there. At a busy day's peak a channel is asked for more posts
than Slack takes; in one line, a new card waited behind a minute of thread messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

# KEYS[1]: the key; KEYS[2]: when the next caller of this lane turned away should come
# back; KEYS[3]: the same for the first lane (KEYS[2] again for a caller of that lane).
# ARGV: now, interval, longest wait to take a slot for (all in ms).
# Returns {taken (1/0), wait in ms}: the wait for the slot taken, or until coming back.
_TAKE_SLOT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - now
local first_back = tonumber(redis.call('GET', KEYS[3]) or 0)
local yields = KEYS[2] ~= KEYS[3] and first_back > now
if wait > max_wait or yields then
  local back = tonumber(redis.call('GET', KEYS[2]) or tat)
  if back < tat then back = tat end
  if yields and back < first_back then back = first_back end
  redis.call('SET', KEYS[2], back + interval, 'PX', math.ceil(back + interval - now + 1000))
  return {0, back - now}
end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(wait + interval + 1000))
return {1, wait}
"""

MAX_SLEEP = 0.5  # seconds a job may wait in place for its slot
# A first-lane call waits in place longer: the slot just ahead of it may have gone to a
# call of the other lane that was itself waiting MAX_SLEEP for it. Turned away, it would
# come back whole seconds later (the retry goes through RQ's scheduler).
FIRST_LANE_SLEEP = 1.6
# Stay a little under the platform's limit: its counter and our slots see each call at
# slightly different moments (network jitter), and a 429 costs far more than 5%.
HEADROOM = 0.95


@dataclass
class Pacer:
    """At most `per_second` calls per key, evenly spaced, across all workers."""

    redis: Redis
    per_second: float
    max_sleep: float = MAX_SLEEP

    def wait_for(self, key: str, *, first: bool = False) -> float:
        """0 when the call may go now (after a short wait in place, if its slot is a moment
        away); otherwise the seconds until a slot frees, without taking one. `first`: the
        call is in the first lane, which the others make way for."""
        script = self.redis.register_script(_TAKE_SLOT)
        now_ms = int(time.time() * 1000)
        interval_ms = max(1, round(1000 / (self.per_second * HEADROOM)))
        first_back = f"pace:{key}:back:first"
        taken, wait_ms = script(
            keys=[f"pace:{key}", first_back if first else f"pace:{key}:back", first_back],
            args=[now_ms, interval_ms, int(self.max_sleep * 1000)],
        )
        if not taken:
            return max(0.05, (int(wait_ms) - self.max_sleep * 1000) / 1000)
        if wait_ms:
            time.sleep(int(wait_ms) / 1000)
        return 0.0
