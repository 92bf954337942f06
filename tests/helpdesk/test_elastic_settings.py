"""Elasticsearch as a real deployment reaches it: an API key or a user, a private CA, Elastic
Cloud's id; and settings that contradict each other refuse to start, naming the setting."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpdesk.settings import Settings, StartupError
from helpdesk.wiring import elastic_client

INFO = {
    "name": "node-1",
    "cluster_name": "helpdesk",
    "version": {"number": "8.15.0", "build_flavor": "default"},
    "tagline": "You Know, for Search",
}


class Heard:
    """What an Elasticsearch node was sent: the Authorization header of each request."""

    def __init__(self) -> None:
        self.authorization: list[str | None] = []


@pytest.fixture
def node() -> Iterator[tuple[str, Heard]]:
    heard = Heard()

    class Node(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            heard.authorization.append(self.headers.get("Authorization"))
            body = json.dumps(INFO).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", heard
    finally:
        server.shutdown()
        server.server_close()


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_without_an_address_search_is_embedded() -> None:
    assert elastic_client(settings()) is None


def test_an_api_key_is_sent_with_every_request(node: tuple[str, Heard]) -> None:
    url, heard = node
    client = elastic_client(
        settings(elasticsearch_url=url, elasticsearch_api_key="a2V5OnNlY3JldA==")
    )
    assert client is not None
    assert client.info()["cluster_name"] == "helpdesk"
    assert heard.authorization == ["ApiKey a2V5OnNlY3JldA=="]


def test_a_user_and_password_are_sent_as_basic_auth(node: tuple[str, Heard]) -> None:
    url, heard = node
    client = elastic_client(
        settings(
            elasticsearch_url=url, elasticsearch_username="helpdesk", elasticsearch_password="pw"
        )
    )
    assert client is not None
    client.info()
    assert heard.authorization == ["Basic " + base64.b64encode(b"helpdesk:pw").decode()]


def test_a_private_ca_and_a_cloud_id_reach_the_client(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    host = base64.b64encode(b"eu-west-1.aws.found.io$es1$kb1").decode()
    client = elastic_client(
        settings(
            elasticsearch_cloud_id=f"helpdesk:{host}",
            elasticsearch_api_key="a2V5OnNlY3JldA==",
            elasticsearch_ca_certs=str(bundle),
        )
    )
    assert client is not None
    [node] = client.transport.node_pool.all()
    assert (node.config.scheme, node.config.host, node.config.port) == (
        "https",
        "es1.eu-west-1.aws.found.io",
        443,
    )
    assert node.config.ca_certs == str(bundle)


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"elasticsearch_api_key": "k"}, "ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID"),
        (
            {"elasticsearch_url": "https://a:9200", "elasticsearch_cloud_id": "x:eA=="},
            "ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID, not both",
        ),
        (
            {"elasticsearch_url": "https://a:9200", "elasticsearch_username": "u"},
            "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD",
        ),
        (
            {
                "elasticsearch_url": "https://a:9200",
                "elasticsearch_api_key": "k",
                "elasticsearch_username": "u",
                "elasticsearch_password": "p",
            },
            "ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/PASSWORD",
        ),
        (
            {"elasticsearch_url": "https://a:9200", "elasticsearch_ca_certs": "/absent/ca.pem"},
            "ELASTICSEARCH_CA_CERTS",
        ),
    ],
    ids=["credentials-alone", "url-and-cloud", "half-a-user", "key-and-user", "absent-ca"],
)
def test_contradictions_refuse_to_start_naming_the_setting(
    values: dict[str, str], names: str
) -> None:
    with pytest.raises(StartupError) as refused:
        elastic_client(settings(**values))
    assert names in refused.value.message
