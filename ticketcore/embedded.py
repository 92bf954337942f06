"""Embedded servers for one-machine installs, and how other commands find them.

The embedded MongoDB-wire server locks its directory, so only the process that started
it may open the files; every other command (worker, admin tools) reaches it through the
address the owner publishes in DATA_DIR.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVERS_FILE = "servers.json"


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
    """A SecantusDB server in this process, its files under `DATA_DIR/mongo`."""

    def __init__(self, data_dir: Path) -> None:
        from secantus import SecantusDBServer  # only embedded installs need it

        self.path = data_dir / "mongo"
        self.path.mkdir(parents=True, exist_ok=True)
        self._server = SecantusDBServer(storage_path=str(self.path))

    def start(self) -> str:
        self._server.start()
        uri = str(self._server.uri)
        # No retryable writes: the server is on this machine, with no failover to retry
        # across, and its bookkeeping for them took a sixth of its time under load.
        return f"{uri}{'&' if '?' in uri else '?'}retryWrites=false"

    def stop(self) -> None:
        self._server.stop()
