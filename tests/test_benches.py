"""The benchmarks are not run by the suite (they print figures, they are not tests), so
the suite checks what would stop one from starting: each script's imports and arguments,
and the flows files they run the desk with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ticketcore.flows import load_flows

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(
    path
    for path in (ROOT / "bench").glob("*.py")
    if path.name not in {"__init__.py", "harness.py"}  # harness: a module the others share
)


def test_every_benchmark_script_is_checked() -> None:
    assert {path.stem for path in SCRIPTS} >= {"day", "intake", "mail_intake", "stats"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_a_benchmark_imports_and_reads_its_arguments(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_the_flows_files_the_benchmarks_run_are_valid() -> None:
    from bench import day, flows_eval, mail_intake

    for text in (day.FLOWS, flows_eval.RULES, mail_intake.FLOWS):
        load_flows(text)  # raises FlowsError, every problem with its line
