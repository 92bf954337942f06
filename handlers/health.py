"""/healthz and /metrics: can this process reach what it needs, what do the tickets owe?

Both are cheap whatever the request rate: each works out what touches the store at most
once per window and answers every other request from that.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from handlers.cached import Cached
from handlers.errors import problem
from jobs.runtime import Runtime

log = logging.getLogger(__name__)

HEALTH_SECONDS = 5.0  # a flood of /healthz costs one probe per window
METRICS_SECONDS = 5.0  # the store is counted for /metrics at most once per window
REQUIRED = ("store", "queue")  # without them nothing comes in or goes out: unhealthy
# Optional ones only degrade: searches fail, but tickets still come in and go out.


def dependencies(runtime: Runtime) -> dict[str, Callable[[], object]]:
    """Each dependency of this process by name, with a call that raises when it is down."""
    checks: dict[str, Callable[[], object]] = {
        "store": lambda: runtime.store.db.command("ping"),
        "queue": lambda: runtime.queue.connection.ping(),
    }
    if runtime.search is not None:
        checks["search"] = runtime.search.health
    return checks


def failing(runtime: Runtime) -> list[str]:
    """The names of the dependencies this process cannot reach now."""
    down = []
    for name, check in dependencies(runtime).items():
        try:
            check()
        except Exception as exc:  # the reason goes to the log, not to whoever asked
            log.warning("health: %s is unreachable (%s: %s)", name, type(exc).__name__, exc)
            down.append(name)
    return down


def health_status(down: list[str]) -> str:
    if any(name in REQUIRED for name in down):
        return "unhealthy"
    return "degraded" if down else "ok"


def healthz(runtime: Runtime, *, seconds: float = HEALTH_SECONDS) -> Any:
    """ok, degraded or unhealthy (503) with the failing dependencies' names, nothing more."""
    probe = Cached(lambda: failing(runtime), seconds=seconds, clock=runtime.clock)

    async def endpoint(request: Request) -> Response:
        down = await run_in_threadpool(probe.get)
        status = health_status(down)
        body = {"status": status, "failing": down}
        return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)

    return endpoint


def queues(runtime: Runtime) -> list[Any]:
    """The queues this runtime enqueues on (normal, urgent, the index writer's), once each."""
    found = [runtime.queue, runtime.urgent_queue, runtime.single_queue]
    return list({q.name: q for q in found if q is not None}.values())


def store_lines(runtime: Runtime) -> list[str]:
    """The gauges read from the store: tickets by status, effects owed and dead."""
    lines = ["# HELP helpdesk_tickets Tickets by status.", "# TYPE helpdesk_tickets gauge"]
    for status, count in runtime.service.count_by_status().items():
        lines.append(f'helpdesk_tickets{{status="{status.value}"}} {count}')
    lines += [
        "# HELP helpdesk_outbox_effects Effects owed by tickets, by state.",
        "# TYPE helpdesk_outbox_effects gauge",
    ]
    for state, count in runtime.outbox.counts().items():
        lines.append(f'helpdesk_outbox_effects{{state="{state}"}} {count}')
    return lines


def queue_lines(runtime: Runtime) -> list[str]:
    """The gauges read from Redis: jobs waiting and jobs failed, by queue."""
    return [
        "# HELP helpdesk_queue_jobs Jobs waiting, by queue.",
        "# TYPE helpdesk_queue_jobs gauge",
        *(f'helpdesk_queue_jobs{{queue="{q.name}"}} {q.count}' for q in queues(runtime)),
        "# HELP helpdesk_failed_jobs Jobs RQ gave up on (see the runbook), by queue.",
        "# TYPE helpdesk_failed_jobs gauge",
        *(
            f'helpdesk_failed_jobs{{queue="{q.name}"}} {q.failed_job_registry.count}'
            for q in queues(runtime)
        ),
    ]


def is_allowed(request: Request, token: str | None) -> bool:
    """True when no token is asked for, or the request carries it as a bearer token."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def metrics(runtime: Runtime, *, token: str | None = None, seconds: float = METRICS_SECONDS) -> Any:
    """Prometheus text: tickets by status, owed and dead effects, queued jobs, counters.

    The store's gauges are at most `seconds` old; Redis' are read on every scrape."""
    counted = Cached(lambda: store_lines(runtime), seconds=seconds, clock=runtime.clock)

    def collect() -> str:
        lines = [*counted.get(), *queue_lines(runtime)]
        if runtime.metrics is not None:
            lines += runtime.metrics.lines()
        return "\n".join(lines) + "\n"

    async def endpoint(request: Request) -> Response:
        if not is_allowed(request, token):
            return problem(
                401,
                "missing or wrong metrics token",
                hint="send Authorization: Bearer <METRICS_TOKEN>",
            )
        try:
            body = await run_in_threadpool(collect)
        except Exception as exc:  # a scrape must say why it failed, not crash
            return PlainTextResponse(f"# unavailable: {type(exc).__name__}\n", status_code=503)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    return endpoint
