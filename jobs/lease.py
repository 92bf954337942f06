"""Keep a claim on effects while the work on them goes on.

A claim holds its effects for one lease (OUTBOX_LEASE, 15 s by default), short so that a
dead worker's effects are soon another's. Work that takes longer (a paced Slack call, a
slow mail server) renews it from a thread a few times a lease; the renewal names the
claim's token, so a claim another worker has taken over stays theirs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

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
    done = threading.Event()
    every = outbox.lease.total_seconds() / RENEWALS_PER_LEASE

    def renew() -> None:
        # Until the work ends, even when nothing is renewed: what the claim held may be
        # done, given back or taken over, and a renewal of a token that holds nothing
        # changes nothing.
        while not done.wait(every):
            try:
                outbox.renew(ticket_ids, lease, clock())
            except Exception:  # the store blinked: the next turn tries again
                log.warning("could not renew a claim on %d tickets", len(ticket_ids), exc_info=True)

    thread = threading.Thread(target=renew, name="lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
