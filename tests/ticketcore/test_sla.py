import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from ticketcore import sla
from ticketcore.calendar import ALWAYS, WEEKDAYS, BusinessCalendar, CalendarConfig, to_minutes
from ticketcore.sla import SlaConfig, SlaPolicy, SlaState, parse_duration

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")

CONFIG_YAML = """
sla:
  warn_at: 0.8
  calendar:
    timezone: Europe/Moscow
    hours: {mon: ["09:00","18:00"], tue: ["09:00","18:00"], wed: ["09:00","18:00"],
            thu: ["09:00","18:00"], fri: ["09:00","18:00"]}
    holidays: ["2026-12-31"]
  policies:
    - name: urgent
      priority: urgent
      queue: [vip, ru]
      first_response: 30m
      next_response: 1h
      resolution: 4h
      business_hours: false
    - name: high
      priority: [high, urgent]
      first_response: 1h
      resolution: 1d
    - name: default
      first_response: 4h
      next_response: 8h
      resolution: 3d
"""
CONFIG = SlaConfig.model_validate(yaml.safe_load(CONFIG_YAML)["sla"])


def msk(day: int, hour: int, minute: int = 0, month: int = 6) -> datetime:
    """A moment in June 2026 in Moscow (UTC+3 all year): the 5th is a Friday, the 8th a Monday."""
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def calendar(
    hours: object = None, timezone: str = "Europe/Berlin", holidays: tuple[str, ...] = ()
) -> BusinessCalendar:
    return BusinessCalendar(
        CalendarConfig.model_validate(
            {
                "timezone": timezone,
                "hours": hours or {day: ["09:00", "18:00"] for day in WORKDAYS},
                "holidays": list(holidays),
            }
        )
    )


H = timedelta(hours=1)
M = timedelta(minutes=1)
NINE_TO_SIX = calendar()
LUNCH_BREAK = calendar({day: [["09:00", "13:00"], ["14:00", "18:00"]] for day in WORKDAYS})


# Business-hours arithmetic.


def test_two_hours_from_friday_at_five_end_on_monday_at_ten() -> None:
    due = NINE_TO_SIX.add(berlin(6, 5, 17), 2 * H)
    assert due == berlin(6, 8, 10)
    assert due.tzinfo is UTC


def test_a_duration_ending_at_closing_time_ends_that_day() -> None:
    assert NINE_TO_SIX.add(berlin(6, 5, 17), H) == berlin(6, 5, 18)


def test_counting_starts_at_the_next_opening_when_started_outside_hours() -> None:
    saturday = berlin(6, 6, 12)
    assert not NINE_TO_SIX.is_open(saturday)
    assert NINE_TO_SIX.next_open(saturday) == berlin(6, 8, 9)
    assert NINE_TO_SIX.add(saturday, H) == berlin(6, 8, 10)
    assert NINE_TO_SIX.add(berlin(6, 8, 7), 30 * M) == berlin(6, 8, 9, 30)
    assert NINE_TO_SIX.next_open(berlin(6, 8, 11)) == berlin(6, 8, 11)


def test_a_holiday_is_closed_all_day() -> None:
    new_year = calendar(timezone="Europe/Moscow", holidays=("2026-12-31", "2027-01-01"))
    wednesday = datetime(2026, 12, 30, 17, tzinfo=MSK)
    assert not new_year.is_open(datetime(2026, 12, 31, 12, tzinfo=MSK))
    assert new_year.add(wednesday, 2 * H) == datetime(2027, 1, 4, 10, tzinfo=MSK)
    assert new_year.between(wednesday, datetime(2027, 1, 4, 10, tzinfo=MSK)) == 2 * H


def test_a_lunch_break_is_not_counted() -> None:
    assert LUNCH_BREAK.add(berlin(6, 8, 12), 2 * H) == berlin(6, 8, 15)
    assert LUNCH_BREAK.add(berlin(6, 8, 12), H) == berlin(6, 8, 13)
    assert not LUNCH_BREAK.is_open(berlin(6, 8, 13, 30))
    assert LUNCH_BREAK.next_open(berlin(6, 8, 13, 30)) == berlin(6, 8, 14)
    assert LUNCH_BREAK.between(berlin(6, 8, 12), berlin(6, 8, 15)) == 2 * H
    assert LUNCH_BREAK.between(berlin(6, 8, 0), berlin(6, 9, 0)) == 8 * H


def test_nine_oclock_follows_the_clocks_across_the_spring_change() -> None:
    # Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026.
    due = NINE_TO_SIX.add(berlin(3, 27, 17), 2 * H)
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert NINE_TO_SIX.next_open(berlin(3, 28, 12)) == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert NINE_TO_SIX.between(berlin(3, 27, 9), berlin(3, 30, 18)) == 18 * H


def test_nine_oclock_follows_the_clocks_across_the_autumn_change() -> None:
    # Berlin moves from UTC+2 back to UTC+1 on Sunday 25 October 2026.
    due = NINE_TO_SIX.add(berlin(10, 23, 17), 2 * H)
    assert due == datetime(2026, 10, 26, 9, tzinfo=UTC)
    assert NINE_TO_SIX.next_open(berlin(10, 24, 12)) == datetime(2026, 10, 26, 8, tzinfo=UTC)


@pytest.mark.parametrize(("month", "day", "hours"), [(3, 29, 23), (10, 25, 25)])
def test_an_open_sunday_lasts_as_long_as_the_clocks_say(month: int, day: int, hours: int) -> None:
    sundays = calendar({"sun": ["00:00", "24:00"]})
    midnight, next_midnight = berlin(month, day, 0), berlin(month, day + 1, 0)
    assert sundays.between(midnight, next_midnight) == hours * H
    assert sundays.add(berlin(month, day - 1, 12), hours * H) == next_midnight
    assert sundays.add(midnight, (hours + 1) * H) == berlin(month, day, 1) + timedelta(days=7)


def test_weeks_skipped_in_bulk_still_see_the_short_sunday() -> None:
    sundays = calendar({"sun": ["00:00", "24:00"]})
    # Eight whole Sundays from 1 March to 26 April 2026, and 29 March has 23 hours.
    assert sundays.between(berlin(3, 1, 0), berlin(5, 1, 0)) == (8 * 24 + 23) * H
    assert sundays.add(berlin(3, 1, 0), (8 * 24 + 23) * H) == berlin(4, 27, 0)
    # 4, 11 and 18 October have 24 hours, the 25th 25: the 98th hour ends at 01:00 on 1 November.
    assert sundays.add(berlin(10, 1, 0), 98 * H) == berlin(11, 1, 1)


def wall_clock_reference(cal: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """Steps a quarter of an hour at a time, judging each step by its local wall-clock time."""
    # Stepping in UTC: aware arithmetic in a local zone would step wall-clock time instead.
    step, at, left = 15 * M, start.astimezone(UTC), duration
    while True:
        local = at.astimezone(cal.zone)
        intervals = cal.config.hours.get(WEEKDAYS[local.weekday()])
        minute = local.hour * 60 + local.minute
        is_open = local.date() not in cal.config.holidays and any(
            to_minutes(s) <= minute < to_minutes(e) for s, e in intervals or []
        )
        if is_open:
            if left <= step:
                return at + left
            left -= step
        at += step


@pytest.mark.parametrize("month", [3, 10])
def test_add_agrees_with_a_wall_clock_walk_through_dst_weeks(month: int) -> None:
    # Sunday's 01:00-04:00 holds the change: two real hours in March, four in October.
    hours: dict[str, object] = {day: [["08:00", "12:30"], ["13:30", "19:00"]] for day in WORKDAYS}
    hours |= {"sat": ["00:00", "24:00"], "sun": ["01:00", "04:00"]}
    cal = calendar(hours, holidays=("2026-03-25", "2026-10-21"))
    monday = berlin(3, 23, 0) if month == 3 else berlin(10, 19, 0)
    rng = random.Random(month)
    for _ in range(60):
        start = monday + rng.randrange(6 * 24 * 4) * 15 * M
        duration = rng.randrange(1, 60 * 4) * 15 * M
        assert cal.add(start, duration) == wall_clock_reference(cal, start, duration), (
            start,
            duration,
        )


def test_between_is_zero_when_the_end_is_not_after_the_start() -> None:
    assert NINE_TO_SIX.between(berlin(6, 8, 12), berlin(6, 8, 12)) == timedelta(0)
    assert NINE_TO_SIX.between(berlin(6, 8, 12), berlin(6, 8, 10)) == timedelta(0)
    assert NINE_TO_SIX.between(berlin(6, 5, 18), berlin(6, 8, 9)) == timedelta(0)


def test_between_undoes_add() -> None:
    start = berlin(6, 5, 16, 30)
    for duration in (M, H, 9 * H, 45 * H, 100 * H + 7 * M):
        assert NINE_TO_SIX.between(start, NINE_TO_SIX.add(start, duration)) == duration


@pytest.mark.parametrize(
    "cal",
    [
        NINE_TO_SIX,
        LUNCH_BREAK,
        ALWAYS,
        calendar(timezone="Europe/Moscow", holidays=("2026-12-31", "2027-01-01", "2027-01-07")),
        calendar({"sat": ["10:00", "11:00"], "sun": ["00:00", "24:00"]}, holidays=("2026-10-25",)),
    ],
)
def test_between_undoes_add_for_random_starts_and_durations(cal: BusinessCalendar) -> None:
    rng = random.Random(20260329)
    origin = datetime(2025, 12, 1, tzinfo=UTC)
    for _ in range(300):
        start = origin + timedelta(
            seconds=rng.randrange(400 * 86400), microseconds=rng.randrange(10**6)
        )
        duration = timedelta(
            seconds=rng.randrange(1, 400 * 3600), microseconds=rng.randrange(10**6)
        )
        due = cal.add(start, duration)
        assert due >= start
        assert cal.between(start, due) == duration, (start, duration)


def test_two_hundred_business_hours_skip_whole_weeks() -> None:
    moscow = calendar(timezone="Europe/Moscow")
    # 200h = four weeks of 45h, then 9h on Monday, 9h on Tuesday and 2h on Wednesday.
    assert moscow.add(msk(1, 9), 200 * H) == datetime(2026, 7, 1, 11, tzinfo=MSK)
    assert moscow.between(msk(1, 9), datetime(2026, 7, 1, 11, tzinfo=MSK)) == 200 * H


def test_a_decade_of_business_time_takes_no_time() -> None:
    began = time.perf_counter()
    due = LUNCH_BREAK.add(berlin(1, 1, 0), 10 * 52 * 40 * H)
    assert LUNCH_BREAK.between(berlin(1, 1, 0), due) == 10 * 52 * 40 * H
    assert due.year == 2035
    assert time.perf_counter() - began < 2  # a minute-by-minute walk would take far longer


def test_always_counts_every_moment() -> None:
    start = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert ALWAYS.add(start, 5 * H) == start + 5 * H
    assert ALWAYS.between(start, start + 49 * H) == 49 * H
    assert ALWAYS.is_open(start)
    assert ALWAYS.next_open(start) == start


def test_naive_datetimes_and_negative_durations_are_refused() -> None:
    naive = datetime(2026, 6, 8, 12)
    for call in (
        lambda: NINE_TO_SIX.add(naive, H),
        lambda: NINE_TO_SIX.between(naive, berlin(6, 9, 9)),
        lambda: NINE_TO_SIX.is_open(naive),
        lambda: NINE_TO_SIX.next_open(naive),
        lambda: ALWAYS.add(naive, H),
        lambda: sla.pause(SlaState(policy="default"), naive),
    ):
        with pytest.raises(ValueError, match="no time zone"):
            call()
    with pytest.raises(ValueError, match="negative"):
        NINE_TO_SIX.add(berlin(6, 8, 12), -H)


def test_one_interval_may_be_written_without_the_outer_list() -> None:
    one = CalendarConfig.model_validate({"timezone": "UTC", "hours": {"mon": ["09:00", "18:00"]}})
    assert one.hours == {"mon": [("09:00", "18:00")]}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"timezone": "Europe/Mocsow", "hours": {"mon": ["09:00", "18:00"]}}, "time zone"),
        ({"timezone": "UTC", "hours": {"mon": ["9am", "18:00"]}}, "not a time of day"),
        ({"timezone": "UTC", "hours": {"mon": ["09:00", "24:30"]}}, "between 00:00 and 24:00"),
        ({"timezone": "UTC", "hours": {"mon": ["18:00", "09:00"]}}, "ends before it starts"),
        (
            {"timezone": "UTC", "hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}},
            "overlap",
        ),
        ({"timezone": "UTC", "hours": {"mon": None, "sat": []}}, "closed all week"),
        ({"timezone": "UTC", "hours": {"monday": ["09:00", "18:00"]}}, "should be 'mon'"),
        (yaml.safe_load("{timezone: UTC, hours: {mon: [09:00, 18:00]}}"), "quote the times"),
        ({"timezone": "UTC", "hours": {"mon": ["09:00", "13:00", "18:00"]}}, "hours.mon"),
    ],
)
def test_a_bad_calendar_is_refused_with_a_reason(config: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarConfig.model_validate(config)


# Configuration.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        (" 45m ", timedelta(minutes=45)),
        ("45s", timedelta(seconds=45)),
        ("1m30s", timedelta(seconds=90)),
        ("1d1s", timedelta(days=1, seconds=1)),
    ],
)
def test_durations_are_read_from_short_text(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(sla.format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0m", "not a positive duration"),
        ("0h0m", "not a positive duration"),
        ("-1h", "not a duration"),
        ("", "not a duration"),
        ("soon", "not a duration"),
        ("1.5h", "not a duration"),
        ("30", "not a duration"),
        ("30m1h", "not a duration"),
        ("30s1m", "not a duration"),
        ("0s", "not a positive duration"),
        (30, "not a duration"),
    ],
)
def test_a_bad_duration_is_refused_with_a_hint(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlaPolicy.model_validate({"name": "p", "resolution": value})


def test_a_config_dumps_its_durations_as_written() -> None:
    dumped = CONFIG.model_dump(mode="json")
    assert dumped["policies"][0]["first_response"] == "30m"
    assert SlaConfig.model_validate(dumped) == CONFIG


@pytest.mark.parametrize(
    ("priority", "queue", "policy"),
    [
        ("urgent", "vip", "urgent"),
        ("urgent", "ru", "urgent"),
        ("urgent", "en", "high"),
        ("urgent", None, "high"),
        ("high", "vip", "high"),
        ("normal", "vip", "default"),
        ("low", None, "default"),
    ],
)
def test_the_first_matching_policy_wins(priority: str, queue: str | None, policy: str) -> None:
    chosen = CONFIG.policy_for(priority, queue)
    assert chosen is not None and chosen.name == policy


def test_no_policy_no_clock() -> None:
    config = SlaConfig.model_validate({"policies": [{"name": "vip", "queue": "vip"}]})
    assert config.policy_for("urgent", "en") is None
    assert sla.start(config, priority="urgent", queue="en", now=msk(8, 10)) is None


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ([{"name": "a"}, {"name": "a", "priority": "low"}], "unique: a"),
        ([{"name": "all"}, {"name": "vip", "queue": "vip"}], "'vip' can never match"),
        ([{"name": "a", "priority": "critical"}], "urgent"),
        ([{"name": "a", "queue": []}], "at least one value"),
        ([{"name": "a", "respond": "1h"}], "Extra inputs"),
    ],
)
def test_a_bad_policy_list_is_refused(policies: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlaConfig.model_validate({"policies": policies})


@pytest.mark.parametrize("warn_at", [0, 1, 1.5])
def test_warn_at_is_a_fraction_strictly_between_zero_and_one(warn_at: float) -> None:
    with pytest.raises(ValidationError, match="warn_at"):
        SlaConfig.model_validate({"warn_at": warn_at})


def test_calendars_follow_the_policy() -> None:
    urgent, default = CONFIG.policies[0], CONFIG.policies[2]
    assert CONFIG.calendar_for(urgent) is ALWAYS
    assert CONFIG.calendar_for(default).zone == MSK
    assert CONFIG.calendar_for(default) is CONFIG.calendar_for(default)
    assert SlaConfig().calendar_for(default) is ALWAYS


# Transitions.


def started(
    priority: str = "normal", queue: str | None = None, now: datetime | None = None
) -> SlaState:
    state = sla.start(CONFIG, priority=priority, queue=queue, now=now or msk(5, 17))
    assert state is not None
    return state


def test_a_new_ticket_starts_first_response_and_resolution_in_business_hours() -> None:
    state = started()
    assert state.policy == "default"
    assert set(state.targets) == {"first_response", "resolution"}
    first = state.targets["first_response"]
    # 4h from Friday 17:00: one hour on Friday, three on Monday.
    assert (first.started_at, first.due_at) == (msk(5, 17), msk(8, 12))
    assert first.warn_at_time == msk(8, 11, 12)  # 0.8 x 4h = 3h12m of business time
    assert state.targets["resolution"].due_at == msk(17, 17)  # 3d is 72 business hours
    assert state.paused_since is None


def test_a_round_trip_through_json_keeps_the_state() -> None:
    state = sla.on_agent_reply(started(), CONFIG, msk(8, 10))
    assert SlaState.model_validate_json(state.model_dump_json()) == state
    assert SlaState.model_validate(state.model_dump(mode="json")) == state


def test_an_urgent_vip_ticket_runs_around_the_clock() -> None:
    state = started("urgent", "vip", msk(6, 23))
    assert state.policy == "urgent"
    assert state.targets["first_response"].due_at == msk(6, 23, 30)
    assert state.targets["resolution"].due_at == msk(7, 3)


def test_the_agent_reply_meets_the_first_response_once() -> None:
    state = sla.on_agent_reply(started(), CONFIG, msk(8, 10))
    assert state.targets["first_response"].met_at == msk(8, 10)
    assert state.targets["resolution"].met_at is None
    again = sla.on_agent_reply(state, CONFIG, msk(8, 11))
    assert again.targets["first_response"].met_at == msk(8, 10)


def test_the_player_writing_after_a_reply_starts_a_next_response_clock() -> None:
    state = started()
    assert sla.on_player_message(state, CONFIG, msk(5, 17, 30)) == state  # not answered yet
    state = sla.on_agent_reply(state, CONFIG, msk(8, 10))
    state = sla.on_player_message(state, CONFIG, msk(8, 11))
    waiting = state.targets["next_response"]
    assert (waiting.started_at, waiting.due_at) == (msk(8, 11), msk(9, 10))  # 8 business hours
    assert sla.on_player_message(state, CONFIG, msk(8, 12)) == state  # one runs: kept
    state = sla.on_agent_reply(state, CONFIG, msk(8, 13))
    assert state.targets["next_response"].met_at == msk(8, 13)
    state = sla.on_player_message(state, CONFIG, msk(8, 14))
    assert state.targets["next_response"].started_at == msk(8, 14)
    assert state.targets["next_response"].met_at is None


def test_a_policy_without_next_response_never_starts_one() -> None:
    state = sla.on_agent_reply(started("high"), CONFIG, msk(8, 10))
    assert sla.on_player_message(state, CONFIG, msk(8, 11)) == state


def test_raising_to_urgent_makes_running_targets_due_sooner() -> None:
    state = sla.on_agent_reply(started(now=msk(8, 10)), CONFIG, msk(8, 11))
    state = sla.on_player_message(state, CONFIG, msk(8, 12))
    raised = sla.on_priority_or_queue_change(state, CONFIG, "urgent", "vip", msk(8, 12, 10))
    assert raised is not None and raised.policy == "urgent"
    assert raised.targets["first_response"] == state.targets["first_response"]  # met: kept
    assert raised.targets["next_response"].due_at == msk(8, 13)  # 1h from its own start
    assert raised.targets["resolution"].due_at == msk(8, 14)  # 4h around the clock
    assert raised.targets["resolution"].warn_at_time == msk(8, 13, 12)


def test_a_new_policy_without_the_target_drops_a_running_one() -> None:
    state = sla.on_agent_reply(started(now=msk(8, 10)), CONFIG, msk(8, 11))
    state = sla.on_player_message(state, CONFIG, msk(8, 12))
    high = sla.on_priority_or_queue_change(state, CONFIG, "high", None, msk(8, 13))
    assert high is not None and set(high.targets) == {"first_response", "resolution"}
    assert high.targets["resolution"].due_at == msk(10, 16)  # 1d is 24 business hours


def test_a_breached_target_is_kept_through_a_priority_change() -> None:
    state = started(now=msk(8, 10))
    overdue = sla.on_priority_or_queue_change(state, CONFIG, "low", None, msk(8, 15))
    assert overdue is not None
    assert overdue.targets["first_response"] == state.targets["first_response"]  # due at 14:00
    raised = sla.on_priority_or_queue_change(state, CONFIG, "high", None, msk(8, 11, 30))
    assert raised is not None
    assert raised.targets["first_response"].due_at == msk(8, 11)  # overdue: breaches next


def test_a_priority_change_may_start_or_stop_the_clocks() -> None:
    config = SlaConfig.model_validate(
        {"policies": [{"name": "u", "priority": "urgent", "resolution": "1h"}]}
    )
    assert sla.on_priority_or_queue_change(None, config, "normal", None, msk(8, 10)) is None
    state = sla.on_priority_or_queue_change(None, config, "urgent", None, msk(8, 10))
    assert state is not None and state.targets["resolution"].due_at == msk(8, 11)
    assert sla.on_priority_or_queue_change(state, config, "low", None, msk(8, 10, 5)) is None


def test_a_pause_wholly_outside_business_hours_moves_nothing() -> None:
    state = started(now=msk(5, 15))
    paused = sla.pause(state, msk(5, 18, 30))
    resumed = sla.resume(paused, CONFIG, msk(8, 8, 30))
    assert resumed.targets == state.targets
    assert resumed.paused_since is None


def test_a_pause_moves_due_times_by_the_business_time_it_lasted() -> None:
    state = started(now=msk(5, 15))  # first response due Monday 10:00, warned 9:12
    paused = sla.pause(state, msk(5, 17))
    assert sla.pause(paused, msk(5, 17, 30)) == paused  # twice: no-op
    resumed = sla.resume(paused, CONFIG, msk(8, 10))  # 1h on Friday, 1h on Monday
    first = resumed.targets["first_response"]
    assert (first.due_at, first.warn_at_time) == (msk(8, 12), msk(8, 11, 12))
    assert first.paused_seconds == 2 * 3600
    assert sla.resume(resumed, CONFIG, msk(8, 11)) == resumed  # not paused: no-op


def test_a_pause_of_a_round_the_clock_policy_counts_every_hour() -> None:
    state = started("urgent", "ru", msk(5, 17))
    resumed = sla.resume(sla.pause(state, msk(5, 17, 10)), CONFIG, msk(5, 19, 10))
    assert resumed.targets["first_response"].due_at == msk(5, 19, 30)


def test_a_priority_change_keeps_the_time_already_paused() -> None:
    state = started(now=msk(8, 9))
    state = sla.resume(sla.pause(state, msk(8, 10)), CONFIG, msk(8, 12))
    raised = sla.on_priority_or_queue_change(state, CONFIG, "high", None, msk(8, 12))
    assert raised is not None
    assert raised.targets["first_response"].due_at == msk(8, 12)  # 1h + 2h paused


def test_a_priority_change_while_paused_waits_for_the_resume() -> None:
    state = sla.pause(started(now=msk(8, 9)), msk(8, 9, 30))
    raised = sla.on_priority_or_queue_change(state, CONFIG, "high", None, msk(8, 11))
    assert raised is not None and raised.paused_since == msk(8, 9, 30)
    assert raised.targets["first_response"].due_at == msk(8, 10)  # not breached: clock stopped
    assert sla.due_alerts(raised, msk(8, 11)) == []
    resumed = sla.resume(raised, CONFIG, msk(8, 11))
    assert resumed.targets["first_response"].due_at == msk(8, 11, 30)


def test_a_target_started_during_a_pause_only_stood_still_from_its_start() -> None:
    state = sla.on_agent_reply(started(now=msk(8, 9)), CONFIG, msk(8, 9, 30))
    state = sla.pause(state, msk(8, 10))
    state = sla.on_player_message(state, CONFIG, msk(8, 11))
    resumed = sla.resume(state, CONFIG, msk(8, 12))
    assert resumed.targets["next_response"].due_at == msk(9, 11)  # 8h from 11:00, +1h pause


def test_a_warning_then_a_breach_are_each_raised_once() -> None:
    state = started(now=msk(8, 9))  # first response due 13:00, warned at 12:12
    assert sla.due_alerts(state, msk(8, 12)) == []
    assert sla.due_alerts(state, msk(8, 12, 12)) == [("first_response", "warning")]
    state = sla.mark_raised(state, sla.due_alerts(state, msk(8, 12, 12)))
    assert state.targets["first_response"].warned
    assert sla.due_alerts(state, msk(8, 12, 30)) == []
    assert sla.due_alerts(state, msk(8, 13)) == [("first_response", "breached")]
    state = sla.mark_raised(state, [("first_response", "breached")])
    assert sla.due_alerts(state, msk(9, 9)) == []


def test_a_breach_found_late_comes_without_a_warning() -> None:
    state = started(now=msk(8, 9))
    alerts = sla.due_alerts(state, msk(8, 15))
    assert alerts == [("first_response", "breached")]
    state = sla.mark_raised(state, alerts)
    assert not state.targets["first_response"].warned
    assert sla.due_alerts(state, msk(8, 16)) == []


def test_no_alerts_while_paused_and_none_for_met_targets() -> None:
    state = started(now=msk(8, 9))
    paused = sla.pause(state, msk(8, 10))
    assert sla.due_alerts(paused, msk(20, 12)) == []
    answered = sla.on_agent_reply(state, CONFIG, msk(8, 12, 30))
    assert sla.due_alerts(answered, msk(8, 14)) == []


def test_resolving_meets_every_target_and_reopening_starts_a_fresh_resolution() -> None:
    state = sla.pause(started(now=msk(8, 9)), msk(8, 10))
    resolved = sla.on_resolved(state, msk(8, 11))
    assert all(t.met_at == msk(8, 11) for t in resolved.targets.values())
    assert resolved.paused_since is None
    assert sla.due_alerts(resolved, msk(30, 12)) == []
    reopened = sla.on_reopened(resolved, CONFIG, msk(9, 10))
    fresh = reopened.targets["resolution"]
    assert (fresh.started_at, fresh.met_at, fresh.warned) == (msk(9, 10), None, False)
    assert fresh.due_at == msk(19, 10)
    assert reopened.targets["first_response"] == resolved.targets["first_response"]
    assert sla.due_alerts(reopened, msk(19, 10)) == [("resolution", "breached")]


def test_the_summary_shows_what_is_due_met_breached_or_paused() -> None:
    state = started(now=msk(8, 9))
    assert [(v.name, v.status, v.remaining) for v in sla.summary(state, msk(8, 12))] == [
        ("first_response", "due", H),
        ("resolution", "due", msk(17, 18) - msk(8, 12)),
    ]
    overdue = sla.summary(state, msk(8, 14))[0]
    assert (overdue.status, overdue.remaining) == ("breached", -H)
    paused = sla.summary(sla.pause(state, msk(8, 10)), msk(8, 16))[0]
    assert (paused.status, paused.remaining) == ("paused", 3 * H)
    met = sla.summary(sla.on_agent_reply(state, CONFIG, msk(8, 10)), msk(8, 16))[0]
    assert (met.status, met.remaining) == ("met", 3 * H)
    late = sla.summary(sla.on_agent_reply(state, CONFIG, msk(8, 14)), msk(8, 16))[0]
    assert (late.status, late.remaining) == ("breached", -H)


def test_mark_raised_ignores_targets_the_state_no_longer_has() -> None:
    state = started()
    assert sla.mark_raised(state, [("next_response", "warning")]) == state
