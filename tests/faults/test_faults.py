"""Faults, shortened: after each, every owed effect happened exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.desk import Desk, running_desk
from tests.faults import scenarios

pytestmark = pytest.mark.slow  # real processes through real outages

QUIET = "rules: []\n"  # no SLA, storms or auto-close: only the fault at hand
# Retries after 1, 2, then every 4 seconds (12 tries span 43 s): the same retries as the
# hour-long default, without waiting it out. bench/faults.py keeps the default.
RETRIES = "1,2,4"
# Slack's real pace (a post per channel per second) is bench/faults.py's and the support
# day's to show; here it would only make every scenario wait out its own thread messages.
PACE = {"SLACK_POST_RATE": "20", "SLACK_UPDATE_RATE": "20"}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with running_desk(tmp_path, QUIET, OUTBOX_BACKOFF=RETRIES, **PACE) as running:
        yield running


@pytest.mark.timeout(300)  # the processes start, the fault lasts, the retries run their course
@pytest.mark.parametrize(
    ("scenario", "size"),
    [
        (scenarios.worker_killed, {"tickets": 8}),
        (scenarios.worker_paused, {"tickets": 8}),
        (scenarios.slack_down, {"outage": 8}),
        (scenarios.telegram_throttled, {}),
        (scenarios.restarted_while_writing, {}),
        (scenarios.restarted_while_writing, {"kill": True}),
        (scenarios.redis_lost, {"tickets": 8}),
        (scenarios.replayed_after_redis_forgot, {"each": 6}),
        (scenarios.database_killed, {"tickets": 30}),
    ],
    ids=[
        "worker-killed",
        "worker-paused",
        "slack-down",
        "telegram-429",
        "restart",
        "web-killed",
        "redis-lost",
        "replayed",
        "database-killed",
    ],
)
def test_every_effect_happens_once_after(
    desk: Desk, scenario: Callable[..., scenarios.FaultResult], size: dict[str, float]
) -> None:
    result = scenario(desk, **size)
    assert result.owed > 0
    assert (result.lost, result.duplicated) == (0, 0), result
    assert result.delivered == result.owed
