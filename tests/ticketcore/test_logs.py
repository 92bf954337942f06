"""Log lines an operator can search: JSON with the context bound, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ticketcore.logs import bind, configure, redact

TELEGRAM_URL = "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """JSON logs into a buffer; the test runner's own handlers come back afterwards."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    out = io.StringIO()
    configure("INFO", "json", out)
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def logged(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_bound_context_is_on_every_line_inside_and_gone_after(lines: io.StringIO) -> None:
    log = logging.getLogger("helpdesk.test")
    with bind(request_id="r-1", channel="telegram"), bind(ticket=42, effect=None):
        log.info("card posted for #%d", 42)
    log.info("outside")

    inside, outside = logged(lines)
    assert inside["msg"] == "card posted for #42"
    assert (inside["request_id"], inside["channel"], inside["ticket"]) == ("r-1", "telegram", 42)
    assert "effect" not in inside  # None is not bound
    assert inside["level"] == "info" and inside["logger"] == "helpdesk.test"
    assert "request_id" not in outside and "ticket" not in outside


def test_secrets_never_reach_the_log(lines: io.StringIO) -> None:
    log = logging.getLogger("helpdesk.test")
    log.warning("GET %s failed", TELEGRAM_URL)
    log.warning("slack said no to xoxb-1234-5678-abcdefghijkl and xapp-1-A0-123-abcdef0123")
    try:
        raise RuntimeError("Authorization: Bearer s3cr3t-api-key-value")
    except RuntimeError:
        log.exception("request failed")

    text = lines.getvalue()
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text and "bot[redacted]/getMe" in text
    assert "xoxb-1234" not in text and "xapp-1-A0" not in text
    assert "s3cr3t-api-key-value" not in text and "Bearer [redacted]" in text
    assert logged(lines)[-1]["error"].startswith("Traceback")


def test_libraries_that_log_urls_are_quiet_at_info(lines: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST %s", TELEGRAM_URL)
    assert lines.getvalue() == ""
    assert redact("nothing secret here") == "nothing secret here"
