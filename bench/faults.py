"""Faults benchmark: what survives when things break, and how fast the helpdesk recovers.

Each fault runs on a fresh helpdesk (`helpdesk serve` and `helpdesk worker` as processes on
embedded defaults, in a temporary DATA_DIR, against fake Slack, Telegram, Mailgun and game
servers): the worker killed with SIGKILL while it posts cards, the worker paused with
SIGSTOP past its lease while another takes over and then let go on, Slack answering 500 to
everything for two minutes, Telegram answering 429 beyond two messages a second, the
whole helpdesk restarted while players keep writing (after a kill -9 of the web process,
or a clean stop), Redis restarted empty (every
queued job and connection lost) while cards are posted, and Redis emptied before every
platform sends its last messages again (Telegram updates, Slack events, mails, API
posts with their Idempotency-Key), and the embedded database killed while tickets come
in through the API. For each it prints the effects
owed, delivered, lost and duplicated, and the recovery time (from the fault's end, or the
restart, to the last owed effect done) and, for the killed worker, the takeover: until
another worker claimed the effects it held. `--quick` shortens the Slack outage to 20 s and
the loads, and runs every fault in under four minutes. Run it from the project root:
`.venv/bin/python bench/faults.py --quick`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
from dataclasses import asdict
from typing import Any

from bench.harness import print_results, summary, temporary_dir, verdict
from tests.e2e.desk import running_desk
from tests.faults import scenarios

# A dead worker's effects are claimed by another within this: its lease (15 s by default)
# runs out, and the next sweep (every 10 s) hands them over.
TAKEOVER_TARGET = 30.0
# The shipped timings, for the fault whose recovery they decide; the others run on the
# test desk's short ones (leases of 5 s, a sweep every second).
SHIPPED = {"OUTBOX_LEASE": "15", "OUTBOX_GRACE": "30", "SWEEP_INTERVAL": "10"}


def measure(quick: bool, directory: Path) -> list[scenarios.FaultResult]:
    runs: list[tuple[Any, dict[str, Any], dict[str, str]]] = [
        (scenarios.worker_killed, {"tickets": 20 if quick else 60}, SHIPPED),
        (scenarios.worker_paused, {"tickets": 20 if quick else 60}, {}),
        (scenarios.slack_down, {"outage": 20.0 if quick else 120.0, "timeout": 600}, {}),
        (scenarios.telegram_throttled, {"players": 10 if quick else 30}, {}),
        (scenarios.restarted_while_writing, {"players": 8 if quick else 20}, {}),
        (scenarios.restarted_while_writing, {"players": 8 if quick else 20, "kill": True}, {}),
        (scenarios.redis_lost, {"tickets": 12 if quick else 40}, {}),
        (scenarios.replayed_after_redis_forgot, {"each": 25 if quick else 100}, {}),
        (scenarios.database_killed, {"tickets": 40 if quick else 200}, {}),
    ]
    results = []
    for n, (scenario, options, timings) in enumerate(runs):
        with running_desk(directory / str(n), "rules: []\n", **timings) as desk:
            results.append(scenario(desk, **options))
    return results


def report(results: list[scenarios.FaultResult], quick: bool) -> str:
    rows = [["fault", "owed", "delivered", "lost", "duplicated", "recovery", "takeover"]]
    rows += [
        [
            r.fault,
            str(r.owed),
            str(r.delivered),
            str(r.lost),
            str(r.duplicated),
            f"{r.recovery_seconds:.1f} s",
            "" if r.takeover_seconds is None else f"{r.takeover_seconds:.1f} s",
        ]
        for r in results
    ]
    met = {r.fault: r.clean for r in results}
    targets = [f"  {r.fault}: nothing lost, nothing doubled: {verdict(r.clean)}" for r in results]
    for r in results:
        if r.takeover_seconds is not None:
            fast = r.takeover_seconds < TAKEOVER_TARGET
            met[f"{r.fault}: takeover"] = fast
            targets.append(
                f"  {r.fault}: the dead worker's effects claimed within {TAKEOVER_TARGET:g} s: "
                f"{verdict(fast)}"
            )
    title = f"faults benchmark{' (quick)' if quick else ''}"
    details = [
        "  one fresh helpdesk per fault; the worker killed on the shipped timings (leases",
        "  of 15 s, a sweep every 10 s), the others on short ones (5 s, every second)",
        "  recovery: from the fault's end to the last owed effect done; cards go out at",
        "  Slack's pace of one a second per channel, so it grows with the cards left",
        "  takeover: from a worker's death until another worker claimed the cards it held",
    ]
    return summary(title, rows, "details:", details, met, targets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Slack down 20 s, smaller loads")
    args = parser.parse_args(argv)
    with temporary_dir("faults-bench-") as path:
        results = measure(args.quick, path)
    print_results(report(results, args.quick), {"faults": [asdict(r) for r in results]})
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
