"""Wiring: the core, its adapters and the edges built from Settings. The one place that
decides what is enabled."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from elastic_transport.client_utils import DEFAULT
from elasticsearch import Elasticsearch
from elasticsearch.exceptions import ApiError, TransportError
from rq import Queue
from slack_bolt import App
from starlette.applications import Starlette
from telegram import Bot
from telegram.ext import AIORateLimiter, Application

from bot.email.mailgun import MailgunMailer
from bot.email.render import MailTemplates, TemplateProblem
from bot.email.smtp import SmtpMailer
from bot.game.accounts import AccountLookup
from bot.slack.access import Access
from bot.slack.cards import CardStyle
from bot.slack.client import web_client
from bot.slack.hooks import CardHooks
from bot.slack.poster import SlackPoster
from bot.telegram.sender import TelegramSender
from bot.telegram.texts import Texts
from handlers.api_keys import ApiKey
from handlers.body_limit import ROUTE_LIMITS, BodyLimits
from handlers.mailgun import AttachmentLimits, MailgunInbound
from handlers.rating import RatingPages
from handlers.slack import SlackEndpoint, SlackWorkspace
from handlers.slack_incidents import IncidentListeners
from handlers.slack_stats import StatsCommand
from handlers.telegram import SupportBot, TelegramChannel
from handlers.web import create_app
from helpdesk.keys import secret_key
from helpdesk.settings import Settings, StartupError, redact, utc_now
from jobs import accounts as account_jobs
from jobs import flows as flow_jobs
from jobs import mail as mail_jobs
from jobs import search as search_jobs
from jobs import slack as slack_jobs
from jobs import storms
from jobs import telegram as telegram_jobs
from jobs.digest import Digest
from jobs.effects import CORE_BATCH_HANDLERS, CORE_HANDLERS
from jobs.mail import MailDelivery
from jobs.metrics import Metrics
from jobs.notices import deliver_due_notices
from jobs.runtime import (
    QUEUE_NAME,
    SINGLE_QUEUE_NAME,
    URGENT_QUEUE_NAME,
    QueueRoutes,
    ReplyRoute,
    Runtime,
    check_handlers,
)
from jobs.slack import SlackDelivery
from jobs.storms import start_action
from jobs.telegram import TelegramDelivery
from ticketcore.accounts import parse_fields
from ticketcore.agents import Roster
from ticketcore.effects import CORE_KINDS, EffectKind, EffectTable, Lane
from ticketcore.files import LocalFiles, is_stored_file
from ticketcore.flows import FlowsError
from ticketcore.flows_file import FlowsFileHolder, load_flows_file
from ticketcore.incidents import Incidents
from ticketcore.links import deep_link, make_token, rating_token
from ticketcore.macros import Macros
from ticketcore.mail import Mailer
from ticketcore.mail.files import FileMailer
from ticketcore.mail.once import SendOnce
from ticketcore.models import Channel
from ticketcore.outbox import Outbox
from ticketcore.players import Directory
from ticketcore.search.elastic import ElasticIndex
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.search.port import RebuildableIndex
from ticketcore.service import TicketService
from ticketcore.stats import Stats, business_calendar
from ticketcore.store import Store

if TYPE_CHECKING:  # the stack builds its runtime here: a cycle at run time
    from helpdesk.stack import Stack

log = logging.getLogger("helpdesk")


def build_runtime(stack: Stack) -> Runtime:
    """Wire the core to its adapters: one place that decides what is enabled."""
    settings = stack.settings
    store = Store.connect(stack.mongo, settings.mongodb_db)
    queue = Queue(QUEUE_NAME, connection=stack.redis)
    urgent_queue = Queue(URGENT_QUEUE_NAME, connection=stack.redis)
    # Each enabled feature adds its kinds of effect (declared beside their handlers) and
    # the handlers; the table made of the declarations decides the rest.
    kinds: list[EffectKind] = list(CORE_KINDS)
    handlers = dict(CORE_HANDLERS)
    batch_handlers = dict(CORE_BATCH_HANDLERS)
    refs: tuple[str, ...] = ()
    macros = Macros.load(settings.macros_file)
    flows = flows_file(settings, macros)
    if flows is not None:
        kinds += [flow_jobs.kind(flows), storms.KIND]
        handlers[flow_jobs.FLOWS_RUN] = flow_jobs.run_flows
        handlers[storms.STORM_DETECT] = storms.detect
    accounts = account_lookup(stack)
    if accounts is not None:
        kinds.append(account_jobs.kind(accounts.ttl))
        handlers[account_jobs.ACCOUNT_LOOKUP] = account_jobs.look_up_account
        stack.closers.append(accounts.close)
    slack = slack_delivery(stack)
    if slack is not None:
        kinds += slack_jobs.KINDS
        handlers.update(slack.handlers())
        refs += (slack_jobs.CARD_REF,)
    reply_routes: dict[Channel, ReplyRoute] = {}
    telegram = telegram_delivery(stack)
    if telegram is not None:
        kinds += telegram_jobs.KINDS
        handlers.update(telegram.handlers())
        reply_routes[Channel.TELEGRAM] = telegram.reply
        stack.closers.append(telegram.sender.close)
    mail = mail_delivery(stack, store)
    kinds += mail_jobs.KINDS
    handlers.update(mail.handlers())
    reply_routes[Channel.EMAIL] = mail.reply
    if slack is not None:  # players' photos and files, copied into the card's thread
        slack.poster.fetch_file = file_reader(stack, telegram)

    search = search_index(stack)
    if search.is_new and (count := store.tickets.estimated_document_count()):
        log.warning(
            "the search index is new and empty, but the store holds %d tickets: run "
            "`helpdesk reindex` to make them searchable (new changes are indexed meanwhile)",
            count,
        )
    kinds.append(search_jobs.KIND)
    batch_handlers[search_jobs.SEARCH_INDEX] = search_jobs.index_tickets
    effects = EffectTable.of(kinds)
    check_handlers(effects, handlers, batch_handlers)
    store.ensure_indexes(refs=refs)
    single_queue = Queue(SINGLE_QUEUE_NAME, connection=stack.redis)
    urgent, single = effects.lane(Lane.URGENT), effects.lane(Lane.SINGLE)
    routing = QueueRoutes(queue, urgent_queue, urgent, single_queue, single, effects.drained)
    service = TicketService(
        store,
        utc_now,
        dispatcher=routing.dispatcher(effects.delays),
        subscriptions=effects.subscriptions(),
        outbox=Outbox(
            store, lease=timedelta(seconds=settings.outbox_lease), delays=settings.retry_delays()
        ),
        sla=(lambda: flows.current().sla) if flows is not None else (lambda: None),
    )
    return Runtime(
        store=store,
        service=service,
        queue=queue,
        clock=utc_now,
        sweep_grace=timedelta(seconds=settings.outbox_grace),
        urgent_queue=urgent_queue,
        urgent=urgent,
        single_queue=single_queue,
        single=single,
        handlers=handlers,
        batch_handlers=batch_handlers,
        reply_routes=reply_routes,
        flows_file=flows,
        macros=macros,
        search=search,
        accounts=accounts,
        digest=daily_digest(stack, store, slack, flows),
        metrics=Metrics(stack.redis),
    )


def daily_digest(
    stack: Stack, store: Store, slack: SlackDelivery | None, flows: FlowsFileHolder | None
) -> Digest | None:
    """Yesterday's numbers in the leads' channel every day, when Slack and the hour are set."""
    settings = stack.settings
    if slack is None or not settings.slack_leads_channel or settings.stats_digest_hour is None:
        return None

    return Digest(
        store=store,
        client=slack.poster.client,
        channel=settings.slack_leads_channel,
        hour=settings.stats_digest_hour,
        stats=lambda: Stats(store, business_calendar(flows.current().sla if flows else None)),
    )


def account_lookup(stack: Stack) -> AccountLookup | None:
    """The game's admin API behind a Redis cache, when ACCOUNT_API_URL is set."""
    settings = stack.settings
    if not settings.account_api_url:
        return None

    try:
        fields = parse_fields(settings.account_fields or "")
        return AccountLookup(
            settings.account_api_url,
            redis=stack.redis,
            clock=utc_now,
            token=settings.account_api_token,
            fields=fields,
            ttl=settings.account_cache_ttl,
            timeout=settings.account_timeout,
        )
    except ValueError as exc:
        raise StartupError(f"ACCOUNT_API_URL / ACCOUNT_FIELDS: {exc}") from exc


def search_index(stack: Stack) -> RebuildableIndex:
    """Elasticsearch when ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID is set (the index
    behind an alias), else the embedded on-disk index under DATA_DIR/search."""
    client = elastic_client(stack.settings)
    if client is None:
        return EmbeddedIndex(stack.data_dir / "search")
    index = ElasticIndex(client)
    try:
        index.ensure()
    except (ApiError, TransportError) as exc:
        where = stack.settings.elasticsearch_cloud_id or redact(
            stack.settings.elasticsearch_url or ""
        )
        raise StartupError(
            f"Elasticsearch at {where} does not answer or refuses ({type(exc).__name__}); "
            "check ELASTICSEARCH_URL / ELASTICSEARCH_CLOUD_ID and its credentials, or leave "
            "both unset to use the embedded index"
        ) from exc
    return index


def elastic_client(settings: Settings) -> Elasticsearch | None:
    """The Elasticsearch client the settings describe, or None for the embedded index.
    Contradictory or half-given credentials refuse to start, naming the setting."""
    url, cloud_id = settings.elasticsearch_url, settings.elasticsearch_cloud_id
    user, password = settings.elasticsearch_username, settings.elasticsearch_password
    api_key, ca_certs = settings.elasticsearch_api_key, settings.elasticsearch_ca_certs
    if not url and not cloud_id:
        if api_key or user or password or ca_certs:
            raise StartupError(
                "ELASTICSEARCH_* credentials are set without ELASTICSEARCH_URL or "
                "ELASTICSEARCH_CLOUD_ID: set one of those, or unset the credentials"
            )
        return None
    if url and cloud_id:
        raise StartupError("set ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID, not both")
    if bool(user) != bool(password):
        raise StartupError("ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD go together")
    if api_key and user:
        raise StartupError("set ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/PASSWORD, not both")
    if ca_certs is not None and not ca_certs.is_file():
        raise StartupError(f"ELASTICSEARCH_CA_CERTS {ca_certs} is not a file")
    return Elasticsearch(
        url or None,
        cloud_id=cloud_id or None,
        api_key=api_key or None,
        basic_auth=(user, password) if user and password else None,
        ca_certs=str(ca_certs) if ca_certs is not None else DEFAULT,
        request_timeout=10,
    )


def mailer_for(stack: Stack) -> Mailer:
    """Mailgun when its key and domain are set, else SMTP_URL, else .eml files in
    DATA_DIR/outbox (so a one-machine install shows what it would send)."""
    settings = stack.settings
    if bool(settings.mailgun_api_key) != bool(settings.mailgun_domain):
        raise StartupError("set both MAILGUN_API_KEY and MAILGUN_DOMAIN to send with Mailgun")
    if settings.mailgun_api_key and settings.mailgun_domain:
        return MailgunMailer(
            settings.mailgun_api_key, settings.mailgun_domain, settings.mailgun_api_url
        )
    if settings.smtp_url:
        try:
            return SmtpMailer(settings.smtp_url, utc_now)
        except ValueError as exc:
            raise StartupError(str(exc)) from exc

    return FileMailer(stack.data_dir / "outbox", utc_now)


def mail_templates(settings: Settings) -> MailTemplates:
    """The players' mail templates, each rendered once now: a broken one stops the start."""
    templates = MailTemplates(brand=settings.support_name, support_address=settings.support_email)
    try:
        templates.check()
    except TemplateProblem as exc:
        raise StartupError(f"{exc}; fix the template and start again") from exc
    return templates


def mail_delivery(stack: Stack, store: Store) -> MailDelivery:
    """Replies, confirmations and CSAT questions to players who write by mail."""
    settings = stack.settings
    secret = secret_key(settings, stack.data_dir, stack.embedded)
    base = public_url(settings)

    def rating_urls(number: int, resolution: int) -> dict[int, str]:
        token = rating_token(number, resolution, secret=secret)
        return {score: f"{base}/rate/{token}?score={score}" for score in range(1, 6)}

    return MailDelivery(
        mailer=SendOnce(mailer_for(stack), store, utc_now),
        templates=mail_templates(settings),
        support_address=settings.support_email,
        support_name=settings.support_name,
        rating_urls=rating_urls,
        reply_hours=settings.support_reply_hours,
        email_code_minutes=settings.email_code_minutes,
    )


def public_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://{settings.host}:{settings.port}"


def file_reader(stack: Stack, telegram: TelegramDelivery | None) -> Callable[[str], bytes]:
    """Read a player's file by its reference: kept by us (mail attachments) or on Telegram."""
    files = LocalFiles(stack.data_dir / "files")

    def read(ref: str) -> bytes:
        if is_stored_file(ref):
            return files.get(ref)
        if telegram is not None:
            return bytes(telegram.sender.fetch_file(ref))
        raise LookupError(f"no way to read {ref[:80]}")

    return read


def mail_inbound(
    stack: Stack, runtime: Runtime, clock: Callable[[], datetime] = utc_now
) -> MailgunInbound | None:
    """POST /mailgun/inbound, when Mailgun's webhook signing key is set; `clock` counts
    the hours of the new-ticket limit."""
    settings = stack.settings
    if not settings.mailgun_webhook_signing_key:
        log.info("inbound mail is off: set MAILGUN_WEBHOOK_SIGNING_KEY to take mail from Mailgun")
        return None

    per_file = settings.mail_max_attachment_mb * 1024 * 1024
    return MailgunInbound(
        runtime.service,
        stack.redis,
        LocalFiles(stack.data_dir / "files"),
        settings.mailgun_webhook_signing_key,
        own_addresses=(settings.support_email,),
        limits=AttachmentLimits(per_file=per_file, per_mail=max(per_file, 25 * 1024 * 1024)),
        new_tickets_per_hour=settings.mail_new_tickets_per_hour,
        clock=clock,
    )


def rating_pages(stack: Stack, runtime: Runtime) -> RatingPages:
    secret = secret_key(stack.settings, stack.data_dir, stack.embedded)
    return RatingPages(runtime.service, secret)


def telegram_api_urls(settings: Settings) -> tuple[str, str]:
    root = (settings.telegram_api_url or "https://api.telegram.org").rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def telegram_delivery(stack: Stack) -> TelegramDelivery | None:
    """Replies, notices and CSAT questions to players on Telegram, when a token is set."""
    settings = stack.settings
    if not settings.telegram_bot_token:
        return None

    base_url, base_file_url = telegram_api_urls(settings)
    bot = Bot(settings.telegram_bot_token, base_url=base_url, base_file_url=base_file_url)
    return TelegramDelivery(
        sender=TelegramSender(bot=bot, redis=stack.redis),
        texts=Texts(),
        reply_hours=settings.support_reply_hours,
    )


def notice_dispatch(runtime: Runtime) -> Callable[[], None]:
    """Hands the notices just owed on player records to a worker (jobs.notices)."""
    queue = runtime.urgent_queue or runtime.queue

    def dispatch() -> None:
        queue.enqueue(deliver_due_notices)

    return dispatch


def telegram_channel(stack: Stack, runtime: Runtime) -> TelegramChannel | None:
    """The players' bot: webhook with TELEGRAM_WEBHOOK_URL, else long polling; or None."""
    settings = stack.settings
    if not settings.telegram_bot_token:
        log.info("Telegram is disabled: set TELEGRAM_BOT_TOKEN")
        return None
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        raise StartupError(
            "TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)"
        )

    base_url, base_file_url = telegram_api_urls(settings)
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=2))
    )
    if settings.telegram_webhook_url:
        builder = builder.updater(None)
    application = builder.build()
    if not settings.player_link_secret:
        log.warning("PLAYER_LINK_SECRET is not set: deep links from the game are refused")
    support_bot = SupportBot(
        service=runtime.service,
        directory=Directory(runtime.store),
        texts=Texts(),
        redis=stack.redis,
        clock=utc_now,
        link_secret=settings.player_link_secret,
        new_tickets_per_hour=settings.telegram_new_tickets_per_hour,
        email_code_minutes=settings.email_code_minutes,
        email_code_attempts=settings.email_code_attempts,
        email_codes_per_hour=settings.email_codes_per_hour,
        notices_owed=notice_dispatch(runtime),
        # Polling has no resend to rely on; a webhook does (SupportBot.store_retries).
        store_retries=() if settings.telegram_webhook_url else runtime.service.outbox.delays,
    )
    support_bot.register(application)
    return TelegramChannel(
        application=application,
        bot=support_bot,
        webhook_url=settings.telegram_webhook_url,
        secret=settings.telegram_webhook_secret,
    )


def slack_delivery(stack: Stack) -> SlackDelivery | None:
    """Cards and threads in Slack, when a bot token and a triage channel are set."""
    settings = stack.settings
    if not settings.slack_enabled():
        return None

    assert settings.slack_bot_token and settings.slack_triage_channel
    poster = SlackPoster(
        client=web_client(settings.slack_bot_token, settings.slack_api_url),
        redis=stack.redis,
        post_rate=settings.slack_post_rate,
        update_rate=settings.slack_update_rate,
        hooks=CardHooks.for_api(stack.redis, settings.slack_api_url),
    )
    return SlackDelivery(
        poster=poster,
        redis=stack.redis,
        triage_channel=settings.slack_triage_channel,
        leads_channel=settings.slack_leads_channel,
        queue_channels=settings.queue_channels(),
        style=CardStyle(admin_url=settings.account_admin_url),
    )


def stats_of(runtime: Runtime) -> Stats:
    """The KPI reports over the store, in the flows file's SLA calendar if it sets one."""
    flows = runtime.flows_file
    return Stats(runtime.store, business_calendar(flows.current().sla if flows else None))


def slack_app(stack: Stack, runtime: Runtime) -> App | None:
    """The Bolt app answering buttons, modals, commands and events, or None (disabled)."""
    settings = stack.settings
    if not settings.slack_enabled() or not (
        settings.slack_signing_secret or settings.slack_app_token
    ):
        log.info(
            "Slack is disabled: set SLACK_BOT_TOKEN, SLACK_TRIAGE_CHANNEL and "
            "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)"
        )
        return None

    assert settings.slack_bot_token
    client = web_client(settings.slack_bot_token, settings.slack_api_url)
    app = App(
        client=client,
        # Socket Mode alone mounts no HTTP route (see `slack_http`); the secret nobody knows
        # still makes any HTTP request handed to this app fail its signature check.
        signing_secret=settings.slack_signing_secret or secrets.token_hex(32),
        token_verification_enabled=False,  # start without reaching Slack; auth.test runs lazily
    )
    if settings.slack_agents is None:
        log.warning(
            "SLACK_AGENTS is not set: nobody may see or act on tickets from Slack; set it to "
            "the agents' user group (S...) or channel (C...), or * for the whole workspace"
        )
    elif settings.slack_agents == "*":
        log.warning("SLACK_AGENTS is *: everyone in the Slack workspace may act on tickets")
    access = Access(
        client,
        stack.redis,
        agents=settings.slack_agents,
        leads=settings.slack_leads,
        counter=runtime.metrics,
    )
    SlackWorkspace(
        service=runtime.service,
        access=access,
        roster=Roster(runtime.store),
        macros=Macros.load(settings.macros_file),
        style=CardStyle(admin_url=settings.account_admin_url),
        search=runtime.search,
        accounts=runtime.accounts,
        stats=StatsCommand(stats=lambda: stats_of(runtime), clock=runtime.clock),
        hooks=CardHooks.for_api(stack.redis, settings.slack_api_url),
    ).register(app)
    IncidentListeners(
        incidents=Incidents(runtime.store),
        access=access,
        start=lambda incident, kind, actor, text: start_action(
            runtime, incident, kind, actor=actor, text=text
        ),
    ).register(app)
    return app


def slack_http(settings: Settings, bolt: App | None) -> SlackEndpoint | None:
    """POST /slack/events for the Bolt app: only when SLACK_SIGNING_SECRET can check that
    a request comes from Slack. Socket Mode needs no route at all."""
    if bolt is None or not settings.slack_signing_secret:
        return None

    return SlackEndpoint(bolt, settings.slack_signing_secret)


def body_limits(settings: Settings) -> BodyLimits:
    """Each route's body limit: its setting, else the route's default."""
    chosen = {
        "/api/": settings.api_body_limit,
        "/slack/": settings.slack_body_limit,
        "/telegram/": settings.telegram_body_limit,
        "/mailgun/": settings.mailgun_body_limit,
    }
    return BodyLimits({prefix: chosen[prefix] or ROUTE_LIMITS[prefix] for prefix in chosen})


def player_links(
    settings: Settings, telegram: TelegramChannel | None
) -> Callable[[str, int], dict[str, Any]] | None:
    """What POST /api/v1/player-links uses to make deep links, or None without Telegram."""
    if telegram is None or not settings.player_link_secret:
        return None

    secret = settings.player_link_secret

    def make(player_id: str, days: int) -> dict[str, Any]:
        now = utc_now()
        token = make_token(player_id, secret=secret, now=now, ttl=timedelta(days=days))
        username = settings.telegram_bot_username or telegram.application.bot.username
        return {
            "url": deep_link(username, token),
            "token": token,
            "expires_at": (now + timedelta(days=days)).isoformat(),
        }

    return make


def telegram_username(settings: Settings) -> str:
    if not settings.telegram_bot_token:
        raise StartupError("set TELEGRAM_BOT_USERNAME (or TELEGRAM_BOT_TOKEN to ask Telegram)")

    base_url, _ = telegram_api_urls(settings)

    async def ask() -> str:
        async with Bot(settings.telegram_bot_token or "", base_url=base_url) as bot:
            return str(bot.username)

    return asyncio.run(ask())


def flows_file(settings: Settings, macros: Macros) -> FlowsFileHolder | None:
    """The flows file, validated whole (a broken one stops the start); None without one."""
    path = settings.flows_file
    if not path.exists():
        log.info("no flows file at %s: the helpdesk runs no rules, SLAs or auto-close", path)
        return None
    known = set(macros.by_name) or None
    try:
        loaded = load_flows_file(path, known_macros=known)
    except FlowsError as exc:
        raise StartupError(f"{path} is invalid:\n{exc}") from exc
    return FlowsFileHolder(path, loaded, known_macros=known)


@dataclass(frozen=True)
class WebApp:
    """The web process's ASGI app and the edges it mounted (None: disabled by settings)."""

    asgi: Starlette
    bolt: App | None
    telegram: TelegramChannel | None


def web_app(
    stack: Stack,
    *,
    api_keys: Sequence[ApiKey | str],
    clock: Callable[[], datetime] = utc_now,
) -> WebApp:
    """The ASGI app with every edge the settings enable: the API, Slack, Telegram, inbound
    mail, the rating pages, health and metrics. `clock` counts the hours of the inbound
    mail's new-ticket limit."""
    settings, runtime = stack.settings, stack.runtime
    bolt = slack_app(stack, runtime)
    telegram = telegram_channel(stack, runtime)
    asgi = create_app(
        runtime,
        api_keys=api_keys,
        metrics_token=settings.metrics_token,
        slack=slack_http(settings, bolt),
        telegram=telegram,
        link_maker=player_links(settings, telegram),
        mail=mail_inbound(stack, runtime, clock),
        rating=rating_pages(stack, runtime),
        body_limits=body_limits(settings),
    )
    return WebApp(asgi, bolt, telegram)
