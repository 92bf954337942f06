"""Telegram fan-out benchmark: N agent replies to N players at once, under the Bot API limits.

It starts the embedded MongoDB-wire server, an embedded Redis and a fake Telegram Bot API
in this process; the fake answers 429 (retry_after 1) beyond 30 successful sendMessage
calls in any one second overall, or beyond one per chat. The service side is wired
exactly as in production (`Settings` -> `Stack` -> runtime), and `--workers` real
`python -m app worker` processes (the first one with the cron) deliver the effects.

Setup (not measured): N players each open a Telegram ticket; the workers deliver the
"ticket opened" notices until every outbox is empty, then the bench waits two seconds so
every chat's budget is spent, forgets the fake's calls and applies the limits afresh.
Measured: an agent replies to all N tickets as fast as it can, and the bench waits until
every outbox is empty (or the timeout).

It reports the replies delivered, lost and duplicated, the 429s, the sendMessage attempts,
the achieved send rate (successful reply sends over the time from the first to the last
one) as a fraction of 30/s, the wall time, and diagnostics of the pacing (sends per
clock-second window, idle gaps, calls admitted in any sliding second, reply latency, the
outcomes of the delivery jobs). It prints a table and whether each target is met, then one
line of JSON with every figure. Run it from the project root:
`.venv/bin/python bench/telegram_fanout.py --n 300 --workers 2`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass

from rq.registry import FinishedJobRegistry

from bench import harness
from helpdesk.settings import Settings
from helpdesk.stack import Stack
from tests.fakes.telegram import Call, FakeTelegram, chat_key
from ticketcore.models import Actor, ActorKind, Channel, Player

SEND = "sendMessage"
OVERALL_RATE = 30  # sendMessage per second for the bot, as Telegram allows
CHAT_RATE = 1  # sendMessage per second to one chat
RETRY_AFTER = 1
FIRST_CHAT = 1000
AGENT = Actor(kind=ActorKind.AGENT, id="U0BENCH", via="slack")
REPLY_TEXT = "Answer {i}"

MAX_LOST = 0
MAX_DUPLICATES = 0
MIN_RATE_FRACTION = 0.85

BUDGET_RESET_SECONDS = 2.0  # after the notices: every chat's one-second budget is spent


# ----------------------------------------------------------------- services


def fake_telegram(stack: ExitStack) -> FakeTelegram:
    fake = FakeTelegram().start()
    stack.callback(fake.stop)
    limit(fake)
    return fake


def limit(fake: FakeTelegram) -> None:
    fake.rate_limit(OVERALL_RATE, CHAT_RATE, retry_after=RETRY_AFTER)


def telegram_settings(directory: Path, uri: str, url: str, fake: FakeTelegram) -> Settings:
    return harness.bench_settings(
        directory, uri, url, telegram_bot_token=fake.token, telegram_api_url=fake.url
    )


# ----------------------------------------------------------------- workers


def telegram_env(settings: Settings) -> dict[str, str]:
    """The workers' environment: the bench's servers and the fake Telegram."""
    return harness.worker_env(
        settings,
        {
            "TELEGRAM_BOT_TOKEN": str(settings.telegram_bot_token),
            "TELEGRAM_API_URL": str(settings.telegram_api_url),
            "SWEEP_INTERVAL": "2",
            "OUTBOX_GRACE": "5",
            "PTB_TIMEDELTA": "true",
        },
    )


def wait_until_settled(
    stack: Stack, deadline: float, workers: harness.Workers
) -> tuple[bool, float]:
    """Whether every outbox emptied before the deadline (False if every worker died); and
    the seconds spent looking."""
    return harness.wait_until(lambda: not harness.owed_tickets(stack), deadline, workers)


# ----------------------------------------------------------------- the run


@dataclass
class Setup:
    seconds: float
    settled: bool
    notices: int  # chats that received their "ticket opened" notice
    sends: int
    rate_limited: int


@dataclass
class Run:
    n: int
    workers: int
    setup: Setup
    started: float  # time.monotonic() when the first reply was made
    clock_offset: float  # time.time() - time.monotonic(): maps Call.at to the pacer's windows
    replied: dict[int, float]  # chat id -> when its reply was stored
    reply_seconds: float  # making the N replies
    settled: bool
    settled_after: float
    cpu_seconds: float  # this process in the measured phase: the servers, the fake, the bench
    poll_seconds: float  # the bench's own outbox queries while waiting
    owed_at_end: int
    dead_effects: int
    job_outcomes: dict[str, dict[str, int]]
    job_seconds: list[float]  # how long each delivery job of the measured phase ran
    failed_jobs: int
    calls: list[Call]  # every Bot API call the fake answered in the measured phase
    received: dict[int, list[str]]  # chat id -> the texts it received in the measured phase
    worker_cpu_seconds: float
    crashed: dict[int, str]  # workers that exited during the run -> their last log lines


def chat_of(i: int) -> int:
    return FIRST_CHAT + i


def expected_text(chat: int) -> str:
    """The reply player i (chat FIRST_CHAT + i) is owed."""
    return REPLY_TEXT.format(i=chat - FIRST_CHAT)


def open_tickets(stack: Stack, n: int) -> dict[int, int]:
    """One Telegram ticket per player: chat id -> ticket number."""
    numbers: dict[int, int] = {}
    for i in range(n):
        chat = chat_of(i)
        ticket = stack.runtime.service.add_player_message(
            player=Player(telegram_user_id=chat, telegram_chat_id=chat),
            channel=Channel.TELEGRAM,
            text="help",
        )
        numbers[chat] = ticket.number
    return numbers


def reply_all(stack: Stack, numbers: dict[int, int]) -> dict[int, float]:
    """An agent answers every ticket: chat id -> when the reply was stored."""
    replied: dict[int, float] = {}
    for chat in sorted(numbers):
        stack.runtime.service.reply(numbers[chat], actor=AGENT, text=expected_text(chat))
        replied[chat] = time.monotonic()
    return replied


def received(fake: FakeTelegram, chats: list[int]) -> dict[int, list[str]]:
    return {chat: [str(m.get("text", "")) for m in fake.sent_to(chat)] for chat in chats}


def deliver_notices(
    services: Stack, fake: FakeTelegram, workers: harness.Workers, n: int, timeout: float
) -> tuple[Setup, dict[int, int]]:
    """Open the tickets, let the workers send the notices, then start the fake afresh;
    chat id -> ticket number."""
    began = time.monotonic()
    numbers = open_tickets(services, n)
    settled, _ = wait_until_settled(services, began + timeout, workers)
    seconds = time.monotonic() - began
    time.sleep(BUDGET_RESET_SECONDS)
    attempts = fake.attempts(SEND)
    notices = sum(1 for texts in received(fake, sorted(numbers)).values() if texts)
    fake.reset()
    limit(fake)
    setup = Setup(
        seconds=seconds,
        settled=settled,
        notices=notices,
        sends=sum(1 for c in attempts if c.ok),
        rate_limited=sum(1 for c in attempts if c.status == 429),
    )
    return setup, numbers


def run_bench(directory: Path, n: int, worker_count: int, timeout: float) -> Run:
    with ExitStack() as stack:
        uri = harness.mongo_server(stack, directory)
        url = harness.redis_server(stack, directory)
        fake = fake_telegram(stack)
        settings = telegram_settings(directory, uri, url, fake)
        services = harness.connect(stack, settings, directory)
        stack.callback(services.close)  # the Bot API client's loop
        runtime = services.runtime
        workers = harness.start_workers(
            stack, worker_count, telegram_env(settings), directory / "logs"
        )
        harness.wait_for_workers(workers, runtime.queue, worker_count)

        setup, numbers = deliver_notices(services, fake, workers, n, timeout)
        before = {
            i
            for queue in harness.delivery_queues(runtime)
            for i in FinishedJobRegistry(queue=queue).get_job_ids()
        }

        cpu_start = time.process_time()
        started = time.monotonic()
        clock_offset = time.time() - started
        replied = reply_all(services, numbers)
        reply_seconds = time.monotonic() - started
        settled, poll_seconds = wait_until_settled(services, started + timeout, workers)
        settled_after = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu_start

        owed = harness.owed_tickets(services)
        dead = runtime.outbox.counts()["dead"]
        jobs = harness.finished_jobs(harness.delivery_queues(runtime), before)
        calls = fake.calls
        texts = received(fake, sorted(numbers))
        crashed = workers.finish()
        return Run(
            n=n,
            workers=worker_count,
            setup=setup,
            started=started,
            clock_offset=clock_offset,
            replied=replied,
            reply_seconds=reply_seconds,
            settled=settled,
            settled_after=settled_after,
            cpu_seconds=cpu_seconds,
            poll_seconds=poll_seconds,
            owed_at_end=owed,
            dead_effects=dead,
            job_outcomes=jobs.outcomes,
            job_seconds=jobs.seconds,
            failed_jobs=jobs.failed,
            calls=calls,
            received=texts,
            worker_cpu_seconds=harness.worker_cpu_seconds(),
            crashed=crashed,
        )


# ----------------------------------------------------------------- figures


def is_reply_send(call: Call) -> bool:
    chat = chat_key(call.params.get("chat_id"))
    return isinstance(chat, int) and call.params.get("text") == expected_text(chat)


def pacing_figures(run: Run, attempts: list[Call], sends: list[Call]) -> harness.Document:
    """How the sends spread over time, against the pacer's clock-second windows."""
    limited = [c for c in attempts if c.status == 429]
    figures = harness.sliding_figures("sends", sends, limited)
    if len(sends) < 2:
        return figures
    latencies = [
        c.at - run.replied[chat]
        for c in sends
        if isinstance(chat := chat_key(c.params.get("chat_id")), int) and chat in run.replied
    ]
    replying_until = run.started + run.reply_seconds
    during = [c.at for c in sends if c.at <= replying_until]
    after = [c.at for c in sends if c.at > replying_until]
    figures |= {
        "sends_while_replying": len(during),
        "rate_while_replying": round(len(during) / (during[-1] - sends[0].at), 2)
        if len(during) >= 2
        else 0.0,
        "rate_after_replying": round(len(after) / (after[-1] - replying_until), 2)
        if after
        else 0.0,
    }
    return (
        figures
        | harness.window_figures("sends", sends, limited, run.clock_offset, OVERALL_RATE)
        | harness.latency_figures("reply", latencies)
    )


def figures(run: Run) -> harness.Document:
    chats = sorted(run.replied)
    copies = {chat: run.received.get(chat, []).count(expected_text(chat)) for chat in chats}
    delivered = [chat for chat in chats if copies[chat]]
    lost = [chat for chat in chats if not copies[chat]]
    duplicates = sum(count - 1 for count in copies.values() if count > 1)
    others = sum(
        1 for chat in chats for text in run.received.get(chat, []) if text != expected_text(chat)
    )

    attempts = [c for c in run.calls if c.method == SEND]
    sends = [c for c in attempts if c.ok and is_reply_send(c)]
    limited = [c for c in attempts if c.status == 429]
    other_errors = sum(1 for c in attempts if not c.ok and c.status != 429)
    span = sends[-1].at - sends[0].at if len(sends) >= 2 else 0.0
    rate = len(sends) / span if span > 0 else 0.0
    fraction = rate / OVERALL_RATE
    postponed = run.job_outcomes.get("reply.deliver", {}).get("postponed", 0)
    met = {
        "lost": len(lost) <= MAX_LOST,
        "duplicates": duplicates <= MAX_DUPLICATES,
        "send_rate": fraction >= MIN_RATE_FRACTION,
    }
    return {
        "n": run.n,
        "workers": run.workers,
        "overall_limit": OVERALL_RATE,
        "chat_limit": CHAT_RATE,
        "settled": run.settled,
        "delivered": len(delivered),
        "lost": len(lost),
        "lost_chats": lost[:20],
        "duplicates": duplicates,
        "other_messages": others,
        "send_attempts": len(attempts),
        "successful_sends": sum(1 for c in attempts if c.ok),
        "reply_sends": len(sends),
        "attempts_per_reply": round(len(attempts) / run.n, 3),
        "rate_limited": len(limited),
        "other_errors": other_errors,
        "reply_postponements": postponed,
        "postponed_by_pacer": max(0, postponed - len(limited)),
        "send_rate": round(rate, 2),
        "send_rate_fraction": round(fraction, 3),
        "send_span_seconds": round(span, 3),
        "first_send_after": round(sends[0].at - run.started, 3) if sends else None,
        "last_send_after": round(sends[-1].at - run.started, 3) if sends else None,
        "reply_seconds": round(run.reply_seconds, 3),
        "wall_seconds": round(run.settled_after, 3),
        "setup_seconds": round(run.setup.seconds, 3),
        "setup_settled": run.setup.settled,
        "setup_notices": run.setup.notices,
        "setup_sends": run.setup.sends,
        "setup_rate_limited": run.setup.rate_limited,
        "owed_tickets_at_end": run.owed_at_end,
        "dead_effects": run.dead_effects,
        "failed_jobs": run.failed_jobs,
        "job_outcomes": run.job_outcomes,
        "delivery_jobs": len(run.job_seconds),
        "job_seconds_mean": round(statistics.fmean(run.job_seconds), 4) if run.job_seconds else 0,
        "job_seconds_p95": round(harness.percentile(run.job_seconds, 0.95), 4),
        "bench_process_cpu_seconds": round(run.cpu_seconds, 2),
        "bench_poll_seconds": round(run.poll_seconds, 2),
        "worker_cpu_seconds": round(run.worker_cpu_seconds, 2),
        "cpus": os.cpu_count(),
        "pacing": pacing_figures(run, attempts, sends),
        "targets_met": met,
    }


# ----------------------------------------------------------------- report


def report(fig: harness.Document) -> str:
    met, pacing, n = fig["targets_met"], fig["pacing"], fig["n"]
    rows = [
        ["", "value", "target", ""],
        ["replies delivered", f"{fig['delivered']} / {n}", "", ""],
        ["lost", str(fig["lost"]), f"{MAX_LOST}", harness.verdict(met["lost"])],
        [
            "duplicates",
            str(fig["duplicates"]),
            f"{MAX_DUPLICATES}",
            harness.verdict(met["duplicates"]),
        ],
        ["429 answers", str(fig["rate_limited"]), "", ""],
        [
            "sendMessage attempts (per reply)",
            f"{fig['send_attempts']} ({fig['attempts_per_reply']:.2f})",
            "",
            "",
        ],
        [
            "achieved send rate",
            f"{fig['send_rate']:.2f}/s = {fig['send_rate_fraction']:.2f} x 30/s",
            f">= {MIN_RATE_FRACTION:g} x 30/s ({MIN_RATE_FRACTION * OVERALL_RATE:g}/s)",
            harness.verdict(met["send_rate"]),
        ],
        ["making the replies", f"{fig['reply_seconds']:.1f} s", "", ""],
        *harness.timing_rows(fig, "send"),
    ]
    diagnostics = [
        *harness.pacing_lines(
            pacing,
            span=fig["send_span_seconds"],
            activity="sending",
            noun="sends",
            service="Telegram",
            limit=OVERALL_RATE,
            rate_limited=fig["rate_limited"],
        ),
        f"  reply postponements {fig['reply_postponements']}: {fig['rate_limited']} after a "
        f"429, {fig['postponed_by_pacer']} by the pacer",
        f"  reply latency from the agent's reply: p50 {pacing.get('reply_latency_p50', 0):.1f} s, "
        f"p95 {pacing.get('reply_latency_p95', 0):.1f} s, "
        f"max {pacing.get('reply_latency_max', 0):.1f} s",
        f"  sends while the replies were being made: {pacing.get('sends_while_replying', 0)} "
        f"at {pacing.get('rate_while_replying', 0):.1f}/s; after: "
        f"{pacing.get('rate_after_replying', 0):.1f}/s",
        harness.jobs_line(fig),
        f"  delivery jobs {fig['delivery_jobs']}: mean {fig['job_seconds_mean'] * 1000:.0f} ms, "
        f"p95 {fig['job_seconds_p95'] * 1000:.0f} ms each",
        *harness.window_lines(pacing, "sends"),
        f"  setup: {fig['setup_notices']} / {n} notices in {fig['setup_seconds']:.1f} s "
        f"({fig['setup_sends']} sends, {fig['setup_rate_limited']} 429s)"
        + ("" if fig["setup_settled"] else ", NOT settled"),
        f"  other messages in the players' chats: {fig['other_messages']}; other errors: "
        f"{fig['other_errors']}",
        f"  CPU in the measured phase: this process (servers, fake, bench) "
        f"{fig['bench_process_cpu_seconds']:.1f} s (the wait loop's queries took "
        f"{fig['bench_poll_seconds']:.1f} s); workers (whole run) "
        f"{fig['worker_cpu_seconds']:.1f} s; on {fig['cpus']} CPUs",
    ]
    title = (
        f"telegram fan-out benchmark, n={n}, limits {OVERALL_RATE}/s overall and "
        f"{CHAT_RATE}/s per chat, workers={fig['workers']}: {harness.settled_text(fig['settled'])}"
    )
    return harness.summary(title, rows, "pacing:", diagnostics, met)


# ----------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.bench_parser(__doc__, 300, "players, one reply each (default 300)")
    harness.add_run_options(parser, timeout_help="seconds to wait for each phase (default 300)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # python-telegram-bot, imported when the runtime is built: retry_after as a timedelta.
    os.environ["PTB_TIMEDELTA"] = "true"
    with harness.temporary_dir("telegram-bench-") as path:
        run = run_bench(path, args.n, args.workers, args.timeout)
    fig = figures(run)
    harness.print_results(report(fig), fig, run.crashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
