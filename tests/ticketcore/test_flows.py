# ruff: noqa: RUF001 - Russian player texts are Cyrillic on purpose
from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ConfigDict

from ticketcore.flows import (
    MAX_TEXT,
    AddTags,
    Assign,
    Condition,
    Escalate,
    Flows,
    FlowsError,
    Notify,
    Reply,
    SetPriority,
    TextError,
    check_file,
    facts_for,
    load_flows,
    render_text,
)
from ticketcore.flows_file import SECTIONS
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player, Ticket

ROOT = Path(__file__).resolve().parent.parent.parent
MONDAY = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")

MINIMAL = """\
rules:
  - name: refunds-to-leads
    on: [ticket.created]
    if:
      text_matches: "(?i)refund"
    then:
      - notify: {channel: C0LEADS, text: "Refund request #{{ ticket.number }}"}
"""


def load(text: str, **options: Any) -> Flows:
    return load_flows(dedent(text), **options)


def problems(text: str, **options: Any) -> list[str]:
    with pytest.raises(FlowsError) as refused:
        load(text, **options)
    return str(refused.value).splitlines()


def facts(text: str | None = None, **ticket: Any) -> dict[str, Any]:
    """Facts as a caller builds them, with a plain ticket unless told otherwise."""
    return {
        "event": "ticket.created",
        "ticket": {
            "number": 12,
            "subject": "Help",
            "channel": "telegram",
            "status": "new",
            "priority": "normal",
            "queue": None,
            "tags": [],
            "assignee": None,
            "language": "en",
            "context": {},
            "opening_text": "",
            **ticket,
        },
        "player": {"display_name": "Ann"},
        "account": {},
        "message": {} if text is None else {"text": text},
        "now": MONDAY,
    }


def holds(condition: dict[str, Any], given: dict[str, Any]) -> bool:
    return Condition.model_validate(condition).holds(given)


def ticket(**fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": "t1",
        "number": 7,
        "subject": "<!channel> give refund",
        "channel": Channel.TELEGRAM,
        "player": Player(telegram_user_id=1, language="ru", display_name="Ann"),
        "status": Status.NEW,
        "tags": ("vip",),
        "context": {"platform": "ios", "build": 1402},
        "created_at": MONDAY,
        "updated_at": MONDAY,
        "opening_text": "I want a refund",
        **fields,
    }
    return Ticket(**values)


# ----------------------------------------------------------------- loading good files


def test_the_minimal_file_loads_as_written() -> None:
    flows = load_flows(MINIMAL)

    (rule,) = flows.rules
    assert rule.name == "refunds-to-leads"
    assert rule.on == ("ticket.created",)
    assert rule.condition is not None and rule.condition.text_matches is not None
    assert rule.condition.text_matches.pattern == "(?i)refund"
    assert rule.actions == (Notify(channel="C0LEADS", text="Refund request #{{ ticket.number }}"),)
    assert flows.source == "<text>"
    assert flows.sections == {}


@pytest.mark.parametrize("key", ["on", '"on"', "'on'"])
def test_on_is_a_key_written_bare_or_quoted(key: str) -> None:
    flows = load(f"""
        rules:
          - name: x
            {key}: ticket.created
            then: [escalate: true]
        """)

    assert flows.rules[0].on == ("ticket.created",)


def test_true_and_false_stay_booleans_while_yes_no_on_off_are_words() -> None:
    flows = load("""
        rules:
          - name: x
            on: ticket.created
            enabled: false
            if:
              business_hours: true
              assigned: False
              account: {country: [NO, DE], opt_in: on}
            then: [escalate: true]
        """)

    rule = flows.rules[0]
    assert rule.enabled is False
    assert rule.condition is not None
    assert rule.condition.business_hours is True
    assert rule.condition.assigned is False
    assert rule.condition.account is not None
    assert rule.condition.account["country"].expected == ["NO", "DE"]
    assert rule.condition.account["opt_in"].expected == "on"


def test_every_action_kind_loads_as_its_own_class() -> None:
    flows = load("""
        rules:
          - name: all-actions
            on: [ticket.created, ticket.created, sla.warning]
            then:
              - notify: {user: U0AGENT, text: "hi"}
              - notify: {usergroup: S0ONCALL, text: "hi"}
              - assign: {user: U0AGENT}
              - assign: {round_robin: true, queue: billing}
              - set_priority: high
              - set_status: waiting
              - tag: one
              - tag: [two, three]
              - set_queue: billing
              - reply: {macro: relogin}
              - escalate: true
              - escalate: {reason: "late"}
        """)

    rule = flows.rules[0]
    assert rule.on == ("ticket.created", "sla.warning")
    kinds = [action.kind for action in rule.actions]  # type: ignore[attr-defined]
    assert kinds == [
        "notify",
        "notify",
        "assign",
        "assign",
        "set_priority",
        "set_status",
        "tag",
        "tag",
        "set_queue",
        "reply",
        "escalate",
        "escalate",
    ]
    assert rule.actions[1] == Notify(usergroup="S0ONCALL", text="hi")
    assert isinstance(rule.actions[1], Notify) and rule.actions[1].target == (
        "usergroup",
        "S0ONCALL",
    )
    assert rule.actions[3] == Assign(round_robin=True, queue="billing")
    assert rule.actions[4] == SetPriority(priority="high")
    assert rule.actions[6] == AddTags(tags=("one",))
    assert rule.actions[7] == AddTags(tags=("two", "three"))
    assert rule.actions[9] == Reply(macro="relogin")
    assert rule.actions[10] == Escalate()
    assert rule.actions[11] == Escalate(reason="late")


def test_an_empty_file_or_empty_rules_has_no_rules() -> None:
    assert load_flows("").rules == ()
    assert load_flows("rules:\n").rules == ()
    assert load_flows("rules: []\n").rules == ()


class Sla(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_reply_minutes: int = 60


def test_other_sections_are_validated_by_their_models_and_returned() -> None:
    flows = load_flows("sla:\n  first_reply_minutes: 30\n", sections={"sla": Sla})

    assert flows.rules == ()
    assert flows.sections == {"sla": Sla(first_reply_minutes=30)}
    assert load_flows(MINIMAL, sections={"sla": Sla}).sections == {}


def test_a_section_with_an_error_is_reported_with_its_line() -> None:
    lines = problems(
        """
        rules: []
        sla:
          first_reply_minutes: soon
          owner: me
        """,
        sections={"sla": Sla},
    )

    assert lines == [
        "<text>:4: sla.first_reply_minutes: input should be a valid integer, "
        "unable to parse string as an integer",
        "<text>:5: sla.owner: unknown key 'owner'",
    ]


# ----------------------------------------------------------------- bad files


ALLOWED_EVENTS = (
    "ticket.created, message.received, ticket.status_changed, ticket.assigned, "
    "ticket.priority_changed, reply.sent, note.added, ticket.escalated, sla.warning, "
    "sla.breached, csat.low, incident.detected, account.loaded"
)
ALLOWED_ACTIONS = "notify, assign, set_priority, set_status, tag, set_queue, reply, escalate"

BAD_FILES = {
    "unknown key in notify": (
        """
        rules:
          - name: a
            on: ticket.created
            then:
              - escalate: true
              - notify: {chanel: C0LEADS, text: "x"}
        """,
        [
            "<text>:7: rules[0].then[1].notify.chanel: unknown key 'chanel' "
            "(allowed: channel, user, usergroup, text)"
        ],
    ),
    "unknown key in a rule": (
        """
        rules:
          - name: a
            on: ticket.created
            when: always
            then: [escalate: true]
        """,
        [
            "<text>:5: rules[0].when: unknown key 'when' "
            "(allowed: name, on, if, then, enabled, description)"
        ],
    ),
    "unknown top-level key": (
        """
        rules: []
        sla: {}
        """,
        ["<text>:3: sla: unknown key 'sla' (allowed: rules)"],
    ),
    "unknown event": (
        """
        rules:
          - name: a
            on: [ticket.created, ticket.closed]
            then: [escalate: true]
        """,
        [f"<text>:4: rules[0].on[1]: unknown event 'ticket.closed' (allowed: {ALLOWED_EVENTS})"],
    ),
    "bad regex": (
        """
        rules:
          - name: a
            on: ticket.created
            if:
              any:
                - text_matches: "(?i)refund"
                - text_matches: "(?i)refund("
            then: [escalate: true]
        """,
        [
            "<text>:8: rules[0].if.any[1].text_matches: bad regular expression: "
            "missing ), unterminated subpattern at position 10"
        ],
    ),
    "bad template": (
        """
        rules:
          - name: a
            on: ticket.created
            then:
              - notify:
                  channel: C0LEADS
                  text: "Ticket #{{ ticket.number }"
        """,
        ["<text>:8: rules[0].then[0].notify.text: bad template: unexpected '}' (template line 1)"],
    ),
    "duplicate rule names": (
        """
        rules:
          - name: a
            on: ticket.created
            then: [escalate: true]
          - name: a
            on: sla.breached
            then: [escalate: true]
        """,
        ["<text>:6: rules[1].name: duplicate rule name 'a' (first at line 3)"],
    ),
    "empty then": (
        """
        rules:
          - name: a
            on: ticket.created
            then: []
        """,
        ["<text>:5: rules[0].then: a rule needs at least one action"],
    ),
    "missing then": (
        """
        rules:
          - name: a
            on: ticket.created
        """,
        ["<text>:3: rules[0]: missing required key 'then'"],
    ),
    "two targets in notify": (
        """
        rules:
          - name: a
            on: ticket.created
            then:
              - notify: {channel: C0LEADS, user: U0LEAD, text: "x"}
        """,
        [
            "<text>:6: rules[0].then[0].notify: notify needs exactly one of channel, user, "
            "usergroup (got channel, user)"
        ],
    ),
    "unknown action": (
        """
        rules:
          - name: a
            on: ticket.created
            then:
              - close: true
        """,
        [f"<text>:6: rules[0].then[0].close: unknown action 'close' (allowed: {ALLOWED_ACTIONS})"],
    ),
    "two keys in one action": (
        """
        rules:
          - name: a
            on: ticket.created
            then:
              - tag: x
                set_priority: high
        """,
        [
            "<text>:6: rules[0].then[0]: an action is a mapping of one key, "
            f"one of: {ALLOWED_ACTIONS}"
        ],
    ),
    "shorthand value out of range": (
        """
        rules:
          - name: a
            on: ticket.created
            then:
              - set_priority: critical
        """,
        [
            "<text>:6: rules[0].then[0].set_priority: "
            "input should be 'low', 'normal', 'high' or 'urgent'"
        ],
    ),
    "bad rule name": (
        """
        rules:
          - name: Refunds
            on: ticket.created
            then: [escalate: true]
        """,
        [
            "<text>:3: rules[0].name: a rule name is up to 64 of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        ],
    ),
    "field with two ops": (
        """
        rules:
          - name: a
            on: ticket.created
            if:
              field: {path: ticket.context.build, gt: 1, lt: 5}
            then: [escalate: true]
        """,
        [
            "<text>:6: rules[0].if.field: needs exactly one of equals, not_equals, in, gt, "
            "gte, lt, lte, exists, matches, contains (got gt, lt)"
        ],
    ),
    "unknown time zone and a bad time": (
        """
        rules:
          - name: a
            on: ticket.created
            if:
              time:
                between: ["9am", "18:00"]
                timezone: Europe/Atlantis
            then: [escalate: true]
        """,
        [
            "<text>:7: rules[0].if.time.between[0]: '9am' is not a time of day written as "
            '"HH:MM"',
            "<text>:8: rules[0].if.time.timezone: unknown time zone 'Europe/Atlantis'",
        ],
    ),
    "duplicate key": (
        """
        rules:
          - name: a
            name: b
            on: ticket.created
            then: [escalate: true]
        """,
        ["<text>:4: rules[0].name: duplicate key 'name'"],
    ),
    "YAML syntax error": (
        """
        rules:
          - name: a
            on: [ticket.created
            then: [escalate: true]
        """,
        [
            "<text>:5: invalid YAML: expected ',' or ']', but got ':' "
            "(while parsing a flow sequence at line 4)"
        ],
    ),
    "not a mapping": (
        """
        - name: a
        """,
        ["<text>:2: the file must be a mapping with a `rules:` list"],
    ),
}


@pytest.mark.parametrize(("text", "expected"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_with_each_problem_and_its_line(
    text: str, expected: list[str]
) -> None:
    assert problems(text) == expected


def test_every_problem_of_a_file_is_reported_at_once_in_line_order() -> None:
    lines = problems("""
        rules:
          - name: a
            on: ticket.opened
            then: [escalate: true]
          - name: a
            on: ticket.created
            then: []
        """)

    assert [line.split(": ")[0:2] for line in lines] == [
        ["<text>:4", "rules[0].on"],
        ["<text>:6", "rules[1].name"],
        ["<text>:8", "rules[1].then"],
    ]


def test_a_reply_with_an_unknown_macro_is_an_error_only_when_macros_are_known() -> None:
    text = """
        rules:
          - name: a
            on: ticket.created
            then:
              - reply: {macro: after-hours}
        """

    assert load(text).rules[0].actions == (Reply(macro="after-hours"),)
    assert load(text, known_macros={"after-hours"}).rules[0].name == "a"
    assert problems(text, known_macros={"relogin", "need-player-id"}) == [
        "<text>:6: rules[0].then[0].reply.macro: unknown macro 'after-hours' "
        "(known: need-player-id, relogin)"
    ]
    assert problems(text, known_macros=set()) == [
        "<text>:6: rules[0].then[0].reply.macro: unknown macro 'after-hours' (there are no macros)"
    ]


def test_a_file_problem_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text("rules:\n  - name: a\n    on: ticket.created\n    then: []\n")

    with pytest.raises(FlowsError) as refused:
        load_flows(path)

    assert refused.value.problems[0].line == 4
    assert refused.value.problems[0].path == "rules[0].then"
    assert str(refused.value) == f"{path}:4: rules[0].then: a rule needs at least one action"


def test_a_flows_error_survives_pickling() -> None:
    with pytest.raises(FlowsError) as refused:
        load_flows("rules:\n  - name: a\n    on: ticket.created\n    then: []\n")

    again = pickle.loads(pickle.dumps(refused.value))

    assert again.problems == refused.value.problems
    assert str(again) == "<text>:4: rules[0].then: a rule needs at least one action"


def test_check_file_prints_ok_or_the_problems_and_never_raises(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(MINIMAL)
    bad.write_text("rules:\n  - name: a\n    on: ticket.created\n    then: []\n")

    assert check_file(good) == ["ok: 1 rules"]
    assert check_file(bad) == [f"{bad}:4: rules[0].then: a rule needs at least one action"]
    assert check_file(tmp_path / "missing.yaml") == [
        f"{tmp_path / 'missing.yaml'}: cannot read the file: No such file or directory"
    ]


# ----------------------------------------------------------------- conditions


def test_text_matches_reads_the_message_else_the_opening_text() -> None:
    condition = {"text_matches": "(?i)refund"}

    assert holds(condition, facts("I want a REFUND"))
    assert not holds(condition, facts("thanks", opening_text="refund please"))
    assert holds(condition, facts(None, opening_text="refund please"))
    assert not holds(condition, {"event": "ticket.created"})


def test_text_contains_any_whole_word_ignoring_case_in_any_script() -> None:
    condition = {"text_contains": ["payment", "оплата"]}

    assert holds(condition, facts("My PAYMENT failed"))
    assert holds(condition, facts("Не прошла Оплата!"))
    assert not holds(condition, facts("prepayments are fine"))
    assert not holds(condition, facts("предоплата"))
    assert holds({"text_contains": "crash"}, facts("crash."))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"channel": "telegram"}, True),
        ({"channel": ["email", "api"]}, False),
        ({"language": "ru"}, True),  # the ticket's ru-RU counts as ru
        ({"language": ["en", "de"]}, False),
        ({"queue": "billing"}, True),
        ({"priority": ["high", "urgent"]}, True),
        ({"status": "new"}, False),
        ({"event": ["message.received"]}, True),
        ({"tags_include": ["vip", "press"]}, True),
        ({"tags_include": "press"}, False),
        ({"tags_exclude": "press"}, True),
        ({"tags_exclude": ["press", "vip"]}, False),
        ({"assigned": True}, True),
        ({"assigned": False}, False),
        ({"channel": "telegram", "status": "new"}, False),  # every key must hold
    ],
)
def test_ticket_field_conditions(condition: dict[str, Any], expected: bool) -> None:
    given = facts(
        "hi",
        language="ru-RU",
        queue="billing",
        priority="urgent",
        status="inprogress",
        tags=["vip"],
        assignee="U0AGENT",
    )
    given["event"] = "message.received"

    assert holds(condition, given) is expected


def test_all_any_and_not_nest() -> None:
    condition = {
        "all": [
            {"channel": "telegram"},
            {"any": [{"text_contains": "refund"}, {"not": {"language": "en"}}]},
        ]
    }

    assert holds(condition, facts("refund me"))
    assert not holds(condition, facts("hello"))
    assert holds(condition, facts("hello", language="ru"))
    assert not holds(condition, facts("refund me", channel="email"))


@pytest.mark.parametrize(
    ("comparison", "value", "expected"),
    [
        ({"equals": "ios"}, "ios", True),
        ({"equals": "ios"}, "android", False),
        ({"equals": 1}, True, False),  # a boolean is not a number
        ({"equals": True}, 1, False),
        ({"not_equals": "ios"}, "android", True),
        ({"in": ["ios", "android"]}, "android", True),
        ({"in": [1, 2]}, "1", False),
        ({"gt": 1400}, 1402, True),
        ({"gte": 1402.0}, 1402, True),
        ({"lt": 1400}, "1300", False),  # text against a number: false, not an error
        ({"lte": "b"}, "a", True),
        ({"gt": 0}, None, False),
        ({"gt": 0}, True, False),
        ({"gt": 0}, [1], False),
        ({"exists": True}, "x", True),
        ({"exists": True}, None, False),
        ({"exists": False}, None, True),
        ({"matches": "^1\\.2"}, "1.2.3", True),
        ({"matches": "^1\\.2"}, 12, False),
        ({"contains": "beta"}, ["beta", "eu"], True),
        ({"contains": "et"}, "beta", True),
        ({"contains": "et"}, 5, False),
        ({"contains": 1}, "1", False),
    ],
)
def test_field_ops_compare_and_unlike_types_are_false(
    comparison: dict[str, Any], value: Any, expected: bool
) -> None:
    given = facts(context={"platform": value})

    assert holds({"field": {"path": "ticket.context.platform", **comparison}}, given) is expected


@pytest.mark.parametrize(
    ("comparison", "expected"),
    [
        ({"equals": None}, False),
        ({"not_equals": "ios"}, False),
        ({"in": ["ios"]}, False),
        ({"gt": 1}, False),
        ({"matches": "."}, False),
        ({"contains": "x"}, False),
        ({"exists": True}, False),
        ({"exists": False}, True),
    ],
)
def test_a_missing_path_makes_every_op_false_but_exists_false(
    comparison: dict[str, Any], expected: bool
) -> None:
    for path in ("ticket.context.platform", "ticket.number.deeper", "nowhere"):
        assert holds({"field": {"path": path, **comparison}}, facts()) is expected


def test_field_paths_index_lists() -> None:
    given = facts(context={"devices": [{"os": "ios"}]})

    assert holds({"field": {"path": "ticket.context.devices.0.os", "equals": "ios"}}, given)
    assert not holds({"field": {"path": "ticket.context.devices.1.os", "exists": True}}, given)


def test_account_shorthand_is_equals_in_or_ops() -> None:
    condition = {"account": {"vip": True, "total_spend": {"gte": 100}, "country": ["DE", "AT"]}}
    given = facts()

    given["account"] = {"vip": True, "total_spend": 250, "country": "AT"}
    assert holds(condition, given)
    given["account"] = {"vip": True, "total_spend": 99, "country": "AT"}
    assert not holds(condition, given)
    given["account"] = {"vip": 1, "total_spend": 250, "country": "AT"}
    assert not holds(condition, given)
    given["account"] = {}
    assert not holds(condition, given)
    assert holds({"account": {"country": {"exists": False}}}, given)


def at_moscow(day: int, hour: int, minute: int = 0) -> dict[str, Any]:
    """Facts whose `now` is that November 2026 day and time in Moscow (the 2nd is a Monday)."""
    given = facts()
    given["now"] = datetime(2026, 11, day, hour, minute, tzinfo=MOSCOW).astimezone(UTC)
    return given


def test_time_window_in_its_time_zone() -> None:
    condition = {"time": {"between": ["09:00", "18:00"], "timezone": "Europe/Moscow"}}

    assert holds(condition, at_moscow(2, 9))
    assert holds(condition, at_moscow(2, 17, 59))
    assert not holds(condition, at_moscow(2, 18))
    assert not holds(condition, at_moscow(2, 8, 59))
    # 07:00 UTC is 10:00 in Moscow: inside there, outside the same hours in UTC.
    utc_only = {"time": {"between": ["09:00", "18:00"]}}
    seven_utc = facts()
    seven_utc["now"] = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    assert holds(condition, seven_utc)
    assert not holds(utc_only, seven_utc)


def test_time_window_across_midnight_belongs_to_the_day_it_opened() -> None:
    friday_night = {
        "time": {"between": ["22:00", "06:00"], "days": ["fri"], "timezone": "Europe/Moscow"}
    }

    assert not holds(friday_night, at_moscow(6, 21, 59))  # Friday, before
    assert holds(friday_night, at_moscow(6, 22))  # Friday
    assert holds(friday_night, at_moscow(7, 3))  # Saturday small hours: Friday's night
    assert not holds(friday_night, at_moscow(7, 6))  # Saturday, after
    assert not holds(friday_night, at_moscow(7, 23))  # Saturday's own night
    assert not holds(friday_night, at_moscow(6, 3))  # Thursday's night


def test_a_window_may_end_at_24_00() -> None:
    evening = {"time": {"between": ["18:00", "24:00"]}}
    given = facts()

    for hour, minute, inside in ((17, 59, False), (18, 0, True), (23, 59, True), (0, 0, False)):
        given["now"] = datetime(2026, 11, 2, hour, minute, tzinfo=UTC)
        assert holds(evening, given) is inside


def test_days_alone_and_a_naive_or_missing_now() -> None:
    weekend = {"time": {"days": ["sat", "sun"], "timezone": "Europe/Moscow"}}

    assert holds(weekend, at_moscow(8, 23, 30))
    assert not holds(weekend, at_moscow(9, 0, 30))
    naive = facts()
    naive["now"] = datetime(2026, 11, 8, 12, 0)
    assert not holds(weekend, naive)
    assert not holds(weekend, {"event": "ticket.created"})


def test_business_hours_asks_the_callable_in_the_facts() -> None:
    asked: list[datetime] = []

    def nine_to_six(now: datetime) -> bool:
        asked.append(now)
        return 9 <= now.hour < 18

    given = facts()
    given["in_business_hours"] = nine_to_six

    assert holds({"business_hours": True}, given)  # MONDAY is 12:00
    assert not holds({"business_hours": False}, given)
    assert asked == [MONDAY, MONDAY]
    del given["in_business_hours"]
    assert not holds({"business_hours": True}, given)
    assert not holds({"business_hours": False}, given)  # unknown is never a match


# ----------------------------------------------------------------- matching


ORDERED = """\
rules:
  - name: first
    on: [ticket.created, message.received]
    then: [tag: a]
  - name: off
    enabled: false
    on: ticket.created
    then: [tag: b]
  - name: not-telegram
    on: ticket.created
    if: {channel: email}
    then: [tag: c]
  - name: last
    on: ticket.created
    if: {text_contains: hello}
    then: [tag: d]
"""


def test_matching_gives_the_enabled_rules_that_hold_in_file_order() -> None:
    flows = load_flows(ORDERED)

    assert [rule.name for rule in flows.for_event("ticket.created")] == [
        "first",
        "not-telegram",
        "last",
    ]
    assert [rule.name for rule in flows.matching(facts("hello"))] == ["first", "last"]
    assert [rule.name for rule in flows.matching({**facts("hello"), "event": "reply.sent"})] == []
    assert flows.for_event("message.received")[0].name == "first"
    assert flows.matching({}) == []


def test_facts_for_a_ticket() -> None:
    now = MONDAY + timedelta(hours=1)

    def always(at: datetime) -> bool:
        return True

    given = facts_for(
        ticket(),
        event="message.received",
        now=now,
        message_text="still broken",
        account={"vip": True},
        in_business_hours=always,
    )

    assert given["event"] == "message.received"
    assert given["ticket"]["number"] == 7
    assert given["ticket"]["channel"] == "telegram"
    assert given["ticket"]["status"] == "new"
    assert given["ticket"]["language"] == "ru"
    assert given["ticket"]["tags"] == ["vip"]
    assert given["ticket"]["context"] == {"platform": "ios", "build": 1402}
    assert given["player"]["display_name"] == "Ann"
    assert given["account"] == {"vip": True}
    assert given["message"] == {"text": "still broken"}
    assert given["now"] == now
    assert given["in_business_hours"] is always
    opening = facts_for(ticket(), event="ticket.created", now=now)
    assert opening["message"] == {} and opening["account"] == {}
    assert holds({"text_contains": "refund", "language": "ru"}, opening)


# ----------------------------------------------------------------- texts


def html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_every_printed_value_goes_through_the_escape_hook() -> None:
    given = facts_for(ticket(), event="ticket.created", now=MONDAY)

    text = render_text(
        "<b>#{{ ticket.number }}</b> {{ ticket.subject }}", given, escape=html_escape
    )

    assert text == "<b>#7</b> &lt;!channel&gt; give refund"


def test_undefined_renders_empty_and_none_too() -> None:
    given = facts("hi")

    assert render_text("[{{ nope }}|{{ ticket.nope.deeper }}|{{ ticket.queue }}]", given) == "[||]"
    assert render_text("{{ player.display_name }}: {{ message.text | upper }}", given) == "Ann: HI"


def test_filters_work_and_output_is_capped() -> None:
    given = facts("x" * 500)

    assert render_text("{{ message.text | truncate(20) }}", given) == "x" * 17 + "..."
    long = render_text("{{ message.text }}" * 10, given)
    assert len(long) == MAX_TEXT
    assert long.endswith("…")


def test_a_template_cannot_reach_python_internals_or_change_the_facts() -> None:
    given = facts()

    assert render_text("{{ ticket.__class__ }}", given) == ""
    with pytest.raises(TextError, match="unsafe"):
        render_text("{{ ticket.tags.append(1) }}", given)
    assert given["ticket"]["tags"] == []
    with pytest.raises(TextError, match="ZeroDivisionError"):
        render_text("{{ 1 / 0 }}", given)


def test_a_template_syntax_error_raises_text_error() -> None:
    with pytest.raises(TextError, match="unexpected '}'"):
        render_text("{{ ticket.number }", {})


# ----------------------------------------------------------------- the shipped file


def shipped() -> Flows:
    return load_flows(ROOT / "flows.yaml", sections=SECTIONS, known_macros=None)


def names(flows: Flows, given: dict[str, Any]) -> list[str]:
    return [rule.name for rule in flows.matching(given)]


def test_the_shipped_flows_file_loads() -> None:
    flows = shipped()

    assert [rule.name for rule in flows.rules] == [
        "refunds-to-leads",
        "vip-payment-problems",
        "sla-breach-to-leads",
        "crashes-are-bugs",
        "after-hours-auto-reply",
        "night-tickets",
    ]
    assert check_file(ROOT / "flows.yaml", sections=SECTIONS) == ["ok: 6 rules"]
    assert set(flows.sections) == {"sla", "escalation", "autoclose", "incidents", "assignment"}


def test_the_shipped_rules_do_what_their_names_say() -> None:
    flows = shipped()
    in_hours: Callable[[datetime], bool] = lambda now: True  # noqa: E731

    def event(text: str, **options: Any) -> dict[str, Any]:
        return facts_for(
            ticket(opening_text=text, tags=()),
            event="ticket.created",
            now=MONDAY,
            in_business_hours=in_hours,
            **options,
        )

    assert names(flows, event("I want a refund")) == ["refunds-to-leads"]
    vip = {"vip": True}
    assert names(flows, event("Не прошла оплата", account=vip)) == ["vip-payment-problems"]
    assert names(flows, event("Не прошла оплата")) == []
    assert names(flows, event("Игра вылетает на старте")) == ["crashes-are-bugs"]
    assert names(flows, event("The game froze")) == ["crashes-are-bugs"]
    night = facts_for(
        ticket(opening_text="hi"), event="ticket.created", now=at_moscow(3, 23)["now"]
    )
    assert names(flows, night) == ["night-tickets"]
    breached = facts_for(ticket(), event="sla.breached", now=MONDAY)
    assert names(flows, breached) == ["sla-breach-to-leads"]
