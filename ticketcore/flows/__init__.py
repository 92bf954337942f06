"""Programmable flows: rules in a YAML file, run on ticket events.

This package is the pure part: the model, the loader with line-precise errors, condition
evaluation and notification texts. Running the actions is the caller's.
"""

from ticketcore.flows.conditions import facts_for
from ticketcore.flows.load import (
    Flows,
    FlowsError,
    Problem,
    check_file,
    load_flows,
)
from ticketcore.flows.model import (
    ACTIONS,
    Action,
    AddTags,
    AnyAction,
    Assign,
    Comparison,
    Condition,
    Escalate,
    FieldComparison,
    FlowModel,
    Notify,
    Reply,
    Rule,
    SetPriority,
    SetQueue,
    SetStatus,
    TimeWindow,
)
from ticketcore.flows.text import MAX_TEXT, TextError, render_text

__all__ = [
    "ACTIONS",
    "MAX_TEXT",
    "Action",
    "AddTags",
    "AnyAction",
    "Assign",
    "Comparison",
    "Condition",
    "Escalate",
    "FieldComparison",
    "FlowModel",
    "Flows",
    "FlowsError",
    "Notify",
    "Problem",
    "Reply",
    "Rule",
    "SetPriority",
    "SetQueue",
    "SetStatus",
    "TextError",
    "TimeWindow",
    "check_file",
    "facts_for",
    "load_flows",
    "render_text",
]
