"""`helpdesk stats`: the report's three layouts, and the command on an empty install."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from helpdesk.stats_command import as_csv, as_json, print_table
from tests.conftest import AGENT, FakeClock
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.stats import Period, Stats
from ticketcore.store import Store


def a_day_of_support(service: TicketService, clock: FakeClock) -> Period:
    start = clock()
    first = service.open_ticket(player=Player(player_id="p1"), channel=Channel.API, text="gems")
    service.open_ticket(player=Player(player_id="p2"), channel=Channel.API, text="crash")
    clock.advance(minutes=30)
    service.take(first.number, actor=AGENT)
    service.reply(first.number, actor=AGENT, text="Gems restored")
    clock.advance(hours=1)
    return Period(start - timedelta(hours=1), clock() + timedelta(seconds=1))


def test_json_csv_and_table_say_the_same_numbers(
    store: Store, service: TicketService, clock: FakeClock
) -> None:
    report = Stats(store).report(a_day_of_support(service, clock))

    data = json.loads(as_json(report))
    assert (data["created"], data["resolved"], data["reopened"]) == (2, 0, 0)
    # One ticket answered 30 minutes after it opened (1,800 s); the other not yet.
    assert data["first_response_seconds"] == {"median": 1800.0, "p90": 1800.0}
    assert set(data) >= {"resolution_seconds", "sla_met_pct", "csat_avg", "backlog", "by_agent"}

    table = list(csv.reader(io.StringIO(as_csv(report))))
    assert table[0] == ["section", "key", "value"]
    assert ["tickets", "created", "2"] in table
    assert ["first_response_seconds", "median", "1800.0"] in table
    assert [f"agent:{AGENT.id}", "replies", "1"] in table

    out = io.StringIO()
    print_table(report, Console(file=out, width=120))
    text = out.getvalue()
    assert "30 min / 30 min" in text and AGENT.id in text


def test_the_command_reports_an_empty_install_and_refuses_a_bad_period(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "REDIS_"))}
    env |= {"DATA_DIR": str(tmp_path / "var"), "LOG_LEVEL": "WARNING"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app", "stats", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    empty = run("--since", "7d", "--format", "json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["created"] == 0
    bad = run("--since", "fortnight")
    assert bad.returncode == 2
    assert "'fortnight' is not a period" in bad.stderr
