"""Look up a player's account in the game's admin API, with a Redis cache in front.

Agents want the account beside the ticket, but the game's API is slow or down at times:
a lookup retries briefly, then settles for "unavailable" instead of raising, and only
answers worth keeping (an account, an unknown player) are cached, so a failure is tried
again on the next lookup.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from redis import Redis, RedisError

from ticketcore.accounts import (
    DEFAULT_FIELDS,
    MALFORMED_JSON,
    AccountField,
    AccountStatus,
    AccountSummary,
    summarize,
    unavailable,
    unknown_player,
)
from ticketcore.clock import Clock

log = logging.getLogger(__name__)

PLACEHOLDER: Final = "{player_id}"
CACHE_PREFIX: Final = "helpdesk:account:"
DEFAULT_TTL: Final = 600
UNKNOWN_PLAYER_TTL: Final = 60  # a player created a minute ago should show up soon
DEFAULT_TIMEOUT: Final = 3.0
DEFAULT_RETRIES: Final = 2
BACKOFF: Final = (0.2, 0.5)  # seconds before the first and any later retry
# A longer wait than this would hold up the job; the next lookup will try again.
MAX_RETRY_AFTER: Final = 2.0
TIMEOUT: Final = "timeout"


def cache_life(status: AccountStatus, ttl: int) -> int | None:
    """Seconds the cache keeps an answer: an account `ttl`, an unknown player a minute at
    most, a failure not at all (so it is asked again)."""
    if status is AccountStatus.OK:
        return ttl
    if status is AccountStatus.UNKNOWN_PLAYER:
        return min(UNKNOWN_PLAYER_TTL, ttl)
    return None


def fill(template: str, player_id: str) -> str:
    """The template with the player id, URL-quoted (a `/` too), in place of `{player_id}`."""
    return template.replace(PLACEHOLDER, quote(player_id, safe=""))


def admin_link(template: str | None, player_id: str | None) -> str | None:
    """The player's page in the game's admin tool, when both are known."""
    if not template or not player_id:
        return None
    return fill(template, player_id)


def cache_key(player_id: str) -> str:
    return f"{CACHE_PREFIX}{player_id}"


@dataclass(frozen=True)
class _Failure:
    """A request that got no HTTP answer, and whether trying again may help."""

    reason: str
    transient: bool


_Outcome = httpx.Response | _Failure


class AccountLookup:
    """Account summaries from the game's admin API, cached in Redis."""

    def __init__(
        self,
        url_template: str,
        *,
        redis: Redis,
        clock: Clock,
        token: str | None = None,
        fields: Sequence[AccountField] = DEFAULT_FIELDS,
        ttl: int = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if PLACEHOLDER not in url_template:
            raise ValueError(f"the account API URL {url_template!r} has no {PLACEHOLDER}")
        self.url_template = url_template
        self.redis = redis
        self.clock = clock
        self.fields = tuple(fields)
        self.ttl = ttl
        self.timeout = timeout
        self.retries = retries
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._owns_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep

    def close(self) -> None:
        """Close the HTTP client, if this lookup made it."""
        if self._owns_client:
            self.client.close()

    # ------------------------------------------------------------- the cache

    def lookup(self, player_id: str) -> AccountSummary:
        """The cached account, else the game's answer; never raises for what the game does."""
        summary = self.cached(player_id)
        if summary is None:
            summary = self._fetch(player_id)
            self._remember(summary)
        return summary

    def cached(self, player_id: str) -> AccountSummary | None:
        """The cached account, without asking the game."""
        try:
            stored = self.redis.get(cache_key(player_id))
        except RedisError as exc:
            log.warning("account cache unreadable, asking the game: %s", exc)
            return None
        if stored is None:
            return None
        try:
            return AccountSummary.model_validate_json(stored)
        except ValidationError:
            return None  # written by an older release: fetch anew

    def forget(self, player_id: str) -> None:
        """Drop the cached account, so the next lookup asks the game."""
        try:
            self.redis.delete(cache_key(player_id))
        except RedisError as exc:
            log.warning("account cache unreachable, %r not forgotten: %s", player_id, exc)

    def _remember(self, summary: AccountSummary) -> None:
        """Cache an account or an unknown player; a failure is not kept."""
        ttl = self._ttl_for(summary.status)
        if ttl is None:
            return
        try:
            self.redis.set(cache_key(summary.player_id), summary.model_dump_json(), ex=ttl)
        except RedisError as exc:
            log.warning("account cache unwritable: %s", exc)

    def _ttl_for(self, status: AccountStatus) -> int | None:
        return cache_life(status, self.ttl)

    # ------------------------------------------------------------- the game's API

    def _fetch(self, player_id: str) -> AccountSummary:
        """Ask the game and summarise its answer."""
        outcome = self._get(fill(self.url_template, player_id))
        summary = self._summary_of(player_id, outcome)
        if summary.status is AccountStatus.UNAVAILABLE:
            log.warning("account of %r unavailable: %s", player_id, summary.reason)
        return summary

    def _summary_of(self, player_id: str, outcome: _Outcome) -> AccountSummary:
        now = self.clock()
        if isinstance(outcome, _Failure):
            return unavailable(player_id, outcome.reason, now)
        if outcome.status_code == 404:
            return unknown_player(player_id, now)
        if not outcome.is_success:
            return unavailable(player_id, f"HTTP {outcome.status_code}", now)
        try:
            payload = json.loads(outcome.content)
        except (ValueError, RecursionError):
            return unavailable(player_id, MALFORMED_JSON, now)
        return summarize(player_id, payload, self.fields, now)

    def _get(self, url: str) -> _Outcome:
        """The game's last answer, or why there was none, after the retries that may help."""
        attempt = 0
        while True:
            outcome = self._attempt(url)
            pause = self._pause_before_retry(outcome, attempt)
            if pause is None:
                return outcome
            self._sleep(pause)
            attempt += 1

    def _attempt(self, url: str) -> _Outcome:
        try:
            return self.client.get(url, headers=self.headers, timeout=self.timeout)
        except httpx.TimeoutException:
            return _Failure(TIMEOUT, transient=True)
        except httpx.TransportError as exc:
            return _Failure(f"network error ({type(exc).__name__})", transient=True)
        except httpx.RequestError as exc:  # e.g. a body that does not decode
            return _Failure(f"bad response ({type(exc).__name__})", transient=False)

    def _pause_before_retry(self, outcome: _Outcome, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when another try is not worth it."""
        if attempt >= self.retries or not _is_transient(outcome):
            return None
        backoff = BACKOFF[min(attempt, len(BACKOFF) - 1)]
        asked = retry_after(outcome) if isinstance(outcome, httpx.Response) else None
        if asked is None:
            return backoff
        return asked if asked <= MAX_RETRY_AFTER else None


def _is_transient(outcome: _Outcome) -> bool:
    """Whether the same request may well succeed in a moment: 5xx, 429, no answer."""
    if isinstance(outcome, _Failure):
        return outcome.transient
    return outcome.status_code == 429 or outcome.status_code >= 500


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a `Retry-After` header asks for; None when absent or an HTTP date."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None
