"""The game / web intake API under /api/v1: bearer-key auth, JSON in and out."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.api_keys import ApiKey, Scope, find_key, unnamed_keys
from handlers.errors import BadRequest, from_ticket_error, from_validation, problem
from ticketcore.calendar import BusinessCalendar
from ticketcore.errors import TicketError
from ticketcore.lifecycle import Status
from ticketcore.links import MAX_TTL
from ticketcore.models import (
    MAX_SUBJECT,
    MAX_TEXT,
    Actor,
    ActorKind,
    Channel,
    HistoryEntry,
    Player,
    Priority,
    Ticket,
)
from ticketcore.search.ast import QueryError
from ticketcore.search.port import Hit, SearchIndex, Viewer
from ticketcore.search.query import parse
from ticketcore.service import UNSET, TicketService
from ticketcore.stats import Period, Stats
from ticketcore.writes import player_actor

MAX_BODY = 1_000_000
MAX_CONTEXT_JSON = 16_000
MAX_CONTEXT_DEPTH = 32
MAX_NUMBER = 2**63 - 1  # the largest integer the store keeps
MAX_PAGE = 100
# As payment APIs take it: any visible ASCII, a UUID being the usual choice.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
REPLAYED = "idempotent-replayed"  # the answer's header when a key was seen before


def by_key(key: Actor) -> str:
    """What a player's words came in by: the API key's name, shown in the history."""
    return f"api:{key.id}"


def idempotency_key(request: Request, caller: Actor) -> str | None:
    """The request's Idempotency-Key as the inbound id of the message it stores, scoped
    to the API key (two integrations may well pick the same keys); None without one."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(raw):
        raise BadRequest("Idempotency-Key: 1 to 255 visible ASCII characters")
    return f"api:{caller.id}:{raw}"


def unstorable(value: Any, depth: int = MAX_CONTEXT_DEPTH) -> str | None:
    """Why the store could not keep this JSON value, or None when it can."""
    if isinstance(value, str):
        return None if is_encodable(value) else "has text with an unpaired surrogate"
    if isinstance(value, int) and not -MAX_NUMBER - 1 <= value <= MAX_NUMBER:
        return "has a number too large to keep (more than 64 bits)"
    if isinstance(value, dict | list):
        if depth == 0:
            return f"must be nested at most {MAX_CONTEXT_DEPTH} levels deep"
        if isinstance(value, dict):
            if any("\x00" in key for key in value):
                return "has a key with a NUL character"
            value = [*value, *value.values()]
        for item in value:
            if problem := unstorable(item, depth - 1):
                return problem
    return None


def is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewTicket(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    player_id: str | None = Field(default=None, min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=254)
    display_name: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT)
    game: str | None = Field(default=None, max_length=64)
    platform: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, min_length=2, max_length=16)
    context: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _needs_someone_to_answer(self) -> NewTicket:
        if self.player_id is None and self.email is None:
            raise ValueError("player_id or email is required")
        return self

    @field_validator("context")
    @classmethod
    def _small_context(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if problem := unstorable(value):
            raise ValueError(problem)
        if len(json.dumps(value)) > MAX_CONTEXT_JSON:
            raise ValueError(f"must be at most {MAX_CONTEXT_JSON} bytes as JSON")
        return value


class FollowUp(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class PlayerLinkRequest(Body):
    player_id: str = Field(min_length=1, max_length=30)
    days: int = Field(default=7, ge=1, le=MAX_TTL.days)


class TicketPatch(Body):
    status: Status | None = None
    priority: Priority | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=200)
    queue: str | None = Field(default=None, min_length=1, max_length=64)
    tags: list[str] | None = Field(default=None, max_length=50)


# ------------------------------------------------------------------ JSON out


def entry_json(entry: HistoryEntry) -> dict[str, Any]:
    assert entry.message is not None
    message = entry.message
    return {
        "id": entry.id,
        "kind": message.kind.value,
        "text": message.text,
        "html": message.html,
        "channel": message.channel.value,
        "author": entry.actor.model_dump(mode="json", exclude_none=True),
        "attachments": [a.model_dump(mode="json") for a in message.attachments],
        "created_at": entry.at.isoformat(),
    }


def ticket_json(
    ticket: Ticket, messages: Sequence[HistoryEntry] = (), before: int | None = None
) -> dict[str, Any]:
    # The opening text is the first of `messages`; refs are the deliveries' own business.
    # Internal bookkeeping stays inside: how outside systems know the ticket, the keys of
    # one-time actions, the mail ids, when the SLA clock is looked at next.
    internal = {
        "id",
        "version",
        "refs",
        "opening_text",
        "done_keys",
        "mail_ids",
        "inbound_ids",
        "sla_next_check",
    }
    body = ticket.model_dump(mode="json", exclude=internal)
    body["messages"] = [entry_json(m) for m in messages]
    body["messages_before"] = encode_cursor(before) if before is not None else None
    return body


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"v": value}).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))["v"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest("is not a cursor this API gave out", field=name) from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_NUMBER:
        raise BadRequest("is not a cursor this API gave out", field=name)
    return value


# ------------------------------------------------------------------ plumbing

Endpoint = Callable[[Request], Awaitable[Response]]


# Makes the deep link that opens the support bot as a player: (player_id, days) -> answer.
LinkMaker = Callable[[str, int], dict[str, Any]]


STATS_FILTERS = ("queue", "channel", "language", "agent")


class IntakeApi:
    def __init__(
        self,
        service: TicketService,
        api_keys: Sequence[ApiKey | str],
        link_maker: LinkMaker | None = None,
        *,
        search: SearchIndex | None = None,
        calendar: Callable[[], BusinessCalendar | None] = lambda: None,
    ) -> None:
        self.service = service
        bare = [k for k in api_keys if isinstance(k, str)]
        self.keys = [k for k in api_keys if isinstance(k, ApiKey)] + unnamed_keys(bare)
        self.link_maker = link_maker
        self.search = search
        self.calendar = calendar  # the SLA calendar of the flows file in force, if any

    def routes(self) -> list[Route]:
        """Every route with the one scope a key needs to use it."""
        tickets, ticket = "/api/v1/tickets", "/api/v1/tickets/{number:int}"
        return [
            Route(tickets, self.guard(Scope.INTAKE, self.create), methods=["POST"]),
            Route(tickets, self.guard(Scope.READ, self.list), methods=["GET"]),
            Route(ticket, self.guard(Scope.READ, self.show), methods=["GET"]),
            Route(ticket, self.guard(Scope.MANAGE, self.patch), methods=["PATCH"]),
            Route(f"{ticket}/messages", self.guard(Scope.INTAKE, self.follow_up), methods=["POST"]),
            Route(
                "/api/v1/player-links",
                self.guard(Scope.LINKS, self.player_link),
                methods=["POST"],
            ),
            Route("/api/v1/stats", self.guard(Scope.READ, self.stats), methods=["GET"]),
        ]

    def caller(self, request: Request) -> ApiKey | None:
        """The key the request is signed with, or None when it has none this API knows."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return find_key(self.keys, token.strip())

    def guard(
        self, scope: Scope, endpoint: Callable[[Request, Actor], Awaitable[Response]]
    ) -> Endpoint:
        """Authenticate, check the key's scope, then turn every refusal into a 4xx."""

        async def guarded(request: Request) -> Response:
            if not self.keys:
                return problem(401, "the intake API is disabled: API_KEYS is not set")
            key = self.caller(request)
            if key is None:
                return problem(
                    401, "missing or wrong API key", hint="send Authorization: Bearer <key>"
                )
            if scope not in key.scopes:
                return problem(403, f"the key {key.name!r} lacks the scope {scope.value!r}")
            number = request.path_params.get("number")
            if number is not None and number > MAX_NUMBER:
                return problem(404, f"ticket #{number} does not exist")
            actor = Actor(kind=ActorKind.INTEGRATION, id=key.name, via="api")
            try:
                return await endpoint(request, actor)
            except BadRequest as exc:
                where = {"field": exc.field} if exc.field else {}
                reason = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
                return problem(exc.status, reason, **where)
            except ValidationError as exc:
                return from_validation(exc)
            except TicketError as exc:
                return from_ticket_error(exc)
            except ValueError as exc:
                return problem(422, str(exc))

        return guarded

    async def body(self, request: Request, model: type[Body]) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY:
            raise BadRequest(f"body is larger than {MAX_BODY} bytes", status=413)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BadRequest(f"body is larger than {MAX_BODY} bytes", status=413)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body is not valid JSON") from None
        except RecursionError:
            raise BadRequest("body is nested too deeply") from None
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object", status=422)
        return model.model_validate(data)

    async def detail(
        self, ticket: Ticket, before: int | None = None, *, replayed: bool = False
    ) -> JSONResponse:
        page = await run_in_threadpool(self.service.messages, ticket, before=before)
        headers = {REPLAYED: "true"} if replayed else None
        return JSONResponse(ticket_json(ticket, page.items, page.before), headers=headers)

    # ------------------------------------------------------------------ endpoints

    async def create(self, request: Request, actor: Actor) -> Response:
        inbound_id = idempotency_key(request, actor)
        body: NewTicket = await self.body(request, NewTicket)
        replayed = await self.stored_with(inbound_id)
        player = Player(
            player_id=body.player_id,
            email=body.email,
            language=body.language,
            display_name=body.display_name,
        )
        context = {**(body.context or {})}
        context.update({k: v for k, v in (("game", body.game), ("platform", body.platform)) if v})
        ticket = (
            replayed
            if replayed is not None
            else await run_in_threadpool(
                lambda: self.service.open_ticket(
                    player=player,
                    channel=Channel.API,
                    text=body.text,
                    subject=body.subject,
                    queue=body.game,
                    context=context,
                    actor=player_actor(player, Channel.API, via=by_key(actor)),
                    inbound_id=inbound_id,
                )
            )
        )
        response = await self.detail(ticket, replayed=replayed is not None)
        response.status_code = 201
        response.headers["location"] = f"/api/v1/tickets/{ticket.number}"
        return response

    async def stored_with(self, inbound_id: str | None) -> Ticket | None:
        """The ticket a request with this Idempotency-Key stored its message on before."""
        if inbound_id is None:
            return None
        return await run_in_threadpool(self.service.stored_with, inbound_id)

    async def show(self, request: Request, actor: Actor) -> Response:
        before = decode_cursor(request.query_params.get("messages_before"), "messages_before")
        ticket = await run_in_threadpool(self.service.get, request.path_params["number"])
        return await self.detail(ticket, before)

    async def list(self, request: Request, actor: Actor) -> Response:
        params = request.query_params
        if "q" in params:
            return await self.find(request)
        unknown = set(params) - {"status", "player_id", "assignee", "limit", "cursor"}
        if unknown:
            raise BadRequest(f"unknown query parameter {sorted(unknown)[0]!r}")
        status = None
        if params.get("status"):
            try:
                status = Status(params["status"])
            except ValueError:
                allowed = ", ".join(s.value for s in Status)
                raise BadRequest(f"must be one of {allowed}", field="status") from None
        raw_limit = params.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            raise BadRequest(f"must be a whole number from 1 to {MAX_PAGE}", field="limit")
        limit = int(raw_limit)
        before = decode_cursor(params.get("cursor"), "cursor")
        tickets = await run_in_threadpool(
            lambda: self.service.find(
                status=status,
                player_id=params.get("player_id") or None,
                assignee=params.get("assignee") or None,
                before_number=before,
                limit=limit + 1,
            )
        )
        more = len(tickets) > limit
        tickets = tickets[:limit]
        cursor = encode_cursor(tickets[-1].number) if more else None
        return JSONResponse({"items": [ticket_json(t) for t in tickets], "next_cursor": cursor})

    async def find(self, request: Request) -> Response:
        """`?q=` in the agents' query language: relevance first, with snippets, paged."""
        params = request.query_params
        unknown = set(params) - {"q", "limit", "cursor"}
        if unknown:
            raise BadRequest(f"unknown query parameter {sorted(unknown)[0]!r} with q")
        if self.search is None:
            raise BadRequest("search is not configured", status=503)
        raw_limit = params.get("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            raise BadRequest(f"must be a whole number from 1 to {MAX_PAGE}", field="limit")
        try:
            query = parse(params["q"], today=self.service.clock().date())
        except QueryError as exc:
            raise BadRequest(str(exc), field="q") from None
        if query.is_empty:
            raise BadRequest("say what to look for, e.g. q=refund status:new", field="q")
        search = self.search
        # The game's API sees what players see: no internal notes.
        viewer = Viewer(is_agent=False)

        def run() -> tuple[Any, list[tuple[Hit, Ticket]]]:
            search.refresh()
            page = search.search(
                query, viewer=viewer, limit=int(raw_limit), cursor=params.get("cursor")
            )
            return page, self.service.found(page)

        try:
            page, found = await run_in_threadpool(run)
        except QueryError as exc:  # a cursor from elsewhere
            raise BadRequest(str(exc), field="cursor") from None
        items = [
            ticket_json(t) | {"snippet": hit.snippet, "score": round(hit.score, 4)}
            for hit, t in found
        ]
        return JSONResponse({"items": items, "next_cursor": page.cursor})

    async def stats(self, request: Request, actor: Actor) -> Response:
        """The KPI report (docs/metrics.md) for `since` (default 30d), optionally narrowed."""
        params = request.query_params
        unknown = set(params) - {"since", *STATS_FILTERS}
        if unknown:
            raise BadRequest(f"unknown query parameter {sorted(unknown)[0]!r}")
        stats = Stats(self.service.store, self.calendar())
        try:
            period = Period.parse(
                params.get("since", "30d"), now=self.service.clock(), zone=stats.zone
            )
        except ValueError as exc:
            raise BadRequest(str(exc), field="since") from None
        narrow = {name: params.get(name) or None for name in STATS_FILTERS}
        report = await run_in_threadpool(
            lambda: stats.report(
                period,
                queue=narrow["queue"],
                channel=narrow["channel"],
                language=narrow["language"],
                agent=narrow["agent"],
            )
        )
        return JSONResponse(report.to_json())

    async def follow_up(self, request: Request, actor: Actor) -> Response:
        inbound_id = idempotency_key(request, actor)
        body: FollowUp = await self.body(request, FollowUp)
        number = request.path_params["number"]
        replayed = await self.stored_with(inbound_id)
        ticket = (
            replayed
            if replayed is not None
            else await run_in_threadpool(
                lambda: self.service.add_player_message_to(
                    number,
                    text=body.text,
                    channel=Channel.API,
                    via=by_key(actor),
                    inbound_id=inbound_id,
                )
            )
        )
        response = await self.detail(ticket, replayed=replayed is not None)
        response.status_code = 201 if ticket.number != number else 200
        return response

    async def player_link(self, request: Request, actor: Actor) -> Response:
        """For the game: a Telegram link that opens the support bot as this player."""
        if self.link_maker is None:
            return problem(404, "player links need TELEGRAM_BOT_TOKEN and PLAYER_LINK_SECRET")
        body: PlayerLinkRequest = await self.body(request, PlayerLinkRequest)
        answer = await run_in_threadpool(self.link_maker, body.player_id, body.days)
        return JSONResponse(answer, status_code=201)

    async def patch(self, request: Request, actor: Actor) -> Response:
        body: TicketPatch = await self.body(request, TicketPatch)
        given = body.model_fields_set
        ticket = await run_in_threadpool(
            lambda: self.service.change(
                request.path_params["number"],
                actor=actor,
                status=body.status,
                priority=body.priority,
                assignee=body.assignee if "assignee" in given else UNSET,
                queue=body.queue if "queue" in given else UNSET,
                set_tags=body.tags,
            )
        )
        return await self.detail(ticket)
