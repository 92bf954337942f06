# ruff: noqa: RUF001 - agents search Russian tickets in Cyrillic on purpose
from __future__ import annotations

import random
from datetime import date

import pytest

from ticketcore.search.ast import Comparison, DateFilter, Filter, Phrase, Query, QueryError, Words
from ticketcore.search.query import MAX_QUERY, parse

TODAY = date(2026, 11, 20)
FIELDS = (
    "status, player, email, tag, queue, assignee, channel, priority, telegram, created, updated"
)


def terms(text: str) -> tuple[object, ...]:
    return parse(text, today=TODAY).terms


def error(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(text, today=TODAY)
    return caught.value


def test_each_free_word_is_its_own_term() -> None:
    assert terms("lost  gems\tпотерял") == (Words("lost"), Words("gems"), Words("потерял"))


def test_words_keep_their_case_and_are_nfc() -> None:
    decomposed = "и\u0306ога"  # и + combining breve: what some keyboards paste for й
    assert terms(f"Gems {decomposed}") == (Words("Gems"), Words("йога"))


def test_blank_query_is_empty() -> None:
    assert parse(" \t\n").is_empty
    assert parse("").source == ""


def test_control_and_zero_width_characters_separate_words() -> None:
    assert terms("lost\x00gems\u200bhelp") == (Words("lost"), Words("gems"), Words("help"))


@pytest.mark.parametrize(
    "text", ['"error  503"', "“error 503”", "«error 503»", "„error 503“", '“error 503"']
)
def test_phrase_in_any_quotes(text: str) -> None:
    assert terms(text) == (Phrase("error 503"),)


def test_quote_inside_a_word_starts_a_phrase() -> None:
    assert terms('foo"bar baz"qux') == (Words("foo"), Phrase("bar baz"), Words("qux"))


def test_negations() -> None:
    assert terms('gems -refund -"test ticket" -tag:vip') == (
        Words("gems"),
        Words("refund", negated=True),
        Phrase("test ticket", negated=True),
        Filter("tag", "vip", negated=True),
    )


def test_hyphen_inside_a_word_is_not_negation() -> None:
    assert terms("e-mail") == (Words("e-mail"),)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("status:new", "status", "new"),
        ("STATUS:InProgress", "status", "inprogress"),
        ("player:12345", "player", "12345"),
        ("email:Ann@Example.COM", "email", "ann@example.com"),
        ("tag:Refund", "tag", "refund"),
        ("queue:ru", "queue", "ru"),
        ("assignee:@me", "assignee", "me"),
        ("assignee:ME", "assignee", "me"),
        ("assignee:U0ABC", "assignee", "U0ABC"),
        ("assignee:@U0ABC", "assignee", "U0ABC"),
        ("assignee:@u0abc", "assignee", "U0ABC"),
        ("assignee:<@U0ABC|ann>", "assignee", "U0ABC"),
        ("channel:Telegram", "channel", "telegram"),
        ("priority:HIGH", "priority", "high"),
        ("telegram:@Nick_1", "telegram", "nick_1"),
        ('queue:"vip  ru"', "queue", "vip ru"),
        ("player:“id 7”", "player", "id 7"),
    ],
)
def test_filters(text: str, field: str, value: str) -> None:
    assert terms(text) == (Filter(field, value),)


@pytest.mark.parametrize(
    ("text", "op", "day"),
    [
        ("created:>2026-11-01", ">", date(2026, 11, 1)),
        ("created:>=2026-11-01", ">=", date(2026, 11, 1)),
        ("created:<2026-11-01", "<", date(2026, 11, 1)),
        ("created:<=2026-11-01", "<=", date(2026, 11, 1)),
        ("created:=2026-11-01", "=", date(2026, 11, 1)),
        ("created:2026-11-01", "=", date(2026, 11, 1)),
        ("created:>7d", ">", date(2026, 11, 13)),
        ("Created:<=2W", "<=", date(2026, 11, 6)),
        ('created:">0d"', ">", TODAY),
    ],
)
def test_created_dates(text: str, op: Comparison, day: date) -> None:
    assert terms(text) == (DateFilter("created", op, day),)


def test_updated_dates_and_their_negation() -> None:
    assert terms("gems -updated:<30d") == (
        Words("gems"),
        DateFilter("updated", "<", date(2026, 10, 21), negated=True),
    )


def test_ticket_number_alone() -> None:
    assert parse("#1234") == Query(number=1234)


def test_ticket_number_with_terms_keeps_them() -> None:
    query = parse("#1234 gems -refund")
    assert query.number == 1234
    assert query.terms == (Words("gems"), Words("refund", negated=True))


def test_ticket_number_with_only_negations_is_allowed() -> None:
    assert parse("#7 -refund").terms == (Words("refund", negated=True),)


def test_hash_with_letters_is_a_word() -> None:
    assert terms("#refund #12a") == (Words("#refund"), Words("#12a"))


def test_links_are_words_not_filters() -> None:
    assert terms("https://example.com/a") == (Words("https://example.com/a"),)


def test_negations_beside_a_filter_are_allowed() -> None:
    assert terms("status:new -refund") == (
        Filter("status", "new"),
        Words("refund", negated=True),
    )


def test_the_documented_example_reads_as_documented() -> None:
    assert terms(
        'lost gems "error 503" -refund status:new tag:vip created:>2026-11-01 assignee:@me'
    ) == (
        Words("lost"),
        Words("gems"),
        Phrase("error 503"),
        Words("refund", negated=True),
        Filter("status", "new"),
        Filter("tag", "vip"),
        DateFilter("created", ">", date(2026, 11, 1)),
        Filter("assignee", "me"),
    )


def test_source_is_the_original_text() -> None:
    text = "  lost   Gems  "
    query = parse(text)
    assert query.source == text
    assert query == Query(terms=(Words("lost"), Words("Gems")))


def test_query_at_the_limit_is_read() -> None:
    assert len(parse("a" * MAX_QUERY).terms) == 1


def test_long_whitespace_query_within_limit_is_empty() -> None:
    assert parse(" " * MAX_QUERY).is_empty


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (
            "stauts:new",
            f"unknown filter 'stauts'; did you mean status? filters: {FIELDS}",
            0,
        ),
        (
            "gems Error: 503",
            f"unknown filter 'Error'; filters: {FIELDS}. "
            'To find the text itself, put it in quotes: "Error:"',
            5,
        ),
        (
            "статус:new",
            f"unknown filter 'статус'; filters: {FIELDS}. "
            'To find the text itself, put it in quotes: "статус:new"',
            0,
        ),
        (
            "status:opn",
            "unknown status 'opn'; statuses: new, inprogress, waiting, pending, answered, "
            "resolved, closed",
            0,
        ),
        (
            "status:closd",
            "unknown status 'closd'; did you mean closed? statuses: new, inprogress, waiting, "
            "pending, answered, resolved, closed",
            0,
        ),
        (
            "channel:fax",
            "unknown channel 'fax'; channels: telegram, email, api, slack",
            0,
        ),
        (
            "priority:hgh",
            "unknown priority 'hgh'; did you mean high? priorities: low, normal, high, urgent",
            0,
        ),
        ("tag:", "tag: needs a value, like tag:refund", 0),
        ("gems -tag:", "tag: needs a value, like tag:refund", 5),
        ('email:""', 'empty quotes: put the words to find between them, like "error 503"', 6),
        ("email:ann", "'ann' is not an email address; write email:player@example.com", 0),
        (
            "assignee:bob",
            "assignee:bob is not a Slack user; write assignee:@me, @-mention the agent, "
            "or give the Slack user id: assignee:U0ABC",
            0,
        ),
        ("telegram:@a-b", "'@a-b' is not a Telegram username; write telegram:@nick", 0),
        (
            "created:>2026-13-01",
            "bad date '>2026-13-01'; write created:>2026-11-01 or created:>7d",
            0,
        ),
        ("updated:yesterday", "bad date 'yesterday'; write updated:>2026-11-01 or updated:>7d", 0),
        ("created:>20261101", "bad date '>20261101'; write created:>2026-11-01 or created:>7d", 0),
        ("created:>999999d", "bad date '>999999d'; write created:>2026-11-01 or created:>7d", 0),
        (
            'gems "error 503',
            'the quote at character 6 is not closed; put a quote at each end: "exact phrase"',
            5,
        ),
        (
            "gems - refund",
            "a lone '-' leaves nothing out; write it right before what to leave out: "
            '-refund, -"test ticket" or -tag:vip',
            5,
        ),
        ("gems --refund", "write one '-' right before a word to leave it out: -refund", 6),
        (
            '-refund -"test"',
            "say what to look for: add a word or a filter next to what you leave out, "
            "like refund -test",
            0,
        ),
        ("gems -#12", "a ticket number cannot be left out; write #12 to open that ticket", 5),
        ("#12 #13", "one ticket number at a time: write #12 or #13", 4),
        ("#0", "there is no ticket #0; numbers start at #1", 0),
        (
            "a" * (MAX_QUERY + 1),
            "the query is 501 characters; the limit is 500. Keep the words that matter most.",
            500,
        ),
        ("gems \ud800", "character 6 cannot be read; retype the query by hand", 5),
    ],
)
def test_errors_say_what_to_write(text: str, message: str, position: int) -> None:
    caught = error(text)
    assert str(caught) == message
    assert caught.position == position


def test_relative_dates_need_today() -> None:
    with pytest.raises(QueryError) as caught:
        parse("created:>7d")
    assert str(caught.value) == (
        "relative dates like created:>7d cannot be used here; write a date: created:>2026-11-01"
    )


def test_relative_date_before_year_one_is_a_bad_date() -> None:
    with pytest.raises(QueryError, match="bad date"):
        parse("created:>3d", today=date(1, 1, 2))


FUZZ_PIECES = [
    '"', "“", "”", "«", "»", "„", ":", "-", "#", "<", ">", "=", "@", "/", " ", "  ", "\t",
    "\n", "\x00", "\x1b", "\u200b", "a", "Z", "é", "ж", "Ё", "й",
    "\u0306", "0", "7", "1234", "2026-11-01", "7d", "status", "tag", "created", "updated",
    "assignee", "email", "telegram", "me", "new", "😀",
]  # fmt: skip


def test_fuzz_gives_only_a_query_or_a_query_error() -> None:
    rng = random.Random(20261120)
    parsed = 0
    for _ in range(5000):
        pieces = [rng.choice(FUZZ_PIECES) for _ in range(rng.randint(0, 40))]
        if rng.random() < 0.05:  # rare, or they would hide everything after them
            pieces.insert(rng.randint(0, len(pieces)), rng.choice(["\ud800", "\udfff"]))
        text = "".join(pieces)
        try:
            result = parse(text, today=rng.choice([TODAY, None, date(1, 1, 1)]))
        except QueryError as caught:
            assert caught.position is None or 0 <= caught.position <= len(text)
        else:
            assert isinstance(result, Query)
            assert result.source == text
            parsed += not result.is_empty
    assert parsed > 1000  # the strings reach the parser's depths, not only its first checks
