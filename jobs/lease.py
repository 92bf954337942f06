"""Keep a claim on effects, and a lock beside it, while the work on them goes on.

A claim holds its effects for one lease (OUTBOX_LEASE, 15 s by default), short so that a
dead worker's effects are soon another's. Work that takes longer (a paced Slack call, a
slow mail server) renews it from a thread a few times a lease; the renewal names the
claim's token, so a claim another worker has taken over stays theirs.

A Redis lock that keeps one card's redraws in line lives the same way: one lease, renewed
while its holder works. A dead worker's lock then stands no longer than its claims, and
the worker that takes the claims over is not turned away by the lock for longer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import LockError

from ticketcore.outbox import Outbox

log = logging.getLogger(__name__)

RENEWALS_PER_LEASE = 3  # a renewal may fail twice in a row before the lease runs out


@contextmanager
def kept(
    outbox: Outbox, ticket_ids: Sequence[str], lease: str | None, clock: Callable[[], datetime]
) -> Iterator[None]:
    """Renew the claim `lease` on `ticket_ids` until the block ends."""
    if lease is None or not ticket_ids:
        yield
        return

    def renew() -> None:
        # Even when nothing is renewed: what the claim held may be done, given back or
        # taken over, and a renewal of a token that holds nothing changes nothing.
        outbox.renew(ticket_ids, lease, clock())

    with renewing(outbox.lease, renew, f"a claim on {len(ticket_ids)} tickets"):
        yield


@contextmanager
def locked(redis: Redis, name: str, lease: timedelta) -> Iterator[bool]:
    """Hold the Redis lock `name` for one lease at a time, renewed until the block ends;
    the block is told whether it got the lock (it never waits for it). The lock is let go
    even when it is gone already (it expired, or Redis restarted empty): the work done
    under it stands, and raising there would make a card Slack accepted look failed."""
    # Not thread-local: the renewing thread must hold the same token as the holder.
    lock = redis.lock(name, timeout=lease.total_seconds(), thread_local=False)
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        with renewing(lease, lock.reacquire, f"the lock {name}"):
            yield True
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the lock %s was gone before its release", name)


@contextmanager
def renewing(lease: timedelta, renew: Callable[[], object], what: str) -> Iterator[None]:
    """Call `renew` a few times a lease, from a thread, until the block ends."""
    done = threading.Event()
    every = lease.total_seconds() / RENEWALS_PER_LEASE

    def keep() -> None:
        while not done.wait(every):
            try:
                renew()
            except Exception:  # the store or Redis blinked: the next turn tries again
                log.warning("could not renew %s", what, exc_info=True)

    thread = threading.Thread(target=keep, name="lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
