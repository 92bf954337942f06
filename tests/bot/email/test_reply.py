from __future__ import annotations

from bot.email.reply import reply_of


def test_the_quoted_mail_below_a_quote_header_is_dropped() -> None:
    text = "Still broken.\n\nOn Mon, 2 Nov 2026, Support <support@example.com> wrote:\n> Try again"

    assert reply_of(text) == "Still broken."


def test_a_quote_header_wrapped_over_lines_far_down_the_mail_is_dropped() -> None:
    new = "x" * 1_000
    text = (
        f"{new}\n\nOn Mon, 2 Nov 2026 at 10:00,\nSupport <support@example.com> wrote:\n> Try again"
    )

    assert reply_of(text) == new


def test_a_signature_below_the_dashes_is_dropped() -> None:
    assert reply_of("Thanks!\n\n-- \nAnn\nSent from my phone") == "Thanks!"


def test_headers_of_a_forwarded_history_hide_what_follows() -> None:
    text = "See below.\n\nFrom: Support\nSent: Monday\nSubject: Lost gems\n\nOld text"

    assert reply_of(text) == "See below."


def test_a_reply_without_history_is_kept_whole() -> None:
    assert reply_of("Line one\nline two\r\nline three") == "Line one\nline two\nline three"
