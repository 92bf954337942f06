"""/healthz and /metrics: can this process reach its store and queue, is the outbox draining?"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from jobs.runtime import Runtime
from ticketcore.lifecycle import Status


def probe(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    healthy = True
    try:
        runtime.store.db.command("ping")
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}"
        healthy = False
    try:
        runtime.queue.connection.ping()
        checks["queue"] = {"state": "ok", "waiting_jobs": runtime.queue.count}
    except Exception as exc:
        checks["queue"] = f"unreachable: {type(exc).__name__}"
        healthy = False
    checks["search"] = "disabled"
    if runtime.search is not None:
        try:
            checks["search"] = runtime.search.health()
        except Exception as exc:  # searches fail, but tickets still come in and go out
            checks["search"] = f"unreachable: {type(exc).__name__}"
    if checks["store"] == "ok":
        checks["outbox"] = runtime.outbox.counts()
    return healthy, checks


def healthz(runtime: Runtime) -> Any:
    async def endpoint(request: Request) -> Response:
        healthy, checks = await run_in_threadpool(probe, runtime)
        degraded = str(checks.get("search", "")).startswith("unreachable")
        status = "unhealthy" if not healthy else "degraded" if degraded else "ok"
        body = {"status": status, "checks": checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    return endpoint


def queues(runtime: Runtime) -> list[Any]:
    """The queues this runtime enqueues on (normal, urgent, the index writer's), once each."""
    found = [runtime.queue, runtime.urgent_queue, runtime.single_queue]
    return list({q.name: q for q in found if q is not None}.values())


def metrics(runtime: Runtime) -> Any:
    """Prometheus text: tickets by status, owed and dead effects, queued jobs."""

    def collect() -> str:
        lines = ["# HELP helpdesk_tickets Tickets by status.", "# TYPE helpdesk_tickets gauge"]
        for status in Status:
            count = runtime.store.tickets.count_documents({"status": status.value})
            lines.append(f'helpdesk_tickets{{status="{status.value}"}} {count}')
        lines += [
            "# HELP helpdesk_outbox_effects Effects owed by tickets, by state.",
            "# TYPE helpdesk_outbox_effects gauge",
        ]
        for state, count in runtime.outbox.counts().items():
            lines.append(f'helpdesk_outbox_effects{{state="{state}"}} {count}')
        lines += [
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
        if runtime.metrics is not None:
            lines += runtime.metrics.lines()
        return "\n".join(lines) + "\n"

    async def endpoint(request: Request) -> Response:
        try:
            body = await run_in_threadpool(collect)
        except Exception as exc:  # a scrape must say why it failed, not crash
            return PlainTextResponse(f"# unavailable: {type(exc).__name__}\n", status_code=503)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    return endpoint
