"""Logs an operator can search: one JSON object per line, with the request id, ticket number
and channel on every line that has them, and no secrets.

Context is bound with `bind(...)` (the web app per request, a worker per effect) and rides
in context variables, so every log line under it carries it, whichever module logs.
Secrets that libraries put in their messages (a Telegram bot token in a request URL, a
Slack token) are masked whatever the format.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

CONTEXT: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039
SECRETS = re.compile(
    r"(?P<keep>bot)\d{5,}:[A-Za-z0-9_-]{20,}"  # a Telegram bot token in an API URL
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|xapp-[A-Za-z0-9-]{10,}"
    r"|(?P<auth>Bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
)
# Libraries that log request URLs (and so tokens) or whole payloads at INFO.
CHATTY = ("httpx", "httpcore", "slack_bolt", "slack_sdk", "telegram", "urllib3", "rq.worker")
STANDARD = set(vars(logging.makeLogRecord({})))  # attributes every record has


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add fields (None ones are skipped) to every log line written inside the block."""
    token = CONTEXT.set(CONTEXT.get() | {k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        CONTEXT.reset(token)


def redact(text: str) -> str:
    def masked(match: re.Match[str]) -> str:
        kept = match.group("keep") or match.group("auth") or ""
        return f"{kept}[redacted]"

    return SECRETS.sub(masked, text)


class ContextFilter(logging.Filter):
    """Puts the bound context on each record, and masks secrets in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in CONTEXT.get().items():
            setattr(record, key, value)
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line |= {k: v for k, v in vars(record).items() if k not in STANDARD and k != "message"}
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: the usual line, the context at its end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = {k: v for k, v in vars(record).items() if k not in STANDARD and k != "message"}
        return text + "".join(f" {k}={v}" for k, v in extra.items())


def configure(level: str, fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Log to `stream` (stderr) as JSON, or as text (`auto`: text on a terminal)."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if root.level <= logging.INFO:
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
