"""/healthz: can this process reach its store and its queue, and is the outbox draining?"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jobs.runtime import Runtime


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
    if checks["store"] == "ok":
        checks["outbox"] = runtime.outbox.counts()
    return healthy, checks


def healthz(runtime: Runtime) -> Any:
    async def endpoint(request: Request) -> Response:
        healthy, checks = await run_in_threadpool(probe, runtime)
        body = {"status": "ok" if healthy else "unhealthy", "checks": checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    return endpoint
