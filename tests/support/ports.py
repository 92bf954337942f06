"""A port for a server a test starts in another process, which binds it later."""

import random
import socket

import httpx

# Linux hands out ports from 32768 to 60999 to every socket bound to port 0 (the embedded
# servers, the fake platforms, outgoing connections). A port picked there and bound a
# moment later by a child process can be taken in between; one below that range cannot.
LOW, HIGH = 20_000, 32_767
# What a client sees of a server that is not listening yet.
NETWORK = (httpx.HTTPError, OSError)


def unused_port() -> int:
    """A free port outside the range the kernel assigns by itself."""
    for _ in range(100):
        port = random.randint(LOW, HIGH)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {LOW} and {HIGH}")
