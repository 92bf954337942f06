"""KPI statistics on hand-built histories in the real embedded store; each expected value
is worked out by hand in a comment beside it."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import AGENT, OTHER_AGENT, FakeClock
from ticketcore.calendar import BusinessCalendar, CalendarConfig
from ticketcore.lifecycle import Status
from ticketcore.models import Actor, ActorKind, Channel, Player
from ticketcore.outbox import HISTORY_STORE, Outbox
from ticketcore.queries import carried_entries
from ticketcore.service import TicketService
from ticketcore.sla import SlaConfig
from ticketcore.stats import (
    AgentLoad,
    DayCount,
    GroupCount,
    Percentiles,
    Period,
    Stats,
    hand_written_first_response_median,
    nearest_rank,
)
from ticketcore.store import Store, save_entries

ANN, BOB = AGENT.id, OTHER_AGENT.id
BERLIN = ZoneInfo("Europe/Berlin")
SLA = SlaConfig.model_validate(
    {
        "policies": [
            {
                "name": "default",
                "first_response": "1h",
                "resolution": "4h",
                "business_hours": False,
            }
        ]
    }
)
OFFICE_HOURS = BusinessCalendar(
    CalendarConfig(
        timezone="Europe/Berlin",
        hours={day: [("09:00", "18:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
)
_players = itertools.count(1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def helpdesk(store: Store, clock: FakeClock) -> TicketService:
    return TicketService(store, clock)


def open_ticket(
    service: TicketService,
    *,
    channel: Channel = Channel.API,
    queue: str | None = None,
    language: str = "en",
) -> int:
    """A new ticket from a player of its own, at the clock's time."""
    n = next(_players)
    player = Player(
        player_id=f"p-{n}", email=f"p{n}@example.com", telegram_user_id=n, language=language
    )
    return service.open_ticket(player=player, channel=channel, text="Help", queue=queue).number


def at(clock: FakeClock, moment: datetime) -> None:
    assert moment >= clock.now, "histories are built in time order"
    clock.now = moment


def store_history(store: Store, *, complete: bool) -> None:
    """Store the carried history entries as the worker does; `complete` also drops them
    from the tickets, as the worker does right after."""
    for doc in store.tickets.find({"outbox.kind": HISTORY_STORE}):
        save_entries(store, carried_entries(doc))
        if complete:
            keys = [r["key"] for r in doc["outbox"] if r["kind"] == HISTORY_STORE]
            Outbox(store).complete_many(str(doc["_id"]), keys)


# ------------------------------------------------------------------ periods


def test_period_parses_days_back_today_and_yesterday() -> None:
    now = utc(11, 4, 15, 30)
    assert Period.parse("7d", now=now) == Period(utc(10, 28, 15, 30), now)
    assert Period.parse(" 30D ", now=now) == Period(utc(10, 5, 15, 30), now)
    assert Period.parse("today", now=now) == Period(utc(11, 4), now)
    assert Period.parse("yesterday", now=now) == Period(utc(11, 3), utc(11, 4))
    # Berlin is UTC+1 in November: its midnight is 23:00 UTC the evening before.
    assert Period.parse("today", now=now, zone="Europe/Berlin") == Period(utc(11, 3, 23), now)
    assert Period.parse("yesterday", now=now, zone=BERLIN) == Period(utc(11, 2, 23), utc(11, 3, 23))


@pytest.mark.parametrize("text", ["week", "0d", "-3d", "7", "d", "1.5d", ""])
def test_period_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="is not a period"):
        Period.parse(text, now=utc(11, 4))


def test_period_refuses_an_end_before_its_start() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        Period(utc(11, 4), utc(11, 3))


def test_nearest_rank_on_even_and_odd_counts() -> None:
    # Even, n=4: median is the ceil(0.5*4)=2nd value, p90 the ceil(3.6)=4th.
    assert (nearest_rank([40, 10, 30, 20], 0.5), nearest_rank([40, 10, 30, 20], 0.9)) == (20, 40)
    # Odd, n=5: median the ceil(2.5)=3rd, p90 the ceil(4.5)=5th.
    assert (nearest_rank([5, 1, 4, 2, 3], 0.5), nearest_rank([5, 1, 4, 2, 3], 0.9)) == (3, 5)
    assert nearest_rank([], 0.5) is None


# ------------------------------------------------------------------ counts


def counts_scenario(service: TicketService, clock: FakeClock) -> dict[str, int]:
    """Tickets around the period [Nov 3, Nov 5) UTC; returns their numbers by name."""
    t: dict[str, int] = {}
    at(clock, utc(11, 2, 9))
    t["a"] = open_ticket(service)  # before the period, resolved inside it
    at(clock, utc(11, 3, 9))
    t["b"] = open_ticket(service)  # resolved, reopened, resolved again
    service.take(t["b"], actor=AGENT)
    at(clock, utc(11, 3, 9, 30))
    t["d"] = open_ticket(service)  # closed, then written to again: a new linked ticket
    at(clock, utc(11, 3, 10))
    t["c"] = open_ticket(service)  # never answered
    service.reply(t["b"], actor=AGENT, text="Try this")
    at(clock, utc(11, 3, 11))
    service.set_status(t["b"], Status.RESOLVED, actor=AGENT)
    at(clock, utc(11, 3, 12))
    service.set_status(t["a"], Status.RESOLVED, actor=AGENT)
    service.add_player_message_to(t["b"], text="Still broken", channel=Channel.API)
    at(clock, utc(11, 3, 13))
    service.set_status(t["d"], Status.CLOSED, actor=AGENT)
    at(clock, utc(11, 3, 14))
    t["e"] = service.add_player_message_to(t["d"], text="Again", channel=Channel.API).number
    at(clock, utc(11, 3, 15))
    t["g"] = open_ticket(service)  # a duplicate, merged away
    at(clock, utc(11, 3, 16))
    service.merge(t["g"], t["b"], actor=AGENT)
    at(clock, utc(11, 4, 9))
    service.set_status(t["b"], Status.RESOLVED, actor=AGENT)
    at(clock, utc(11, 5, 1))
    t["f"] = open_ticket(service)  # after the period
    at(clock, utc(11, 5, 2))
    return t


def test_created_resolved_reopened_and_durations(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    t = counts_scenario(helpdesk, clock)
    assert helpdesk.get(t["e"]).reopened_from == t["d"]
    period = Period(utc(11, 3), utc(11, 5))
    report = Stats(store).report(period)

    # Created in the period: b, c, d, e (a before it, f after it, g merged).
    assert report.created == 4
    # Resolved in it: a (Nov 3 12:00), d (closed 13:00), b once (last at Nov 4 09:00).
    assert report.resolved == 3
    # Reopened: b in place (resolved -> inprogress) + e, linked to the closed d.
    assert report.reopened == 2
    # Only b was ever answered: 09:00 -> 10:00.
    assert report.first_response_seconds == Percentiles(3600, 3600)
    # d: 09:30 -> 13:00 = 12600; b: Nov 3 09:00 -> Nov 4 09:00 = 86400;
    # a: Nov 2 09:00 -> Nov 3 12:00 = 27h = 97200. n=3: median the 2nd, p90 the 3rd.
    assert report.resolution_seconds == Percentiles(86400, 97200)
    # Nov 3: created b, c, d, e; resolved a, d. Nov 4: resolved b.
    assert report.by_day == (DayCount(date(2026, 11, 3), 4, 2), DayCount(date(2026, 11, 4), 0, 1))
    assert report.by_week == (DayCount(date(2026, 11, 2), 4, 3),)  # Monday Nov 2's week
    # Open at the end (Nov 5 00:00): c (38h old) and e (34h old), both new.
    assert report.backlog.by_status == {
        "new": 2,
        "inprogress": 0,
        "waiting": 0,
        "pending": 0,
        "answered": 0,
    }
    assert report.backlog.by_age == {"<1d": 0, "1-3d": 2, "3-7d": 0, ">7d": 0}
    assert report.by_channel == (GroupCount("api", 4, 3),)
    assert Stats(store).report(period, group_by_day=False).by_day is None


def test_history_stored_by_the_worker_counts_once(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    counts_scenario(helpdesk, clock)
    period = Period(utc(11, 3), utc(11, 5))
    carried = Stats(store).report(period).to_json()
    store_history(store, complete=False)  # stored and still carried: each entry once
    assert Stats(store).report(period).to_json() == carried
    store_history(store, complete=True)  # stored only
    assert store.tickets.count_documents({"outbox.kind": HISTORY_STORE}) == 0
    assert Stats(store).report(period).to_json() == carried


def test_a_resolution_later_undone_still_counts_in_its_period(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, utc(11, 2, 9))
    number = open_ticket(helpdesk)
    at(clock, utc(11, 2, 11))
    helpdesk.set_status(number, Status.RESOLVED, actor=AGENT)
    at(clock, utc(11, 3, 9))
    helpdesk.add_player_message_to(number, text="No, still broken", channel=Channel.API)
    # Open again now, yet resolved on Nov 2 after 2h; reopened on Nov 3, not on Nov 2.
    nov_2 = Stats(store).report(Period(utc(11, 2), utc(11, 3)))
    assert (nov_2.resolved, nov_2.reopened) == (1, 0)
    assert nov_2.resolution_seconds == Percentiles(7200, 7200)
    assert nov_2.backlog.total == 0  # resolved at the end of Nov 2
    nov_3 = Stats(store).report(Period(utc(11, 3), utc(11, 4)))
    assert (nov_3.resolved, nov_3.reopened, nov_3.backlog.total) == (0, 1, 1)


def test_percentiles_on_even_and_odd_counts_match_the_plain_aggregation(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, utc(11, 2, 9))
    numbers = [open_ticket(helpdesk) for _ in range(5)]
    open_ticket(helpdesk)  # never answered: in no duration
    for minutes, number in zip((10, 20, 30, 40, 50), numbers, strict=True):
        at(clock, utc(11, 2, 9, minutes))
        helpdesk.reply(number, actor=AGENT, text="On it")
    for hour, batch in (
        (11, numbers[:2]),
        (12, numbers[2:3]),
        (13, numbers[3:4]),
        (14, numbers[4:]),
    ):
        at(clock, utc(11, 2, hour))
        for number in batch:
            helpdesk.set_status(number, Status.RESOLVED, actor=AGENT)
    stats = Stats(store)

    # Until 09:45, four first responses: 600, 1200, 1800, 2400 s; median the 2nd, p90 the 4th.
    # Resolutions until 12:30: 7200, 7200, 10800; median the 2nd, p90 the 3rd.
    early = Period(utc(11, 2), utc(11, 2, 9, 45))
    assert stats.report(early).first_response_seconds == Percentiles(1200, 2400)
    assert stats.report(Period(utc(11, 2), utc(11, 2, 12, 30))).resolution_seconds == Percentiles(
        7200, 10800
    )
    # The whole day: five first responses 600..3000; median the 3rd, p90 the 5th.
    # Resolutions 7200, 7200, 10800, 14400, 18000: median the 3rd, p90 the 5th.
    day = Period(utc(11, 2), utc(11, 3))
    report = stats.report(day)
    assert report.first_response_seconds == Percentiles(1800, 3000)
    assert report.resolution_seconds == Percentiles(10800, 18000)
    assert hand_written_first_response_median(store, early) == 1200
    assert hand_written_first_response_median(store, day) == 1800
    assert hand_written_first_response_median(store, Period(utc(11, 3), utc(11, 4))) is None
    assert stats.report(Period(utc(11, 3), utc(11, 4))).first_response_seconds == Percentiles()


def test_business_hours_skip_the_weekend(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, datetime(2026, 11, 6, 17, tzinfo=BERLIN))  # a Friday, an hour before closing
    number = open_ticket(helpdesk)
    helpdesk.take(number, actor=AGENT)
    at(clock, datetime(2026, 11, 9, 10, tzinfo=BERLIN))  # Monday
    helpdesk.reply(number, actor=AGENT, text="Good morning")
    at(clock, datetime(2026, 11, 9, 12, tzinfo=BERLIN))
    helpdesk.set_status(number, Status.RESOLVED, actor=AGENT)
    period = Period(datetime(2026, 11, 6, tzinfo=BERLIN), datetime(2026, 11, 10, tzinfo=BERLIN))

    business = Stats(store, OFFICE_HOURS).report(period)
    # Friday 17:00-18:00 plus Monday 09:00-10:00 = 2 business hours.
    assert business.first_response_seconds == Percentiles(7200, 7200)
    # Friday 17:00-18:00 plus Monday 09:00-12:00 = 4 business hours.
    assert business.resolution_seconds == Percentiles(14400, 14400)
    assert business.by_agent == (AgentLoad(ANN, replies=1, resolved=1, first_response_median=7200),)
    # Days are Berlin days: created Friday the 6th, resolved Monday the 9th.
    assert [(d.day.day, d.created, d.resolved) for d in business.by_day or ()] == [
        (6, 1, 0),
        (7, 0, 0),
        (8, 0, 0),
        (9, 0, 1),
    ]
    wall = Stats(store).report(period)
    # Friday 17:00 to Monday 10:00 is 65 hours; to Monday 12:00, 67 hours.
    assert wall.first_response_seconds == Percentiles(234000, 234000)
    assert wall.resolution_seconds == Percentiles(241200, 241200)


# ------------------------------------------------------------------ SLA and CSAT


def test_sla_met_and_breached_per_target_agent_and_queue(store: Store, clock: FakeClock) -> None:
    service = TicketService(store, clock, sla=lambda: SLA)  # first response 1h, resolution 4h
    at(clock, utc(11, 2, 9))
    t1 = open_ticket(service, queue="billing")
    t2 = open_ticket(service, queue="billing")
    t3 = open_ticket(service, queue="tech")
    service.take(t1, actor=AGENT)
    service.take(t2, actor=OTHER_AGENT)
    service.take(t3, actor=OTHER_AGENT)
    at(clock, utc(11, 2, 9, 30))
    service.reply(t1, actor=AGENT, text="Done")  # first response met (due 10:00)
    at(clock, utc(11, 2, 11))
    service.reply(t2, actor=OTHER_AGENT, text="Sorry")  # first response late (due 10:00)
    service.set_status(t1, Status.RESOLVED, actor=AGENT)  # resolution met (due 13:00)
    at(clock, utc(11, 2, 12))
    service.set_status(t2, Status.RESOLVED, actor=OTHER_AGENT)  # resolution met (due 13:00)
    at(clock, utc(11, 2, 13, 30))
    t4 = open_ticket(service, queue="tech")  # its clocks still run at 14:00
    service.take(t4, actor=AGENT)
    at(clock, utc(11, 2, 14))
    raised = service.raise_sla_alerts()
    assert sorted(raised) == [(t3, "first_response", "breached"), (t3, "resolution", "breached")]

    sla = Stats(store).report(Period(utc(11, 2), utc(11, 3))).sla_met_pct
    # first_response: t1 met, t2 and t3 breached -> 1/3; resolution: t1, t2 met, t3 breached
    # -> 2/3; overall 3/6. t4's targets are not decided yet and count nowhere.
    assert sla.overall == 50
    assert sla.by_target == pytest.approx({"first_response": 100 / 3, "resolution": 200 / 3})
    # billing: t1 2/2 + t2 1/2 = 3/4; tech: t3 0/2.
    assert sla.by_queue == {"billing": 75, "tech": 0}
    report = Stats(store).report(Period(utc(11, 2), utc(11, 3)))
    # Ann: t1 2/2; Bob: t2 1/2 + t3 0/2 = 1/4.
    assert {a.agent: a.sla_met_pct for a in report.by_agent} == {ANN: 100, BOB: 25}
    # Decided times: t1 met at 09:30 and 11:00, t2 breached at its due 10:00, met at 12:00,
    # t3 breached at 10:00 and 13:00. Until 10:30: t1 met, t2 and t3 breached, all first
    # responses -> 1/3.
    early = Stats(store).report(Period(utc(11, 2), utc(11, 2, 10, 30))).sla_met_pct
    assert early.by_target == pytest.approx({"first_response": 100 / 3})


def test_csat_average_low_share_and_response_rate(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, utc(11, 2, 9))
    tg1, tg2, tg3 = (open_ticket(helpdesk, channel=Channel.TELEGRAM) for _ in range(3))
    mail = open_ticket(helpdesk, channel=Channel.EMAIL)
    api = open_ticket(helpdesk, channel=Channel.API)  # never asked, yet rated by a link
    at(clock, utc(11, 2, 10))
    for number in (tg1, tg2, tg3, mail, api):
        helpdesk.set_status(number, Status.RESOLVED, actor=AGENT)
    at(clock, utc(11, 2, 11))
    player = Actor(kind=ActorKind.PLAYER, id="p")
    for number, score in ((tg1, 5), (tg2, 2), (mail, 4), (api, 1)):
        helpdesk.rate(number, score, actor=player)

    report = Stats(store).report(Period(utc(11, 2), utc(11, 3)))
    # Scores given in the period: 5, 2, 4, 1 -> (5 + 2 + 4 + 1) / 4 = 3.0.
    assert report.csat_avg == 3.0
    # At or below LOW_CSAT (2): 2 and 1 -> 2 of 4.
    assert report.csat_low_share == 0.5
    # Asked: the resolved Telegram and mail tickets tg1, tg2, tg3, mail (4); of them
    # rated: tg1, tg2, mail (3) -> 3/4. The API ticket's score is not a response.
    assert report.csat_response_rate == 0.75
    quiet = Stats(store).report(Period(utc(11, 3), utc(11, 4)))
    assert (quiet.csat_avg, quiet.csat_low_share, quiet.csat_response_rate) == (None, None, None)


# ------------------------------------------------------------------ backlog and workload


def test_backlog_by_status_and_age_at_the_end_of_a_past_period(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    end = utc(11, 13)
    at(clock, end - timedelta(days=10))
    k1 = open_ticket(helpdesk)  # new, 10 days old at the end
    at(clock, end - timedelta(days=5))
    k2 = open_ticket(helpdesk)
    helpdesk.take(k2, actor=AGENT)  # inprogress, 5 days
    at(clock, end - timedelta(days=3))
    k5 = open_ticket(helpdesk)  # resolved before the end
    at(clock, end - timedelta(days=2))
    k3 = open_ticket(helpdesk)
    helpdesk.reply(k3, actor=AGENT, text="Which server?", status=Status.WAITING)  # 2 days
    at(clock, end - timedelta(days=1, hours=12))
    k7 = open_ticket(helpdesk)
    helpdesk.set_status(k7, Status.PENDING, actor=AGENT)  # pending, 1.5 days
    at(clock, end - timedelta(days=1))
    helpdesk.set_status(k5, Status.RESOLVED, actor=AGENT)
    at(clock, end - timedelta(hours=2))
    k4 = open_ticket(helpdesk)
    at(clock, end - timedelta(hours=1))
    helpdesk.reply(k4, actor=AGENT, text="Fixed?")  # answered at the end, 2 hours old
    at(clock, end + timedelta(hours=1))
    open_ticket(helpdesk)  # opened after the end
    at(clock, end + timedelta(hours=10))
    helpdesk.set_status(k4, Status.RESOLVED, actor=AGENT)  # resolved after the end
    at(clock, end + timedelta(hours=12))

    period = Period.parse("yesterday", now=clock.now)
    assert period == Period(utc(11, 12), end)
    report = Stats(store).report(period)
    # k1 new, k2 inprogress, k3 waiting, k7 pending, k4 answered (resolved only later).
    assert report.backlog.by_status == {
        "new": 1,
        "inprogress": 1,
        "waiting": 1,
        "pending": 1,
        "answered": 1,
    }
    # k4 2h (<1d); k3 2d and k7 1.5d (1-3d); k2 5d (3-7d); k1 10d (>7d).
    assert report.backlog.by_age == {"<1d": 1, "1-3d": 2, "3-7d": 1, ">7d": 1}
    assert report.backlog.total == 5
    assert report.resolved == 1  # k5, on Nov 12 00:00
    assert helpdesk.get(k1).status is Status.NEW


def test_agent_workload_counts_replies_resolutions_and_open_tickets(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, utc(11, 2, 9))
    w1, w2, w3 = (open_ticket(helpdesk) for _ in range(3))
    open_ticket(helpdesk)  # unassigned: open, but nobody's
    helpdesk.take(w1, actor=AGENT)
    helpdesk.take(w2, actor=AGENT)
    helpdesk.take(w3, actor=OTHER_AGENT)
    at(clock, utc(11, 2, 9, 1))
    helpdesk.flow_fired(w1, rule="ack", trigger="t-1", reply="We got your message")
    at(clock, utc(11, 2, 9, 30))
    helpdesk.reply(w1, actor=AGENT, text="Looking")
    at(clock, utc(11, 2, 9, 40))
    helpdesk.reply(w1, actor=AGENT, text="Found it")
    at(clock, utc(11, 2, 9, 50))
    helpdesk.reply(w1, actor=OTHER_AGENT, text="Confirmed")  # on Ann's ticket
    at(clock, utc(11, 2, 10))
    helpdesk.reply(w2, actor=AGENT, text="Hello")
    helpdesk.set_status(w1, Status.RESOLVED, actor=AGENT)

    report = Stats(store).report(Period(utc(11, 2), utc(11, 3)))
    # The flow's automatic answer at 09:01 is no first response: w1 1800 s, w2 3600 s.
    assert report.first_response_seconds == Percentiles(1800, 3600)
    assert report.by_agent == (
        # Ann: replies w1 x2 + w2; resolved w1; open w2; first responses 1800, 3600 -> 1st.
        AgentLoad(ANN, replies=3, resolved=1, open_now=1, first_response_median=1800),
        # Bob: one reply on Ann's ticket; open w3, never answered.
        AgentLoad(BOB, replies=1, resolved=0, open_now=1),
    )
    assert report.backlog.total == 3  # w2, w3 and the unassigned one


def test_filters_by_queue_channel_language_and_agent(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, utc(11, 2, 9))
    f1 = open_ticket(helpdesk, queue="billing", channel=Channel.TELEGRAM, language="de")
    f2 = open_ticket(helpdesk, queue="billing", channel=Channel.EMAIL, language="en")
    f3 = open_ticket(helpdesk, queue="tech", channel=Channel.TELEGRAM, language="en")
    helpdesk.take(f1, actor=AGENT)
    helpdesk.take(f2, actor=OTHER_AGENT)
    helpdesk.take(f3, actor=AGENT)
    at(clock, utc(11, 2, 10))
    helpdesk.reply(f3, actor=OTHER_AGENT, text="Bob helps on Ann's ticket")
    helpdesk.set_status(f2, Status.RESOLVED, actor=OTHER_AGENT)
    stats, period = Stats(store), Period(utc(11, 2), utc(11, 3))

    everything = stats.report(period)
    assert everything.by_queue == (GroupCount("billing", 2, 1), GroupCount("tech", 1, 0))
    assert everything.by_channel == (GroupCount("email", 1, 1), GroupCount("telegram", 2, 0))
    assert everything.by_language == (GroupCount("de", 1, 0), GroupCount("en", 2, 1))
    assert stats.report(period, queue="billing").created == 2  # f1, f2
    assert stats.report(period, channel=Channel.TELEGRAM).created == 2  # f1, f3
    assert stats.report(period, language="en").created == 2  # f2, f3
    assert stats.report(period, queue="billing", language="en").created == 1  # f2
    anns = stats.report(period, agent=ANN)
    assert (anns.created, anns.resolved, anns.backlog.total) == (2, 0, 2)  # f1, f3
    # Ticket measures go to the assignee: f3's first response (Bob's, after 1h) is Ann's.
    assert anns.by_agent == (AgentLoad(ANN, open_now=2, first_response_median=3600),)
    bobs = stats.report(period, agent=BOB)
    # Bob's own ticket f2 (created, resolved), and his reply on Ann's f3.
    assert (bobs.created, bobs.resolved) == (1, 1)
    assert bobs.by_agent == (AgentLoad(BOB, replies=1, resolved=1),)
    tech = stats.report(period, queue="tech")
    assert tech.by_agent == (
        AgentLoad(ANN, open_now=1, first_response_median=3600),
        AgentLoad(BOB, replies=1),
    )


def test_an_empty_store_reports_zeros_and_nones(store: Store) -> None:
    report = Stats(store).report(Period(utc(11, 2), utc(11, 3)))
    assert (report.created, report.resolved, report.reopened) == (0, 0, 0)
    assert report.first_response_seconds == report.resolution_seconds == Percentiles()
    assert report.sla_met_pct.overall is None
    assert report.csat_avg is None
    assert report.backlog.total == 0
    assert report.by_agent == ()
    assert report.by_day == (DayCount(date(2026, 11, 2), 0, 0),)


def test_to_json_has_the_agreed_keys_and_is_plain_json(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    counts_scenario(helpdesk, clock)
    body = Stats(store).report(Period(utc(11, 3), utc(11, 5))).to_json()
    assert set(body) == {
        "period",
        "business_hours",
        "created",
        "resolved",
        "reopened",
        "first_response_seconds",
        "resolution_seconds",
        "sla_met_pct",
        "csat_avg",
        "csat_low_share",
        "csat_response_rate",
        "backlog",
        "by_agent",
        "by_queue",
        "by_channel",
        "by_language",
        "by_day",
        "by_week",
    }
    assert body["first_response_seconds"] == {"median": 3600, "p90": 3600}
    assert body["resolution_seconds"] == {"median": 86400, "p90": 97200}
    assert set(body["sla_met_pct"]) == {"overall", "by_target", "by_queue"}
    assert set(body["backlog"]) == {"total", "by_status", "by_age"}
    assert body["by_agent"] == [
        {
            "agent": ANN,
            "replies": 1,
            "resolved": 1,
            "open_now": 0,
            "first_response_median": 3600,
            "sla_met_pct": None,
        }
    ]
    assert body["by_day"][0] == {"date": "2026-11-03", "created": 4, "resolved": 2}
    assert json.loads(json.dumps(body)) == body


def test_an_agents_report_counts_their_replies_on_other_agents_tickets(
    helpdesk: TicketService, clock: FakeClock, store: Store
) -> None:
    at(clock, utc(11, 2, 9))
    old = open_ticket(helpdesk)
    helpdesk.take(old, actor=OTHER_AGENT)
    helpdesk.reply(old, actor=AGENT, text="Before the period")
    at(clock, utc(11, 3, 9))
    mine, bobs, duplicate = (open_ticket(helpdesk) for _ in range(3))
    helpdesk.take(mine, actor=AGENT)
    helpdesk.take(bobs, actor=OTHER_AGENT)
    at(clock, utc(11, 3, 10))
    helpdesk.reply(bobs, actor=AGENT, text="Ann helps on Bob's ticket")
    helpdesk.reply(duplicate, actor=AGENT, text="Answered before the merge")
    helpdesk.merge(duplicate, bobs, actor=OTHER_AGENT)
    helpdesk.reply(old, actor=OTHER_AGENT, text="Bob's own")
    at(clock, utc(11, 3, 11))
    helpdesk.set_status(bobs, Status.RESOLVED, actor=OTHER_AGENT)
    period = Period(utc(11, 3), utc(11, 4))

    anns = Stats(store).report(period, agent=ANN)
    # Ann's replies in the period: on Bob's ticket and on the merged duplicate; the one on
    # Bob's older ticket came before it. Ticket measures are of her own ticket only:
    # created, open now, not answered.
    assert anns.by_agent == (AgentLoad(ANN, replies=2, open_now=1),)
    assert (anns.created, anns.resolved, anns.backlog.total) == (1, 0, 1)
    assert anns.first_response_seconds == Percentiles()
    bobs_report = Stats(store).report(period, agent=BOB)
    # Bob: his old ticket (open) and his new one (answered by Ann an hour after it was
    # opened, resolved), and his own reply.
    assert bobs_report.by_agent == (
        AgentLoad(BOB, replies=1, resolved=1, open_now=1, first_response_median=3600),
    )
