"""Everything the helpdesk does by itself, from one file (FLOWS_FILE): the flow rules,
the SLA policies, the escalation reminders and auto-close. Loaded whole or not at all:
a broken file keeps the last good one in force."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from ticketcore.flows import Flows, FlowsError, load_flows
from ticketcore.policies import (
    AssignmentPolicy,
    AutoClosePolicy,
    EscalationPolicy,
    IncidentPolicy,
)
from ticketcore.sla import SlaConfig

log = logging.getLogger(__name__)

SECTIONS: dict[str, type[BaseModel]] = {
    "sla": SlaConfig,
    "escalation": EscalationPolicy,
    "autoclose": AutoClosePolicy,
    "assignment": AssignmentPolicy,
    "incidents": IncidentPolicy,
}


@dataclass(frozen=True)
class FlowsFile:
    """The flows file (FLOWS_FILE) as loaded: its rules and its sections."""

    flows: Flows
    sla: SlaConfig | None = None
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    autoclose: AutoClosePolicy = field(default_factory=AutoClosePolicy)
    assignment: AssignmentPolicy = field(default_factory=AssignmentPolicy)
    incidents: IncidentPolicy = field(default_factory=IncidentPolicy)


def load_flows_file(path: Path, *, known_macros: Collection[str] | None = None) -> FlowsFile:
    """The whole file, validated; FlowsError (every problem with its line) otherwise."""
    flows = load_flows(path, sections=SECTIONS, known_macros=known_macros)
    # Sections left out of the file keep their defaults.
    return FlowsFile(flows=flows, **flows.sections)  # type: ignore[arg-type]


class FlowsFileHolder:
    """The file as last loaded well, re-read when it changes on disk."""

    def __init__(
        self, path: Path, initial: FlowsFile, *, known_macros: Collection[str] | None = None
    ) -> None:
        self.path = path
        self.known_macros = known_macros
        self._current = initial
        self._stamp = self._mtime()
        self._lock = threading.Lock()

    def _mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def current(self) -> FlowsFile:
        stamp = self._mtime()
        if stamp is not None and stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._stamp = stamp
                    try:
                        self._current = load_flows_file(self.path, known_macros=self.known_macros)
                        log.info("reloaded %s: %d rules", self.path, len(self._current.flows.rules))
                    except (FlowsError, OSError) as exc:
                        log.error(
                            "%s not reloaded; the previous rules stay in force:\n%s", self.path, exc
                        )
        return self._current
