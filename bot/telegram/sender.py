"""Send to players on Telegram within the Bot API's limits: one message a second to a
chat and thirty a second for the bot, budgets shared by every worker (bot.pacing); a 429
becomes a retry at the moment Telegram names. The async client runs on a loop of its own,
so synchronous jobs keep its connections between them."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from redis import Redis
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import RetryAfter

from bot.pacing import Pacer
from ticketcore.effects import RetryLater

CHAT_RATE = 1  # messages per second to one chat
OVERALL_RATE = 30  # messages per second for the bot
CANCEL_GRACE = 5.0  # seconds for a timed-out call to unwind once cancelled
T = TypeVar("T")


class LoopThread:
    """One event loop in a thread, so synchronous jobs can drive the async Bot API client
    and keep its connections between jobs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="telegram", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """The coroutine's result. After `timeout` seconds it is cancelled in the loop,
        and TimeoutError raised once it has stopped: a send abandoned while it still ran
        could reach the player after the retry of the same send."""
        bounded = asyncio.wait_for(coroutine, timeout)
        return asyncio.run_coroutine_threadsafe(bounded, self.loop).result(timeout + CANCEL_GRACE)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds (its public attribute warns while it changes type)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass
class TelegramSender:
    bot: Bot
    redis: Redis  # the pace budgets
    chat_rate: int = CHAT_RATE
    overall_rate: int = OVERALL_RATE
    loop: LoopThread = field(default_factory=LoopThread)

    def send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        """Send one message within the limits; return its message_id."""
        for key, rate in ((f"tg:chat:{chat_id}", self.chat_rate), ("tg:all", self.overall_rate)):
            wait = Pacer(self.redis, rate).wait_for(key)
            if wait:
                raise RetryLater(wait, f"pacing {key}")
        try:
            message = self.loop.run(self.bot.send_message(chat_id, text, reply_markup=markup))
        except RetryAfter as exc:
            raise RetryLater(retry_seconds(exc), "Telegram rate limit") from exc
        return int(message.message_id)

    def fetch_file(self, ref: str) -> bytes:
        """The bytes of a player's file, by the `telegram:<file_id>:<unique id>` reference."""
        kind, _, rest = ref.partition(":")
        if kind != "telegram":
            raise LookupError(f"not a Telegram file: {ref}")
        file_id = rest.split(":", 1)[0]

        async def download() -> bytes:
            file = await self.bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())

        return self.loop.run(download(), timeout=120)

    def close(self) -> None:
        """Close the Bot API client's connections, then the loop they live on."""
        try:
            self.loop.run(self.bot.shutdown(), timeout=10)
        finally:
            self.loop.close()
