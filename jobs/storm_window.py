"""The storm detector's shared memory: recent tickets of each queue, in Redis, for all workers.

Each observed ticket leaves its compact fingerprint and its LSH band keys for one window,
and compares itself with the recent tickets of its queue that share a band with it (those
sharing most bands first, a bounded number). Then, in this order:

- similar to `links` or more members of an active group: it joins that group, which stays
  active for another window; each similar ticket still outside a group gains a link to the
  group and joins it, attached by this one, once it has `links`;
- similar to `min_similar - 1` tickets in no group: together they are a burst, a new group
  this ticket started, unless the burst borders an active group (linked or nearly similar
  to its members): then it is more of that one, as a storm's first seconds can look like
  two bursts;
- otherwise it stays outside, linked to the group it resembles, if any.

Two links, not one, keep out the unrelated ticket that happens to resemble one short storm
ticket among thousands. All of this runs in one Lua script, so two workers observing at
the same moment are served one after the other: one burst cannot open two groups, and
there is no lock to leak.

Time is the ticket's own `at`: a worker's clock never decides what is recent. Everything a
window holds expires with it (key TTLs, and the script trims older entries as it goes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis import Redis

from ticketcore.storms import Fingerprint, agreements_needed, bands, fingerprint

# Estimated Jaccard similarity of two texts' features from which they count as one problem.
# On the synthetic storm (`tests/storm_corpus.py`, seed 1) two storm tickets score 0.17 in
# the median, yet each has a median of 42 of the 500 at 0.34 or more (3 have none), while
# one of the 100 other tickets reaches 0.34 with any storm ticket.
DEFAULT_THRESHOLD = 0.34
# Similar members of an active group a ticket needs to join it.
LINKS = 2
# A share of the threshold: a new burst this close to members of an active group joins it.
NEAR = 0.6
KEY_PREFIX = "storm"

# How many recent tickets a band yields and how many of those are compared, at most: in a
# storm every band is crowded and the latest few are as good as all of them.
PER_BAND = 8
MAX_COMPARED = 96
# Older members of a band beyond this many are dropped on write: they would never be read.
BAND_KEEP = 32
# Expired entries removed per call at most, so one call after a quiet spell stays short.
PURGE_BATCH = 500

# KEYS: recent (zset seq -> at), sigs (hash seq -> compact fingerprint), ids (hash seq ->
# ticket id), seqs (hash ticket id -> seq), member_of (hash seq -> group), groups (zset
# group -> last member's at), sizes (hash group -> members), counter, links (hash seq ->
# similar members of a group, for a ticket in none), near (hash seq -> that group), then
# the band keys.
# ARGV: ticket id, at, cutoff (older is out of the window), window (ms), fingerprint,
# agreeing bytes for similar, and for nearly similar, min similar, links, per band, max
# compared, band keep, purge batch.
# Returns {group or false, size, started (0/1), earlier ticket ids...}.
_OBSERVE = """
local recent, sigs, ids, seqs, member_of, groups, sizes, counter, links, near =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local FIXED = 10
local ticket, at, cutoff, window = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local sig, needed, needed_near = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local min_similar, min_links = tonumber(ARGV[8]), tonumber(ARGV[9])
local per_band, max_compared = tonumber(ARGV[10]), tonumber(ARGV[11])
local band_keep, purge_batch = tonumber(ARGV[12]), tonumber(ARGV[13])

local function is_active(group)
  local last = redis.call('ZSCORE', groups, group)
  return last and tonumber(last) >= tonumber(cutoff)
end

-- Forget what left the window.
local old = redis.call('ZRANGEBYSCORE', recent, '-inf', '(' .. cutoff, 'LIMIT', 0, purge_batch)
if #old > 0 then
  local old_ids = redis.call('HMGET', ids, unpack(old))
  for _, id in ipairs(old_ids) do
    if id then redis.call('HDEL', seqs, id) end
  end
  redis.call('HDEL', sigs, unpack(old))
  redis.call('HDEL', ids, unpack(old))
  redis.call('HDEL', member_of, unpack(old))
  redis.call('HDEL', links, unpack(old))
  redis.call('HDEL', near, unpack(old))
  redis.call('ZREM', recent, unpack(old))
end
local ended = redis.call('ZRANGEBYSCORE', groups, '-inf', '(' .. cutoff, 'LIMIT', 0, purge_batch)
if #ended > 0 then
  redis.call('HDEL', sizes, unpack(ended))
  redis.call('ZREM', groups, unpack(ended))
end

local seen = redis.call('HGET', seqs, ticket)

-- Candidates: recent tickets sharing a band, those sharing the most bands first.
local hits, by_hits = {}, {}
for i = FIXED + 1, #KEYS do
  local members = redis.call('ZREVRANGEBYSCORE', KEYS[i], '+inf', cutoff, 'LIMIT', 0, per_band)
  for _, m in ipairs(members) do
    if m ~= seen then hits[m] = (hits[m] or 0) + 1 end
  end
end
for m, h in pairs(hits) do
  by_hits[h] = by_hits[h] or {}
  table.insert(by_hits[h], m)
end
local candidates = {}
for h = #KEYS - FIXED, 1, -1 do
  for _, m in ipairs(by_hits[h] or {}) do
    if #candidates < max_compared then table.insert(candidates, m) end
  end
end

-- Similar: at least `needed` of the fingerprint bytes agree; nearly: `needed_near`.
local similar, nearly = {}, {}
if #candidates > 0 then
  local mine = {string.byte(sig, 1, -1)}
  local n = #mine
  local stored = redis.call('HMGET', sigs, unpack(candidates))
  for j, other in ipairs(stored) do
    if other then
      local theirs = {string.byte(other, 1, n)}
      local same = 0
      for k = 1, n do
        if theirs[k] == mine[k] then
          same = same + 1
          if same >= needed then break end
        elseif same + n - k < needed_near then
          break
        end
      end
      if same >= needed then
        table.insert(similar, candidates[j])
      elseif same >= needed_near then
        table.insert(nearly, candidates[j])
      end
    end
  end
end

-- The active group most of `groups_of` name, with their count.
local function most(groups_of)
  local counts, best = {}, nil
  for _, g in ipairs(groups_of) do
    if g and is_active(g) then
      counts[g] = (counts[g] or 0) + 1
      if not best or counts[g] > counts[best] then best = g end
    end
  end
  return best, best and counts[best] or 0
end

-- Which of them belong to an active group, and which to none.
local loose, group, votes = {}, nil, 0
if #similar > 0 then
  local their_groups = redis.call('HMGET', member_of, unpack(similar))
  group, votes = most(their_groups)
  for j, g in ipairs(their_groups) do
    if not (g and is_active(g)) then table.insert(loose, similar[j]) end
  end
end

if seen then
  -- Observed before (a job re-run): report, change nothing.
  local mine = redis.call('HGET', member_of, seen)
  if mine and is_active(mine) then
    return {mine, tonumber(redis.call('HGET', sizes, mine)), 0}
  end
  return {false, #loose + 1, 0}
end

local seq = tostring(redis.call('INCR', counter))
local started, joined = 0, {}
if group and votes >= min_links then
  -- Joining: the others similar to it have one more link to the group, maybe enough.
  for _, m in ipairs(loose) do
    redis.call('HSET', near, m, group)
    if redis.call('HINCRBY', links, m, 1) >= min_links then table.insert(joined, m) end
  end
elseif #loose + 1 >= min_similar then
  -- A burst of its own, unless it borders a running one: then it is more of that one.
  if not group and #loose > 0 then group = most(redis.call('HMGET', near, unpack(loose))) end
  if not group and #nearly > 0 then
    local bordering, count = most(redis.call('HMGET', member_of, unpack(nearly)))
    if count >= min_links then group = bordering end
  end
  if not group then group, started = ticket, 1 end
  joined = loose
elseif group then
  -- Near a burst but not enough for it: wait for links from later members.
  redis.call('HSET', links, seq, votes)
  redis.call('HSET', near, seq, group)
  group = nil
end
local reply
if group then
  redis.call('HSET', member_of, seq, group)
  for _, m in ipairs(joined) do redis.call('HSET', member_of, m, group) end
  if #joined > 0 then
    redis.call('HDEL', links, unpack(joined))
    redis.call('HDEL', near, unpack(joined))
  end
  local size = redis.call('HINCRBY', sizes, group, #joined + 1)
  if (tonumber(redis.call('ZSCORE', groups, group)) or 0) < tonumber(at) then
    redis.call('ZADD', groups, at, group)
  end
  reply = {group, size, started}
  if #joined > 0 then
    for _, id in ipairs(redis.call('HMGET', ids, unpack(joined))) do table.insert(reply, id) end
  end
else
  reply = {false, #loose + 1, 0}
end

redis.call('ZADD', recent, at, seq)
redis.call('HSET', sigs, seq, sig)
redis.call('HSET', ids, seq, ticket)
redis.call('HSET', seqs, ticket, seq)
for i = FIXED + 1, #KEYS do
  redis.call('ZADD', KEYS[i], at, seq)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -band_keep - 1)
  redis.call('PEXPIRE', KEYS[i], window)
end
for i = 1, FIXED do redis.call('PEXPIRE', KEYS[i], window) end
return reply
"""

_FIXED_KEYS = (
    "recent", "sigs", "ids", "seqs", "member_of", "groups", "sizes", "counter", "links", "near",
)  # fmt: skip


@dataclass(frozen=True)
class Observation:
    """Where one ticket stands: `group` is the burst it belongs to (None while there is
    none), `size` the group's member count (without a group: this ticket and the similar
    recent ones, how close they are to a burst), `started` True for the one ticket that
    made the group, and `earlier` the tickets that arrived before it and belong to the
    group because of it: on the starting observation the burst so far; on a later one, a
    straggler that now has enough links, or a burst found to border the group."""

    group: str | None
    size: int
    started: bool
    earlier: list[str] = field(default_factory=list)


class StormWindow:
    """Bursts of similar new tickets per queue, shared by every worker through Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        window: timedelta = timedelta(minutes=5),
        min_similar: int = 10,
        threshold: float = DEFAULT_THRESHOLD,
        links: int = LINKS,
        prefix: str = KEY_PREFIX,
    ) -> None:
        if min_similar < 2 or links < 1:
            raise ValueError("a burst needs two tickets or more, and joining one a link")
        self.redis = redis
        self.window = window
        self.min_similar = min_similar
        self.threshold = threshold
        self.links = links
        self.prefix = prefix
        self._needed = agreements_needed(threshold)
        self._needed_near = agreements_needed(threshold * NEAR)
        self._script = redis.register_script(_OBSERVE)

    def observe(self, ticket_id: str, queue: str | None, text: str, at: datetime) -> Observation:
        """Record a new ticket created at `at` and say which burst, if any, it belongs to;
        observing the same ticket again reports without recording twice."""
        return self.observe_fingerprint(ticket_id, queue, fingerprint(text), at)

    def observe_fingerprint(
        self, ticket_id: str, queue: str | None, fp: Fingerprint, at: datetime
    ) -> Observation:
        """`observe`, for a caller that has the fingerprint already."""
        if not fp.size:  # nothing to compare: an empty or all-stop-words ticket
            return Observation(group=None, size=1, started=False)
        base = self._base(queue)
        at_ms = round(at.timestamp() * 1000)
        window_ms = round(self.window.total_seconds() * 1000)
        reply = self._script(
            keys=[
                *(f"{base}:{name}" for name in _FIXED_KEYS),
                *(f"{base}:b:{band}" for band in bands(fp)),
            ],
            args=[
                ticket_id,
                at_ms,
                at_ms - window_ms,
                window_ms,
                fp.compact(),
                self._needed,
                self._needed_near,
                self.min_similar,
                self.links,
                max(PER_BAND, self.min_similar),
                max(MAX_COMPARED, 4 * self.min_similar),
                max(BAND_KEEP, 2 * self.min_similar),
                PURGE_BATCH,
            ],
        )
        group, size, started, *earlier = reply
        return Observation(
            group=_text(group) if group is not None else None,
            size=int(size),
            started=bool(started),
            earlier=[_text(each) for each in earlier],
        )

    def _base(self, queue: str | None) -> str:
        """The braces keep a queue's keys in one Redis Cluster slot, as a script touching
        them all needs. No queue is the queue named ""."""
        return f"{self.prefix}:{{{queue or ''}}}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
