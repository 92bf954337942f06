"""Response URLs of agents' clicks on a card, kept to redraw that card without chat.update.

A click on a card's button or menu comes with a response URL that edits the clicked message,
five times within 30 minutes. A redraw sent through it costs no turn of chat.update's
workspace-wide budget (Tier 3, about one call a second), the limit that holds the redraws
of a busy day back: the agent's own click, and the reply, status and priority changes that
follow within half an hour, redraw the card at once instead of waiting in line.

The URLs live in Redis only: losing them costs nothing but the redraws going back to
chat.update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from redis import Redis

USES = 5  # posts Slack accepts on one response URL
LIFETIME = 30 * 60  # seconds a response URL is good for
# Stop using a URL this long before it expires: a redraw sent just before the end could
# arrive after it.
MARGIN = 60
SLACK_HOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})

# Takes one use of a kept URL, atomically: nil when there is none, or none left.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HINCRBY', KEYS[1], 'left', -1) < 0 then return false end
return redis.call('HGET', KEYS[1], 'url')
"""


@dataclass
class CardHooks:
    redis: Redis
    # Where a response URL may point: Slack's hooks host, or the host of the configured
    # Web API (a Slack-compatible server). A worker posts to these URLs, so one from
    # anywhere else is not kept, even inside a signed request.
    hosts: frozenset[str] = field(default=SLACK_HOOK_HOSTS)

    @classmethod
    def for_api(cls, redis: Redis, api_url: str | None) -> CardHooks:
        extra = {urlsplit(api_url).netloc} if api_url else set()
        return cls(redis, SLACK_HOOK_HOSTS | extra)

    @staticmethod
    def key(number: int) -> str:
        return f"slack:card_hook:{number}"

    def remember(self, number: int, url: str) -> None:
        """Keep the response URL of a click on ticket `number`'s card, with all its uses:
        a newer click's URL replaces an older one."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or parts.netloc not in self.hosts:
            return
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key(number), mapping={"url": url, "left": USES})
            pipe.expire(self.key(number), LIFETIME - MARGIN)
            pipe.execute()

    def take(self, number: int) -> str | None:
        """One use of the card's kept response URL, if it has one left."""
        url: Any = self.redis.eval(_TAKE, 1, self.key(number))
        if not url:
            return None
        return url.decode() if isinstance(url, bytes) else str(url)

    def forget(self, number: int) -> None:
        """Drop a URL Slack refused (expired, used up elsewhere, or the card is gone)."""
        self.redis.delete(self.key(number))
