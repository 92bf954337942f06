"""Secrets on disk are this user's alone, an address from outside is exactly one address,
and a rating link records one score per resolution."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pydantic
import pytest
from starlette.testclient import TestClient

from handlers.rating import RatingPages
from handlers.web import create_app
from helpdesk.keys import kept_secret
from helpdesk.settings import StartupError, check_data_dir
from jobs.runtime import Runtime
from tests.conftest import AGENT
from ticketcore.addresses import to_address
from ticketcore.lifecycle import Status
from ticketcore.links import rating_token
from ticketcore.models import Channel, Player, resolution_of

KEY = "k" * 32
SECRET = "rating-secret"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_kept_secrets_are_this_users_alone(tmp_path: Path) -> None:
    old = os.umask(0)  # the loosest umask a service could run with
    try:
        data_dir = check_data_dir(tmp_path / "var")
        secret = kept_secret(data_dir / "secret-key")
    finally:
        os.umask(old)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret-key") == 0o600
    assert len(secret) >= 32
    assert kept_secret(data_dir / "secret-key") == secret  # made once, then read
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret-key"]  # no temporary left


def test_a_secret_file_others_can_read_stops_the_start_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.write_text("a-secret-someone-left-open\n")
    path.chmod(0o644)
    with pytest.raises(StartupError) as refused:
        kept_secret(path)
    assert refused.value.message.endswith(f"run: chmod 600 {path}")
    path.chmod(0o600)
    assert kept_secret(path) == "a-secret-someone-left-open"


@pytest.mark.parametrize(
    "given",
    [
        "a@x.com,b@y.com",
        "a@x.com, b@y.com",
        "Ann <a@x.com>",
        "a@x.com (work)",
        "a@[10.0.0.1]",
        "a@localhost",
        "a..b@x.com",
        "a@",
        "",
        "a" * 250 + "@x.com",
    ],
)
def test_an_address_is_exactly_one_addr_spec(given: str) -> None:
    with pytest.raises(ValueError, match="is "):
        to_address(given)
    with pytest.raises(pydantic.ValidationError):
        Player(email=given)


def test_a_good_address_is_kept_lower_cased() -> None:
    assert Player(email=" Gamer@Example.COM ").email == "gamer@example.com"


def test_the_api_refuses_an_address_list_with_a_reason(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, api_keys=[KEY])) as client:
        answer = client.post(
            "/api/v1/tickets",
            json={"text": "My gems vanished", "email": "victim@example.com,me@evil.example"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert answer.status_code in (400, 422)
    assert "one email address" in answer.text
    assert runtime.store.tickets.count_documents({}) == 0


def test_a_rating_link_records_one_score_per_resolution(runtime: Runtime) -> None:
    service = runtime.service
    player = Player(email="gamer@example.com", language="en")
    number = service.open_ticket(player=player, channel=Channel.EMAIL, text="Lost gems").number
    service.reply(number, actor=AGENT, text="Restored", status=Status.RESOLVED)
    ticket = service.get(number)
    token = rating_token(number, resolution_of(ticket), secret=SECRET)
    app = create_app(runtime, api_keys=[KEY], rating=RatingPages(service, SECRET))
    with TestClient(app) as client:
        assert client.post(f"/rate/{token}", data={"score": "5"}).status_code == 200
        again = client.post(f"/rate/{token}", data={"score": "1"})
    assert again.status_code == 409
    assert "already has your score" in again.text
    csat = service.get(number).csat
    assert csat is not None and csat.score == 5
    events = [e.event for e in service.history(service.get(number)).items]
    assert events.count("csat.received") == 1 and "csat.low" not in events
