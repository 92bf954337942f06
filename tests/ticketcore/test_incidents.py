"""An incident is a model like a ticket: opened once per storm, read back typed."""

from __future__ import annotations

from tests.conftest import START
from ticketcore.incidents import RESOLVED, Incident, Incidents
from ticketcore.store import Store


def test_a_storm_opens_one_incident_and_it_reads_back_typed(store: Store) -> None:
    incidents = Incidents(store)
    first = incidents.open_for("g-1", queue="dragons", title="Login fails " * 40, now=START)
    again = incidents.open_for("g-1", queue=None, title="another", now=START)
    assert isinstance(first, Incident) and again == first
    assert len(first.title) == 200 and first.queue == "dragons"
    assert first.link == {"id": first.id, "number": first.number}
    assert incidents.open_for("g-2", queue=None, title="x", now=START).number == first.number + 1

    action_id = incidents.record_action(first.id, "resolve", actor="U0LEAD", now=START, text=None)
    incidents.posting(first.id, "triage", START)
    incidents.drawn(first.id, "triage", {"count": 3}, "C0TRIAGE:1.2")
    incidents.redrawn(first.id, START)

    read = incidents.by_number(first.number)
    assert read is not None and read == incidents.get(first.id)
    assert read.status == RESOLVED
    action = read.action(action_id)
    assert action is not None and (action.kind, action.actor, action.done_at) == (
        "resolve",
        "U0LEAD",
        None,
    )
    assert read.posting == {"triage": START}
    assert (read.shown, read.refs, read.drawn_at) == (
        {"triage": {"count": 3}},
        {"triage": "C0TRIAGE:1.2"},
        START,
    )
    incidents.finish_action(first.id, action_id, START)
    finished = incidents.get(first.id)
    assert finished is not None and finished.action(action_id) is not None
    assert finished.actions[0].done_at == START
    assert incidents.by_number(999) is None
