"""MONGODB_URI and REDIS_URL reach their clients as written: TLS, a private CA, a replica
set and credentials are the URI's own options, which docs/deployment.md shows."""

from __future__ import annotations

import certifi
from redis.connection import SSLConnection

from helpdesk.stack import mongo_client, redis_client

CA = certifi.where()  # a real bundle: the client loads it


def test_a_tls_mongodb_uri_reaches_the_client_unchanged() -> None:
    uri = (
        "mongodb://helpdesk:s3cret@db1.example.net:27017,db2.example.net:27017/helpdesk"
        f"?tls=true&tlsCAFile={CA}&replicaSet=rs0&authSource=admin"
    )
    client = mongo_client(uri)
    try:
        options = client.options
        assert options.replica_set_name == "rs0"
        assert options.pool_options._ssl_context is not None  # TLS on every connection
        assert options._options["tlscafile"] == CA
        credentials = options.pool_options._credentials
        assert (credentials.username, credentials.source) == ("helpdesk", "admin")
        assert set(client.topology_description.server_descriptions()) == {
            ("db1.example.net", 27017),
            ("db2.example.net", 27017),
        }
    finally:
        client.close()


def test_a_rediss_url_reaches_the_client_unchanged() -> None:
    url = f"rediss://:s3cret@cache.example.net:6380/2?ssl_ca_certs={CA}&ssl_cert_reqs=required"
    pool = redis_client(url).connection_pool
    assert pool.connection_class is SSLConnection
    settings = pool.connection_kwargs
    assert (settings["host"], settings["port"], settings["db"]) == ("cache.example.net", 6380, 2)
    assert (settings["password"], settings["ssl_ca_certs"]) == ("s3cret", CA)
    assert settings["ssl_cert_reqs"] == "required"
