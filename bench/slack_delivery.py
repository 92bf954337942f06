"""Slack delivery benchmark: cards delivered under Slack's rate limits, with real workers.

It starts the embedded MongoDB-wire server, an embedded Redis and a fake Slack Web API in
this process; the fake answers 429 (Retry-After: 1) beyond R successful chat.postMessage
calls per channel in any one second. The service side is wired exactly as in production
(`Settings` -> `Stack` -> runtime), and `--workers` real `python -m app worker` processes
(the first one with the cron) deliver the effects. It creates N tickets as fast as it can,
then at once changes the status of each to `pending`, and waits until every outbox is
empty and every card in the triage channel shows `pending` (or the timeout).

It reports the cards delivered, duplicate cards, lost tickets (no card, or a card that
does not show the final status), Slack Web API calls per ticket (successful
chat.postMessage + chat.update; attempts including 429s beside it), the 429s, the achieved
post rate (successful posts over the time from the first to the last one) as a fraction
of R, the wall time, and diagnostics of the pacing (posts per clock-second window, gaps,
calls admitted in any sliding second, the outcomes of the delivery jobs). It prints a
table and whether each target is met, then one line of JSON with every figure. Run it
from the project root: `.venv/bin/python bench/slack_delivery.py --n 500 --rate 20`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import re
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass

from bench import harness
from helpdesk.settings import Settings
from helpdesk.stack import Stack
from tests.fakes.slack import Call, FakeSlack
from ticketcore.lifecycle import Status
from ticketcore.models import Actor, ActorKind, Channel, Player

CHANNEL = "C0TRIAGE"
POST = "chat.postMessage"
UPDATE = "chat.update"
FINAL_STATUS = Status.PENDING
AGENT = Actor(kind=ActorKind.AGENT, id="U0BENCH", via="slack")
UPDATE_RATE_FACTOR = 10  # chat.update budget: generous, so posting is what is measured

MAX_LOST = 0
MAX_DUPLICATES = 0
MIN_RATE_FRACTION = 0.9
MAX_CALLS_PER_TICKET = 2.0

HEADER = re.compile(r"^#(\d+) · ")


# ----------------------------------------------------------------- services


def fake_slack(stack: ExitStack, rate: int) -> FakeSlack:
    fake = FakeSlack().start()
    stack.callback(fake.stop)
    fake.rate_limit(POST, rate, per_channel=True, retry_after=1)
    return fake


def slack_settings(directory: Path, uri: str, url: str, fake: FakeSlack, rate: int) -> Settings:
    return harness.slack_bench_settings(
        directory,
        uri,
        url,
        fake.url,
        CHANNEL,
        slack_post_rate=rate,
        slack_update_rate=UPDATE_RATE_FACTOR * rate,
    )


def slack_env(settings: Settings) -> dict[str, str]:
    """The workers' environment: the bench's servers and the fake Slack."""
    return harness.worker_env(
        settings,
        {
            "SLACK_BOT_TOKEN": str(settings.slack_bot_token),
            "SLACK_SIGNING_SECRET": str(settings.slack_signing_secret),
            "SLACK_API_URL": str(settings.slack_api_url),
            "SLACK_TRIAGE_CHANNEL": str(settings.slack_triage_channel),
            "SLACK_POST_RATE": str(settings.slack_post_rate),
            "SLACK_UPDATE_RATE": str(settings.slack_update_rate),
            "SWEEP_INTERVAL": "10",
            "OUTBOX_GRACE": "30",
        },
    )


# ----------------------------------------------------------------- the cards


def card_number(message: harness.Document) -> int | None:
    """The ticket number in a card's header block, or None for any other message."""
    for block in message.get("blocks") or []:
        if block.get("type") == "header":
            match = HEADER.match(str((block.get("text") or {}).get("text", "")))
            return int(match.group(1)) if match else None
    return None


def card_status(message: harness.Document) -> str | None:
    """The status a card shows in its fields (the status menu lists every status)."""
    for block in message.get("blocks") or []:
        if block.get("block_id") != "card.fields":
            continue
        for item in block.get("fields") or []:
            text = str(item.get("text", ""))
            if text.startswith("*Status*"):
                return text.rsplit(" ", 1)[-1]
    return None


def cards(fake: FakeSlack) -> dict[int, list[str | None]]:
    """For each ticket number, the status each of its cards in the triage channel shows."""
    found: dict[int, list[str | None]] = {}
    for message in fake.messages_in(CHANNEL):
        number = card_number(message)
        if number is not None:
            found.setdefault(number, []).append(card_status(message))
    return found


def is_final(statuses: list[str | None] | None) -> bool:
    return bool(statuses) and all(s == FINAL_STATUS for s in statuses or [])


def all_final(fake: FakeSlack, numbers: list[int]) -> bool:
    found = cards(fake)
    return all(is_final(found.get(n)) for n in numbers)


def wait_until_settled(
    stack: Stack, fake: FakeSlack, numbers: list[int], deadline: float, workers: harness.Workers
) -> tuple[bool, float]:
    """Whether everything was delivered before the deadline; and the seconds spent looking."""
    return harness.wait_until(
        lambda: harness.owed_tickets(stack) == 0 and all_final(fake, numbers), deadline, workers
    )


# ----------------------------------------------------------------- the run


@dataclass
class Run:
    n: int
    rate: int
    workers: int
    started: float  # time.monotonic()
    clock_offset: float  # time.time() - time.monotonic(): maps Call.at to the pacer's windows
    created: dict[int, float]  # ticket number -> when add_player_message returned
    phase1_seconds: float
    phase2_seconds: float
    settled: bool
    settled_after: float
    poll_seconds: float  # the bench's own queries while waiting
    cpu_seconds: float  # this process: the servers, the fake and the bench
    owed_at_end: int
    dead_effects: int
    job_outcomes: dict[str, dict[str, int]]
    failed_jobs: int
    calls: list[Call]  # every Web API call the fake answered
    cards: dict[int, list[str | None]]  # ticket number -> the status each of its cards shows
    worker_cpu_seconds: float
    crashed: dict[int, str]  # workers that exited during the run -> their last log lines


def create_tickets(stack: Stack, n: int) -> dict[int, float]:
    created: dict[int, float] = {}
    for i in range(n):
        ticket = stack.runtime.service.add_player_message(
            player=Player(player_id=f"b{i}"), channel=Channel.API, text=f"Problem {i}"
        )
        created[ticket.number] = time.monotonic()
    return created


def change_statuses(stack: Stack, numbers: list[int]) -> None:
    for number in numbers:
        stack.runtime.service.set_status(number, FINAL_STATUS, actor=AGENT)


def run_bench(directory: Path, n: int, rate: int, worker_count: int, timeout: float) -> Run:
    with ExitStack() as stack:
        uri = harness.mongo_server(stack, directory)
        url = harness.redis_server(stack, directory)
        fake = fake_slack(stack, rate)
        settings = slack_settings(directory, uri, url, fake, rate)
        services = harness.connect(stack, settings, directory)
        runtime = services.runtime
        workers = harness.start_workers(
            stack, worker_count, slack_env(settings), directory / "logs"
        )
        harness.wait_for_workers(workers, runtime.queue, worker_count)

        cpu_start = time.process_time()
        started = time.monotonic()
        clock_offset = time.time() - started
        created = create_tickets(services, n)
        phase1_end = time.monotonic()
        numbers = sorted(created)
        change_statuses(services, numbers)
        phase2_end = time.monotonic()
        settled, poll_seconds = wait_until_settled(
            services, fake, numbers, started + timeout, workers
        )
        settled_after = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu_start

        owed = harness.owed_tickets(services)
        dead = runtime.outbox.counts()["dead"]
        jobs = harness.finished_jobs(harness.delivery_queues(runtime))
        calls = fake.calls
        found = cards(fake)
        crashed = workers.finish()
        return Run(
            n=n,
            rate=rate,
            workers=worker_count,
            started=started,
            clock_offset=clock_offset,
            created=created,
            phase1_seconds=phase1_end - started,
            phase2_seconds=phase2_end - phase1_end,
            settled=settled,
            settled_after=settled_after,
            poll_seconds=poll_seconds,
            cpu_seconds=cpu_seconds,
            owed_at_end=owed,
            dead_effects=dead,
            job_outcomes=jobs.outcomes,
            failed_jobs=jobs.failed,
            calls=calls,
            cards=found,
            worker_cpu_seconds=harness.worker_cpu_seconds(),
            crashed=crashed,
        )


# ----------------------------------------------------------------- figures


def posting_figures(run: Run, calls: list[Call]) -> harness.Document:
    """How the posts spread over time, against the pacer's clock-second windows."""
    attempts = [c for c in calls if c.method == POST]
    posts = [c for c in attempts if c.ok]
    limited = [c for c in attempts if c.status == 429]
    figures = harness.sliding_figures("posts", posts, limited)
    if len(posts) < 2:
        return figures
    return (
        figures
        | harness.window_figures("posts", posts, limited, run.clock_offset, run.rate)
        | harness.latency_figures("card", card_latencies(run, posts))
    )


def card_latencies(run: Run, posts: list[Call]) -> list[float]:
    """Seconds from a ticket's creation to the first successful post of its card."""
    first_post: dict[int, float] = {}
    for call in posts:
        payload = (call.args.get("metadata") or {}).get("event_payload") or {}
        number = payload.get("number") if isinstance(payload, dict) else None
        if isinstance(number, int) and number not in first_post:
            first_post[number] = call.at
    return [at - run.created[n] for n, at in first_post.items() if n in run.created]


def figures(run: Run) -> harness.Document:
    calls, found = run.calls, run.cards
    numbers = sorted(run.created)
    delivered = [n for n in numbers if found.get(n)]
    missing = [n for n in numbers if not found.get(n)]
    stale = [n for n in delivered if not is_final(found[n])]
    duplicates = sum(len(found[n]) - 1 for n in delivered)
    strays = sorted(set(found) - set(numbers))
    lost = missing + stale

    by_method = Counter(c.method for c in calls)
    ok_by_method = Counter(c.method for c in calls if c.ok)
    limited_by_method = Counter(c.method for c in calls if c.status == 429)
    other_errors = sum(1 for c in calls if not c.ok and c.status != 429)
    posts = [c for c in calls if c.method == POST and c.ok]
    slack_calls = ok_by_method[POST] + ok_by_method[UPDATE]
    attempts = by_method[POST] + by_method[UPDATE]
    span = posts[-1].at - posts[0].at if len(posts) >= 2 else 0.0
    post_rate = len(posts) / span if span > 0 else 0.0
    fraction = post_rate / run.rate
    calls_per_ticket = slack_calls / run.n
    last_call = max((c.at for c in calls if c.ok), default=run.started)
    met = {
        "lost": len(lost) <= MAX_LOST,
        "duplicates": duplicates <= MAX_DUPLICATES,
        "post_rate": fraction >= MIN_RATE_FRACTION,
        "calls_per_ticket": calls_per_ticket <= MAX_CALLS_PER_TICKET,
    }
    return {
        "n": run.n,
        "rate": run.rate,
        "workers": run.workers,
        "phase2": "right after phase 1",
        "settled": run.settled,
        "cards_delivered": len(delivered),
        "duplicates": duplicates,
        "lost": len(lost),
        "missing_cards": len(missing),
        "stale_cards": len(stale),
        "lost_numbers": lost[:20],
        "stray_cards": len(strays),
        "slack_calls": slack_calls,
        "slack_calls_per_ticket": round(calls_per_ticket, 3),
        "slack_attempts": attempts,
        "slack_attempts_per_ticket": round(attempts / run.n, 3),
        "post_calls": ok_by_method[POST],
        "update_calls": ok_by_method[UPDATE],
        "post_attempts": by_method[POST],
        "update_attempts": by_method[UPDATE],
        "rate_limited": sum(limited_by_method.values()),
        "rate_limited_posts": limited_by_method[POST],
        "rate_limited_updates": limited_by_method[UPDATE],
        "other_errors": other_errors,
        "calls_by_method": dict(sorted(by_method.items())),
        "post_rate": round(post_rate, 2),
        "post_rate_fraction": round(fraction, 3),
        "post_span_seconds": round(span, 3),
        "first_post_after": round(posts[0].at - run.started, 3) if posts else None,
        "last_post_after": round(posts[-1].at - run.started, 3) if posts else None,
        "last_call_after": round(last_call - run.started, 3),
        "phase1_seconds": round(run.phase1_seconds, 3),
        "phase2_seconds": round(run.phase2_seconds, 3),
        "wall_seconds": round(run.settled_after, 3),
        "owed_tickets_at_end": run.owed_at_end,
        "dead_effects": run.dead_effects,
        "failed_jobs": run.failed_jobs,
        "job_outcomes": run.job_outcomes,
        "bench_process_cpu_seconds": round(run.cpu_seconds, 2),
        "bench_poll_seconds": round(run.poll_seconds, 2),
        "worker_cpu_seconds": round(run.worker_cpu_seconds, 2),
        "cpus": os.cpu_count(),
        "pacing": posting_figures(run, calls),
        "targets_met": met,
    }


# ----------------------------------------------------------------- report


def report(fig: harness.Document) -> str:
    met, pacing = fig["targets_met"], fig["pacing"]
    n, rate = fig["n"], fig["rate"]
    rows = [
        ["", "value", "target", ""],
        ["cards delivered", f"{fig['cards_delivered']} / {n}", "", ""],
        [
            "duplicate cards",
            str(fig["duplicates"]),
            f"{MAX_DUPLICATES}",
            harness.verdict(met["duplicates"]),
        ],
        [
            "lost (no card / stale card)",
            f"{fig['lost']} ({fig['missing_cards']} / {fig['stale_cards']})",
            f"{MAX_LOST}",
            harness.verdict(met["lost"]),
        ],
        [
            "Slack calls / ticket",
            f"{fig['slack_calls_per_ticket']:.2f}",
            f"<= {MAX_CALLS_PER_TICKET:g}",
            harness.verdict(met["calls_per_ticket"]),
        ],
        [
            "  chat.postMessage / chat.update",
            f"{fig['post_calls']} / {fig['update_calls']}",
            "",
            "",
        ],
        ["Slack attempts / ticket (incl. 429)", f"{fig['slack_attempts_per_ticket']:.2f}", "", ""],
        ["429 answers", str(fig["rate_limited"]), "", ""],
        [
            "post rate",
            f"{fig['post_rate']:.2f}/s = {fig['post_rate_fraction']:.2f} R",
            f">= {MIN_RATE_FRACTION:g} R ({MIN_RATE_FRACTION * rate:g}/s)",
            harness.verdict(met["post_rate"]),
        ],
        [
            "phase 1 (create) / phase 2 (status)",
            harness.pair(fig, "phase1_seconds", "phase2_seconds"),
            "",
            "",
        ],
        *harness.timing_rows(fig, "post"),
    ]
    diagnostics = [
        *harness.pacing_lines(
            pacing,
            span=fig["post_span_seconds"],
            activity="posting",
            noun="posts",
            service="Slack",
            limit=rate,
            rate_limited=fig["rate_limited_posts"],
        ),
        f"  card latency from creation: p50 {pacing.get('card_latency_p50', 0):.1f} s, "
        f"p95 {pacing.get('card_latency_p95', 0):.1f} s, "
        f"max {pacing.get('card_latency_max', 0):.1f} s",
        harness.jobs_line(fig),
        *harness.window_lines(pacing, "posts"),
        f"  CPU: this process (servers, fake, bench) {fig['bench_process_cpu_seconds']:.1f} s "
        f"(the wait loop's queries took {fig['bench_poll_seconds']:.1f} s), "
        f"workers {fig['worker_cpu_seconds']:.1f} s, on {fig['cpus']} CPUs",
    ]
    title = (
        f"slack delivery benchmark, n={n}, R={rate} posts/s per channel, "
        f"workers={fig['workers']}, status changes right after creation: "
        f"{harness.settled_text(fig['settled'])}"
    )
    return harness.summary(title, rows, "pacing:", diagnostics, met)


# ----------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.bench_parser(__doc__, 500, "tickets (default 500)")
    parser.add_argument(
        "--rate",
        type=harness.positive(int),
        default=20,
        help="chat.postMessage per second per channel the fake Slack allows (default 20)",
    )
    harness.add_run_options(parser, timeout_help="seconds to wait (default 300)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with harness.temporary_dir("slack-bench-") as path:
        run = run_bench(path, args.n, args.rate, args.workers, args.timeout)
    fig = figures(run)
    harness.print_results(report(fig), fig, run.crashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
