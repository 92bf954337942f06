"""`helpdesk worker`: an RQ worker, with the cron that drives periodic jobs beside it."""

from __future__ import annotations

import logging
import threading
import time
from types import FrameType

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from jobs.periodic import every_minute
from jobs.runtime import QUEUE_NAME, SINGLE_QUEUE_NAME, URGENT_QUEUE_NAME
from jobs.sweeper import sweep

log = logging.getLogger(__name__)

RECONNECT = 2  # seconds before a worker that lost Redis works again
# Seconds between looks at the worker's command channel. RQ looks every 60 s, and redis-py
# (from 8) waits for that look to end when the worker stops: a stopping worker could hang
# a minute after its last job.
PUBSUB_POLL = 0.5


def start_cron(
    connection: Redis, *, sweep_interval: int, stop: threading.Event, periodic_interval: int = 60
) -> threading.Thread:
    """Run RQ's cron scheduler loop in a thread: it only enqueues, workers run the jobs."""
    scheduler = CronScheduler(
        connection=connection, name=f"helpdesk-cron-{threading.get_native_id()}"
    )
    scheduler.register(sweep, queue_name=QUEUE_NAME, interval=sweep_interval, result_ttl=60)
    scheduler.register(
        every_minute, queue_name=QUEUE_NAME, interval=periodic_interval, result_ttl=300
    )

    def loop() -> None:
        scheduler.register_birth()
        try:
            while not stop.is_set():
                try:
                    if scheduler.enqueue_jobs():
                        scheduler.save()
                    scheduler.heartbeat()
                except Exception:  # Redis restarting: keep the loop, try again shortly
                    log.exception("cron could not enqueue; retrying")
                stop.wait(max(0.5, min(scheduler.calculate_sleep_interval(), 5.0)))
        finally:
            try:
                scheduler.register_death()
            except Exception:
                log.debug("cron could not record its shutdown", exc_info=True)

    thread = threading.Thread(target=loop, name="helpdesk-cron", daemon=True)
    thread.start()
    return thread


class Worker(SimpleWorker):
    """RQ's worker, remembering whether it was asked to stop (SIGTERM, Ctrl-C), and quick
    to stop."""

    asked_to_stop = False

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # RQ's own, but with the short poll (RQ declares the attribute as None).
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=PUBSUB_POLL, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.asked_to_stop = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run_worker(
    connection: Redis,
    *,
    with_cron: bool,
    sweep_interval: int,
    burst: bool = False,
    periodic_interval: int = 60,
) -> None:
    """Work the queue until stopped. Jobs run in this process (no fork per job), so they
    reuse its database connections; every job is idempotent, so a crash only delays work."""
    stop = threading.Event()
    if with_cron:
        start_cron(
            connection,
            sweep_interval=sweep_interval,
            stop=stop,
            periodic_interval=periodic_interval,
        )
    names = [URGENT_QUEUE_NAME, QUEUE_NAME, *([SINGLE_QUEUE_NAME] if with_cron else [])]
    queues = [Queue(name, connection=connection) for name in names]
    try:
        while True:
            worker = Worker(queues, connection=connection)
            try:
                # The scheduler runs jobs enqueued for later: debounced card updates and
                # retries at the moment a platform asked for (Retry-After).
                worker.work(burst=burst, logging_level="WARNING", with_scheduler=True)
                if burst or worker.asked_to_stop:
                    return
                # RQ also returns when its loop meets an error, such as Redis resetting the
                # connection during a heartbeat: that must not end the process.
                log.warning("the worker stopped on an error; working again in %ss", RECONNECT)
                time.sleep(RECONNECT)
            except RedisConnectionError:
                # Redis restarted or the network blinked: RQ gives up; work again once it
                # answers (what it lost is still owed in the outbox; the sweeper re-queues it).
                if burst:
                    raise
                log.warning("lost the connection to Redis; working again in %ss", RECONNECT)
                time.sleep(RECONNECT)
    finally:
        stop.set()
