"""Account fields are configured as text, and the game's JSON is shown as short values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ticketcore.accounts import (
    DEFAULT_FIELDS,
    MAX_VALUE_LENGTH,
    AccountField,
    AccountStatus,
    AccountSummary,
    display_value,
    facts,
    parse_fields,
    summarize,
    unavailable,
    unknown_player,
)

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def shown(payload: object, spec: str = "") -> list[tuple[str, str]]:
    return list(summarize("p-1", payload, parse_fields(spec), AT).fields)


# ----------------------------------------------------------------- parse_fields


def test_field_list_keeps_order_and_labels() -> None:
    fields = parse_fields("level:Level,vip:VIP,payer_tier:Payer tier,total_spend")
    assert fields == (
        AccountField("level", "Level"),
        AccountField("vip", "VIP"),
        AccountField("payer_tier", "Payer tier"),
        AccountField("total_spend", "Total spend"),
    )


def test_key_without_label_gets_the_default_label_or_the_key_in_words() -> None:
    fields = parse_fields(" last_login , guild_name , billing.first_purchase , vip: ")
    assert [f.label for f in fields] == [
        "Last login",
        "Guild name",
        "Billing first purchase",
        "VIP",
    ]


def test_label_may_hold_spaces_and_colons() -> None:
    assert parse_fields("server:Shard: region") == (AccountField("server", "Shard: region"),)


def test_blank_field_list_means_the_default_fields() -> None:
    assert parse_fields("  ") == DEFAULT_FIELDS
    assert [f.key for f in DEFAULT_FIELDS] == [
        "level",
        "vip",
        "payer_tier",
        "total_spend",
        "country",
        "platform",
        "server",
        "registered_at",
        "last_login",
        "banned",
    ]


def test_dotted_key_is_a_path() -> None:
    assert parse_fields("billing.total_spend:Spent")[0].path == ("billing", "total_spend")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("level,,vip", "account field 2 has no key"),
        (":Level", "account field 1 has no key"),
        ("level,", "account field 2 has no key"),
        ("level,vip:VIP,level:Again", "account field 'level' is listed twice"),
        ("payer tier", "'payer tier' has a space"),
        ("billing..spend", "'billing..spend' has an empty part"),
        (".vip", "'.vip' has an empty part"),
    ],
)
def test_bad_field_list_is_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fields(spec)


# ----------------------------------------------------------------- summarize


def test_summary_shows_configured_fields_in_configured_order_only_when_present() -> None:
    payload = {"vip": True, "level": 42, "country": "DE", "unshown": "x"}
    summary = summarize("p-1", payload, parse_fields("country,level,server,vip"), AT)
    assert summary.status is AccountStatus.OK
    assert summary.fields == (("Country", "DE"), ("Level", "42"), ("VIP", "yes"))
    assert summary.keys == ("country", "level", "vip")
    assert summary.raw == payload
    assert summary.fetched_at == AT
    assert summary.reason is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "yes"),
        (False, "no"),
        (0, "0"),
        (1234567, "1,234,567"),
        (-1500, "-1,500"),
        (1234.5, "1,234.50"),
        (0.125, "0.12"),
        ("Gold", "Gold"),
        ("  padded  ", "padded"),
        ("", "—"),
        ([], "—"),
        (["ios", "android"], "ios, android"),
        ([1000, True, None, {"skipped": 1}], "1,000, yes"),
    ],
)
def test_values_are_shown_as_agents_read_them(value: Any, text: str) -> None:
    assert display_value(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2024-03-01T12:30:45Z", "2024-03-01 12:30 UTC"),
        ("2024-03-01T12:30:45.123456+00:00", "2024-03-01 12:30 UTC"),
        ("2024-03-01T23:30:00+03:00", "2024-03-01 20:30 UTC"),
        ("2024-03-01 12:30", "2024-03-01 12:30 UTC"),  # no offset: taken as UTC
        ("2024-03-01", "2024-03-01"),  # a date alone has no time to show
        ("2024-13-45T99:99", "2024-13-45T99:99"),  # looks like one, is not
        ("build 2024-03-01T12:30", "build 2024-03-01T12:30"),
    ],
)
def test_iso_timestamps_are_shortened_to_the_minute_in_utc(value: str, text: str) -> None:
    assert display_value(value) == text


def test_every_value_is_cut_to_a_hundred_characters() -> None:
    text = display_value("x" * 500)
    assert text is not None
    assert len(text) == MAX_VALUE_LENGTH
    assert text.endswith("…")
    assert display_value("y" * MAX_VALUE_LENGTH) == "y" * MAX_VALUE_LENGTH
    listed = display_value(["word"] * 100)
    assert listed is not None and len(listed) == MAX_VALUE_LENGTH


def test_nulls_and_nested_objects_are_not_shown() -> None:
    payload = {"level": None, "billing": {"total_spend": 10}, "vip": False}
    assert shown(payload, "level,billing,vip") == [("VIP", "no")]


def test_dotted_keys_read_nested_values_and_list_items() -> None:
    payload = {"billing": {"total_spend": 1999.5, "currency": "EUR"}, "servers": ["eu-1", "eu-2"]}
    spec = "billing.total_spend:Spent,billing.currency,servers.1:Main server,billing.missing"
    assert shown(payload, spec) == [
        ("Spent", "1,999.50"),
        ("Billing currency", "EUR"),
        ("Main server", "eu-2"),
    ]


@pytest.mark.parametrize("payload", [[{"level": 1}], "level", 42, None])
def test_an_answer_that_is_not_a_json_object_is_malformed(payload: object) -> None:
    summary = summarize("p-1", payload, DEFAULT_FIELDS, AT)
    assert summary.status is AccountStatus.UNAVAILABLE
    assert summary.reason == "malformed JSON"
    assert summary.fields == () and summary.raw == {}


def test_summary_survives_a_json_round_trip() -> None:
    summary = summarize("p-1", {"level": 3, "tags": ["a"]}, DEFAULT_FIELDS, AT)
    assert AccountSummary.model_validate_json(summary.model_dump_json()) == summary


# ----------------------------------------------------------------- facts


def test_facts_are_the_raw_values_of_the_shown_keys() -> None:
    payload = {"vip": True, "total_spend": 250, "country": "AT", "banned": None, "other": 1}
    summary = summarize("p-1", payload, DEFAULT_FIELDS, AT)
    assert facts(summary) == {"vip": True, "total_spend": 250, "country": "AT"}


def test_dotted_keys_are_nested_in_facts_as_flow_conditions_read_them() -> None:
    payload = {"billing": {"total_spend": 120, "currency": "EUR", "cards": 2}, "vip": True}
    fields = parse_fields("billing.total_spend,billing.currency,vip")
    assert facts(summarize("p-1", payload, fields, AT)) == {
        "billing": {"total_spend": 120, "currency": "EUR"},
        "vip": True,
    }


def test_facts_are_copies_so_flows_cannot_change_the_summary() -> None:
    summary = summarize("p-1", {"platform": ["ios"]}, DEFAULT_FIELDS, AT)
    found = facts(summary)
    platforms = found["platform"]
    assert isinstance(platforms, list)
    platforms.append("android")
    assert summary.raw == {"platform": ["ios"]}


def test_facts_are_empty_unless_the_account_was_found() -> None:
    assert facts(unknown_player("p-1", AT)) == {}
    assert facts(unavailable("p-1", "timeout", AT)) == {}
