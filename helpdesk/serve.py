"""`helpdesk serve`: the web app, and on embedded defaults the servers and a supervised
worker beside it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from helpdesk.keys import local_api_keys
from helpdesk.settings import Settings
from helpdesk.stack import open_stack
from helpdesk.wiring import web_app

log = logging.getLogger("helpdesk")


# On SIGTERM the web app stops accepting and finishes the requests in flight, this long at
# most; a worker finishes the job it is running (RQ's warm shutdown).
GRACEFUL_SECONDS = 20


# Idle connections are kept longer than clients and proxies keep theirs (HTTP clients
# commonly 5 s, load balancers 60 s): with equal times, a client can send a request on a
# connection the server is closing that moment, and the request fails with no answer
# (the load benchmark lost a player's message so, with uvicorn's default of 5 s).
KEEP_ALIVE_SECONDS = 75


def serve(settings: Settings, *, with_worker: bool | None) -> None:
    import uvicorn

    stack = open_stack(settings)
    try:
        keys = local_api_keys(settings, stack.data_dir, stack.embedded)
        if not settings.metrics_token:
            log.warning("/metrics is open to anyone: set METRICS_TOKEN to ask for a bearer token")
        web = web_app(stack, api_keys=keys)
        bolt = web.bolt
        if bolt is not None and settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            socket_mode = SocketModeHandler(bolt, settings.slack_app_token)
            try:
                # No public URL needed: Slack sends events over a socket.
                socket_mode.connect()  # type: ignore[no-untyped-call]
            except Exception as exc:  # the web app and the API still serve
                log.error("Slack Socket Mode could not connect (%s); check SLACK_APP_TOKEN", exc)
            else:
                stack.closers.append(socket_mode.close)
        if with_worker is None:
            with_worker = settings.redis_url is None  # embedded: the whole system in one command
        supervisor = WorkerSupervisor(stack.data_dir) if with_worker else None
        if supervisor:
            supervisor.start()
            stack.closers.append(supervisor.stop)
        config = uvicorn.Config(
            web.asgi,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # our handler: JSON lines with the request id, secrets masked
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        log.info("helpdesk serving on http://%s:%d", settings.host, settings.port)
        # uvicorn re-raises the signal that stopped it; make SIGTERM an exit that still
        # runs the clean-up below (stop the worker, withdraw addresses, stop servers).
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        uvicorn.Server(config).run()
    finally:
        stack.close()


class WorkerSupervisor:
    """Keeps one `helpdesk worker` child running beside the web app (embedded mode)."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "DATA_DIR": str(data_dir)}
        self.stopping = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        threading.Thread(target=self._keep_running, name="worker-supervisor", daemon=True).start()

    def _keep_running(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            self.process = subprocess.Popen([sys.executable, "-m", "app", "worker"], env=self.env)
            code = self.process.wait()
            if self.stopping.is_set():
                return
            log.warning("worker exited with %s; restarting in %.0fs", code, delay)
            self.stopping.wait(delay)
            delay = min(delay * 2, 30.0)

    def stop(self) -> None:
        self.stopping.set()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
