"""Faults, shortened: after each, every owed effect happened exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.desk import Desk, running_desk
from tests.faults import scenarios

QUIET = "rules: []\n"  # no SLA, storms or auto-close: only the fault at hand


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with running_desk(tmp_path, QUIET) as running:
        yield running


@pytest.mark.timeout(400)  # the processes start, the fault lasts, the backoff runs its course
@pytest.mark.parametrize(
    "scenario",
    [
        scenarios.worker_killed,
        scenarios.slack_down,
        scenarios.telegram_throttled,
        scenarios.restarted_while_writing,
        scenarios.redis_lost,
    ],
    ids=["worker-killed", "slack-down", "telegram-429", "restart", "redis-lost"],
)
def test_every_effect_happens_once_after(
    desk: Desk, scenario: Callable[..., scenarios.FaultResult]
) -> None:
    result = scenario(desk)
    assert result.owed > 0
    assert (result.lost, result.duplicated) == (0, 0), result
    assert result.delivered == result.owed
