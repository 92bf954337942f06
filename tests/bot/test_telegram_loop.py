"""The Telegram sender's event loop: a call that outlives its time is stopped, not left
running, before the job that made it hears of the timeout and may try it again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.telegram.sender import LoopThread


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def test_a_call_past_its_timeout_is_cancelled_before_the_caller_hears_of_it(
    loop: LoopThread,
) -> None:
    events: list[str] = []

    async def slow_send() -> str:
        try:
            await asyncio.sleep(30)
            events.append("sent")
            return "sent"
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    with pytest.raises(TimeoutError):
        loop.run(slow_send(), timeout=0.1)
    assert events == ["cancelled"], "stopped by the time the caller may retry"


def test_a_call_within_its_timeout_returns_its_result(loop: LoopThread) -> None:
    async def send() -> str:
        await asyncio.sleep(0)
        return "message 42"

    assert loop.run(send(), timeout=5) == "message 42"
