"""`helpdesk worker`: an RQ worker, and the cron unless told otherwise."""

from __future__ import annotations

from helpdesk.settings import Settings
from helpdesk.stack import open_stack


def worker(settings: Settings, *, with_cron: bool, burst: bool) -> None:
    from redis import Redis

    from jobs import runtime as job_runtime
    from jobs.worker import run_worker

    stack = open_stack(settings)
    try:
        job_runtime.install(stack.runtime)
        # The worker blocks on the queue for minutes at a time, longer than the short read
        # timeout the rest of the process uses; RQ sets its own on a connection that has none.
        blocking = Redis.from_url(stack.redis_url, socket_timeout=None)
        stack.closers.append(blocking.close)
        run_worker(
            blocking,
            with_cron=with_cron,
            sweep_interval=settings.sweep_interval,
            burst=burst,
            periodic_interval=settings.periodic_interval,
        )
    finally:
        stack.close()
