# ruff: noqa: RUF001 - the figures show en dashes and minus signs on purpose
"""The KPI report and daily digest in Slack, and the trend chart: valid Block Kit within
Slack's limits, readable figures, inert names, and real PNG images."""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.charts import trend_chart
from bot.slack.stats import digest_blocks, duration, stats_blocks, stats_text
from ticketcore.stats import (
    AgentLoad,
    Backlog,
    DayCount,
    GroupCount,
    Percentiles,
    Period,
    Report,
    SlaCompliance,
)

OUR_DATES = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9: -]+ UTC>")
HOSTILE = "<!channel> <@U0BOSS> <http://evil.test|bank> & *bold* _it_ `code`"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 10, 19, 22, 0, tzinfo=UTC)  # local midnight at UTC+2
DAYS = [date(2026, 10, 20) + timedelta(days=n) for n in range(14)]


def report(**changes: Any) -> Report:
    base = Report(
        period=Period(START, START + timedelta(days=14)),
        business_hours=False,
        created=120,
        resolved=98,
        reopened=4,
        first_response_seconds=Percentiles(median=42 * 60, p90=3 * 3600 + 5 * 60),
        resolution_seconds=Percentiles(median=2.5 * 86400, p90=6 * 86400),
        sla_met_pct=SlaCompliance(overall=93.5, by_target={}, by_queue={}),
        csat_avg=4.32,
        csat_low_share=0.08,
        csat_response_rate=0.41,
        backlog=Backlog(
            by_status={"new": 12, "inprogress": 8, "waiting": 9, "pending": 0, "answered": 3},
            by_age={"<1d": 10, "1-3d": 12, "3-7d": 6, ">7d": 4},
        ),
        by_agent=(
            AgentLoad("U0ANN", replies=40, resolved=12, open_now=3, first_response_median=1500),
            AgentLoad("U0BOB", replies=55, resolved=20, open_now=1),
        ),
        by_queue=(
            GroupCount("billing", created=70, resolved=60),
            GroupCount(None, created=50, resolved=38),
        ),
        by_channel=(),
        by_language=(),
        by_day=tuple(DayCount(d, created=8 + n % 5, resolved=7) for n, d in enumerate(DAYS)),
    )
    return replace(base, **changes)


def valid(blocks: list[Block]) -> list[dict[str, Any]]:
    """Serialise with slack-sdk's validators, parse back, and check Slack's text limits."""
    dicts = [b.to_dict() for b in blocks]
    assert [Block.parse(d).to_dict() for d in dicts] == dicts  # type: ignore[union-attr]
    assert len(dicts) <= 50
    for block in dicts:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
    return dicts


def by_id(dicts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["block_id"]: d for d in dicts}


def fields(dicts: list[dict[str, Any]]) -> dict[str, str]:
    """The summary fields by their bold title."""
    texts = [f["text"] for f in by_id(dicts)["stats.fields"]["fields"]]
    return dict(text.removeprefix("*").split("*\n", 1) for text in texts)


def mrkdwn_texts(value: object) -> list[str]:
    """Every mrkdwn string in a payload: the only place Slack looks for mentions."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            found.append(value["text"])
        for item in value.values():
            found += mrkdwn_texts(item)
    elif isinstance(value, list):
        for item in value:
            found += mrkdwn_texts(item)
    return found


# ------------------------------------------------------------------ the report


def test_the_report_is_a_header_the_figures_the_agents_and_the_clock() -> None:
    dicts = valid(stats_blocks(report(), title="Support KPIs"))
    assert [d["block_id"] for d in dicts] == [
        "stats.header",
        "stats.fields",
        "stats.agents",
        "stats.context",
    ]
    assert dicts[0]["text"]["text"] == "Support KPIs · 20 Oct – 2 Nov 2026"
    assert fields(dicts) == {
        "Created": "120",
        "Resolved": "98",
        "Reopened": "4",
        "SLA met": "93.5%",
        "First response": "42 min median · 3 h 05 min p90",
        "Resolution": "2.5 d median · 6.0 d p90",
        "CSAT": "4.3 / 5 · 8% low (≤2) · 41% rated",
        "Backlog": "32 open (new 12, waiting 9, inprogress 8)",
        "Busiest queues": (
            "billing · 70 created · 60 resolved\nno queue · 50 created · 38 resolved"
        ),
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0, "< 1 min"),
        (29, "< 1 min"),
        (42 * 60, "42 min"),
        (59 * 60 + 40, "1 h 00 min"),
        (3 * 3600 + 5 * 60, "3 h 05 min"),
        (47 * 3600 + 59 * 60, "47 h 59 min"),
        (2.5 * 86400, "2.5 d"),
        (30 * 86400, "30.0 d"),
    ],
)
def test_durations_read_in_minutes_hours_or_days(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_figures_without_data_show_a_dash() -> None:
    empty = report(
        created=0,
        resolved=0,
        reopened=0,
        first_response_seconds=Percentiles(),
        resolution_seconds=Percentiles(),
        sla_met_pct=SlaCompliance(overall=None, by_target={}, by_queue={}),
        csat_avg=None,
        csat_low_share=None,
        csat_response_rate=None,
        backlog=Backlog(by_status={"new": 0, "waiting": 0}, by_age={}),
        by_agent=(),
        by_queue=(),
    )
    dicts = valid(stats_blocks(empty, title="Support KPIs"))
    assert fields(dicts) == {
        "Created": "0",
        "Resolved": "0",
        "Reopened": "0",
        "SLA met": "–",
        "First response": "– median · – p90",
        "Resolution": "– median · – p90",
        "CSAT": "– · – low (≤2) · – rated",
        "Backlog": "0 open",
    }
    assert by_id(dicts)["stats.agents"]["text"]["text"].endswith(
        "No agent activity in this period._"
    )
    assert "None" not in json.dumps(dicts)


def test_agents_are_ranked_by_replies_and_cut_to_five() -> None:
    agents = tuple(
        AgentLoad(f"U0AGENT{n}", replies=replies, resolved=n, open_now=1)
        for n, replies in enumerate([5, 30, 12, 30, 1, 8, 20])
    )
    dicts = valid(stats_blocks(report(by_agent=agents), title="Support KPIs"))
    lines = by_id(dicts)["stats.agents"]["text"]["text"].splitlines()
    assert lines[0] == "*By agent* · top 5 of 7 by replies"
    assert [line.split(" · ")[0] for line in lines[1:]] == [
        "<@U0AGENT3>",  # 30 replies and 3 resolved before 30 replies and 1 resolved
        "<@U0AGENT1>",
        "<@U0AGENT6>",
        "<@U0AGENT2>",
        "<@U0AGENT5>",
    ]
    assert lines[3] == ("<@U0AGENT6> · 20 replies · 6 resolved · 1 open now · first response –")


def test_hostile_agent_queue_and_status_names_cannot_ping_or_format() -> None:
    hostile = report(
        by_agent=(AgentLoad(HOSTILE, replies=3),),
        by_queue=(GroupCount(HOSTILE, created=5, resolved=1),),
        backlog=Backlog(by_status={HOSTILE: 2}, by_age={}),
    )
    dicts = valid(stats_blocks(hostile, title=HOSTILE, chart_note=HOSTILE))
    dicts += valid(digest_blocks(hostile, hostile, day=date(2026, 11, 1)))
    texts = mrkdwn_texts(dicts)
    assert texts
    for text in texts:
        assert "<!" not in OUR_DATES.sub("", text)
        assert "<@U0BOSS>" not in text
        assert "<http" not in text
        assert "*bold*" not in text
        assert "_it_" not in text
    joined = "\n".join(texts)
    assert "&lt;!channel&gt;" in joined
    assert "&lt;!channel&gt; &lt;@U0BOSS&gt;" in fields(dicts[:4])["Busiest queues"]
    # The title is plain text, where Slack parses neither mentions nor formatting.
    assert dicts[0]["text"] == {
        "type": "plain_text",
        "text": f"{HOSTILE} · 20 Oct – 2 Nov 2026",
        "emoji": False,
    }
    assert by_id(dicts)["stats.context"]["elements"][-1] == {
        "type": "plain_text",
        "text": HOSTILE,
        "emoji": False,
    }
    assert "<!" not in stats_text(hostile)


def test_long_names_and_notes_are_cut_within_the_limits() -> None:
    long = "x" * 5000 + "&<>"
    agents = tuple(AgentLoad(f"{n}{long}", replies=n) for n in range(9))
    queues = tuple(GroupCount(f"{n}{long}", created=n, resolved=0) for n in range(9))
    dicts = valid(
        stats_blocks(
            report(by_agent=agents, by_queue=queues),
            title=long,
            chart_note="&" * 5000,
        )
    )
    assert dicts[0]["text"]["text"].endswith("x… · 20 Oct – 2 Nov 2026")
    note = by_id(dicts)["stats.context"]["elements"][-1]
    assert note == {"type": "plain_text", "text": "&" * 299 + "…", "emoji": False}


def test_the_context_says_whether_times_count_business_hours() -> None:
    wall = by_id(valid(stats_blocks(report(), title="KPIs")))["stats.context"]
    business = by_id(valid(stats_blocks(report(business_hours=True), title="KPIs")))
    assert wall["elements"][0]["text"] == ":clock3: Times are wall-clock"
    assert business["stats.context"]["elements"][0]["text"] == (
        ":clock3: Times count business hours only"
    )
    assert wall["elements"][1]["text"] == (
        "From <!date^1792447200^{date_short_pretty} {time}|2026-10-19 22:00 UTC>"
        " to <!date^1793656800^{date_short_pretty} {time}|2026-11-02 22:00 UTC>"
    )


def test_without_a_day_series_the_header_names_utc_dates() -> None:
    header = valid(stats_blocks(report(by_day=None), title="KPIs"))[0]["text"]["text"]
    assert header == "KPIs · 19 Oct – 2 Nov 2026 (UTC)"
    one_day = report(by_day=(DayCount(date(2026, 11, 1), 3, 2),))
    assert valid(stats_blocks(one_day, title="KPIs"))[0]["text"]["text"] == (
        "KPIs · Sun 1 Nov 2026"
    )


def test_the_notification_text_summarises_on_one_line() -> None:
    assert stats_text(report()) == (
        "Support 20 Oct – 2 Nov 2026: 120 created, 98 resolved, 4 reopened; first response"
        " 42 min median; SLA met 93.5%; backlog 32 open"
    )


# ------------------------------------------------------------------ the digest


def test_the_digest_tells_yesterday_and_compares_with_the_day_before() -> None:
    day = date(2026, 11, 1)
    yesterday = report(by_day=(DayCount(day, 42, 38),), created=42, resolved=38, reopened=2)
    before = report(
        created=37,
        resolved=40,
        reopened=2,
        first_response_seconds=Percentiles(median=50 * 60, p90=None),
        sla_met_pct=SlaCompliance(overall=92.3, by_target={}, by_queue={}),
        backlog=Backlog(by_status={"new": 28}, by_age={}),
    )
    dicts = by_id(valid(digest_blocks(yesterday, before, day=day)))
    assert list(dicts) == ["digest.summary", "digest.trend", "digest.agents", "digest.context"]
    assert dicts["digest.summary"]["text"]["text"].splitlines() == [
        ":sunrise: *Yesterday in support* (Sun 1 Nov): 42 created, 38 resolved, 2 reopened",
        "First response 42 min median, 3 h 05 min p90 · SLA met 93.5%"
        " · CSAT 4.3 / 5 · 8% low (≤2) · 41% rated",
        "Backlog 32 open (new 12, waiting 9, inprogress 8)",
    ]
    assert dicts["digest.trend"]["elements"][0]["text"] == (
        "Compared with Sat 31 Oct: created +5 · resolved −2 · reopened ±0"
        " · first response −8 min · SLA met +1.2 pts · backlog +4"
    )


def test_the_comparison_shows_a_dash_where_a_day_has_no_data() -> None:
    day = date(2026, 11, 1)
    quiet = report(
        first_response_seconds=Percentiles(),
        sla_met_pct=SlaCompliance(overall=None, by_target={}, by_queue={}),
    )
    dicts = by_id(valid(digest_blocks(report(), quiet, day=day)))
    assert dicts["digest.trend"]["elements"][0]["text"].endswith(
        "first response – · SLA met – · backlog ±0"
    )


def test_the_digest_without_the_day_before_has_no_comparison() -> None:
    dicts = by_id(valid(digest_blocks(report(), None, day=date(2026, 11, 1))))
    assert "digest.trend" not in dicts
    assert dicts["digest.summary"]["text"]["text"].startswith(
        ":sunrise: *Yesterday in support* (Sun 1 Nov): "
    )


# ------------------------------------------------------------------ the chart


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first and check out."""
    assert data.startswith(PNG_SIGNATURE)
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR")
    (crc,) = struct.unpack(">I", data[8 + 8 + length : 8 + 12 + length])
    assert crc == zlib.crc32(data[12 : 8 + 8 + length])
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


def test_the_trend_chart_is_a_slack_sized_png() -> None:
    days = [DayCount(d, created=10 + n % 4, resolved=9 + n % 3) for n, d in enumerate(DAYS)]
    first_response = {d: None if n == 5 else 600.0 * (n + 1) for n, d in enumerate(DAYS)}
    data = trend_chart(
        days, title="Support · 14 days · costs $5 and $x^2", first_response_by_day=first_response
    )
    width, height = png_size(data)
    assert 800 <= width <= 1200
    assert 400 <= height <= 600
    assert width == 2 * height


def test_an_empty_trend_chart_is_still_a_png() -> None:
    empty = trend_chart([], title="Support · no days", first_response_by_day={})
    zeros = trend_chart([DayCount(d, 0, 0) for d in DAYS], title="Support · quiet")
    assert png_size(empty) == png_size(zeros) == (1000, 500)
    assert empty != zeros
