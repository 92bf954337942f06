"""Every setting of the helpdesk, read once from the environment or `.env`, and the
start-up checks that refuse to run on a bad one."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    elasticsearch_url: str | None = None  # may carry user:password; or a cloud id below
    # Elastic Cloud's deployment id, instead of ELASTICSEARCH_URL.
    elasticsearch_cloud_id: str | None = None
    # Credentials: an API key ("id:key" or its encoded form), or a user and a password.
    elasticsearch_api_key: str | None = None
    elasticsearch_username: str | None = None
    elasticsearch_password: str | None = None
    elasticsearch_ca_certs: Path | None = None  # a CA bundle for a private certificate
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
    outbox_lease: int = Field(default=15, ge=3)
    # Seconds before each retry of a failed effect, "5,15,30"; the last repeats. Unset: from
    # 5 s growing to an hour (ticketcore/outbox.py), which rides out a day's outage.
    outbox_backoff: str | None = None

    @field_validator("outbox_backoff")
    @classmethod
    def _delays(cls, value: str | None) -> str | None:
        if value is not None and not all(
            p.strip().isdigit() and int(p) > 0 for p in value.split(",")
        ):
            raise ValueError("write whole seconds above 0, separated by commas: 5,15,30")
        return value

    def retry_delays(self) -> tuple[timedelta, ...]:
        """OUTBOX_BACKOFF as delays; empty when unset (the outbox's own)."""
        return tuple(timedelta(seconds=int(p)) for p in (self.outbox_backoff or "").split(",") if p)

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
