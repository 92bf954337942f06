"""The ASGI application: every inbound HTTP route in one table."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.api import IntakeApi, LinkMaker
from handlers.api_keys import ApiKey
from handlers.body_limit import ROUTE_LIMITS, BodyLimit, BodyLimits
from handlers.health import healthz, metrics
from handlers.mailgun import MailgunInbound
from handlers.rating import RatingPages
from handlers.request_context import RequestContext
from handlers.slack import SlackEndpoint
from handlers.telegram import TelegramChannel
from jobs.runtime import Runtime
from ticketcore.stats import business_calendar

log = logging.getLogger(__name__)

# The store or the queue cannot be reached for now (the embedded server restarting, a
# failover): a 503 tells the caller to send again, as every platform that resends does.
UNAVAILABLE = (ConnectionFailure, RedisConnectionError)
RETRY_AFTER_SECONDS = 5


async def unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: %s unavailable (%s)", request.method, request.url.path, _which(exc), exc)
    return JSONResponse(
        {"error": f"the helpdesk's {_which(exc)} is unavailable for a moment; send it again"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _which(exc: Exception) -> str:
    return "store" if isinstance(exc, ConnectionFailure) else "queue"


async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no route for {request.method} {request.url.path}"}, 404)


async def wrong_method(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed here"}, 405)


def create_app(
    runtime: Runtime,
    *,
    api_keys: Sequence[ApiKey | str],
    metrics_token: str | None = None,
    slack: SlackEndpoint | None = None,
    telegram: TelegramChannel | None = None,
    link_maker: LinkMaker | None = None,
    mail: MailgunInbound | None = None,
    rating: RatingPages | None = None,
    body_limits: BodyLimits = BodyLimits(ROUTE_LIMITS),  # noqa: B008 (frozen)
) -> Starlette:
    flows = runtime.flows_file
    api = IntakeApi(
        runtime.service,
        api_keys,
        link_maker,
        search=runtime.search,
        calendar=lambda: business_calendar(flows.current().sla if flows is not None else None),
    )
    routes = [
        Route("/healthz", healthz(runtime), methods=["GET"]),
        Route("/metrics", metrics(runtime, token=metrics_token), methods=["GET"]),
        *api.routes(),
    ]
    if slack is not None:
        routes.append(Route("/slack/events", slack.handle, methods=["POST"]))
    if telegram is not None:
        routes += telegram.routes()
    if mail is not None:
        routes += mail.routes()
    if rating is not None:
        routes += rating.routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if telegram is not None:
            await telegram.startup()
        try:
            yield
        finally:
            if telegram is not None:
                await telegram.shutdown()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext), Middleware(BodyLimit, limits=body_limits)],
        exception_handlers={
            404: not_found,
            405: wrong_method,
            **dict.fromkeys(UNAVAILABLE, unavailable),
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
