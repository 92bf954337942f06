"""An in-memory Elasticsearch API for tests: osmem-server behind a header-rewriting proxy.

The official `elasticsearch` client sends `application/vnd.elasticsearch+json;
compatible-with=8`, which osmem refuses (406), and insists on the `X-Elastic-Product`
response header, which osmem does not send. The proxy fixes both and touches nothing else,
so the real client, wire format and server are what the tests exercise.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from osmem_server import OsmemServer

VENDOR_PREFIX = "application/vnd.elasticsearch+"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
# Headers this proxy writes itself: a second copy would be joined into "A, A" and fail checks.
OWN_HEADERS = {"server", "date", "x-elastic-product"}


def _plain_type(value: str) -> str:
    """`application/vnd.elasticsearch+json; compatible-with=8` as osmem reads it:
    `application/json` (and `+x-ndjson`, for bulk, `application/x-ndjson`); others unchanged."""
    if not value.startswith(VENDOR_PREFIX):
        return value
    return "application/" + value.removeprefix(VENDOR_PREFIX).split(";")[0].strip()


class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools connections
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            name: _plain_type(value) if name.lower() in ("accept", "content-type") else value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP
        }
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP | OWN_HEADERS:
                self.send_header(name, value)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows the client's errors, which say more."""


@contextmanager
def elastic_proxy(target: str) -> Iterator[str]:
    """Serve a proxy to the osmem at `target` on 127.0.0.1; yields its URL."""
    parts = urlsplit(target)
    handler = type("Proxy", (_Proxy,), {"upstream": (parts.hostname, parts.port)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="osmem-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def fake_elasticsearch() -> Iterator[str]:
    """A fresh osmem-server and its proxy; yields the URL to give `Elasticsearch(...)`."""
    server = OsmemServer.start(japanese=False)
    try:
        with elastic_proxy(server.url) as url:
            yield url
    finally:
        server.close()
        # The launcher leaves the startup pipe open: close it, or `filterwarnings = error`
        # turns the ResourceWarning into a failure of whichever test runs next.
        if server.process.stdout is not None:
            server.process.stdout.close()
