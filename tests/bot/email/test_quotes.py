# ruff: noqa: RUF001 - Russian mail texts are Cyrillic on purpose
"""The visible text of real-shaped replies from the common English and Russian mail clients."""

from __future__ import annotations

import pytest

from bot.email.inbound import from_mailgun
from bot.email.quotes import (
    KEPT_WHOLE_NOTE,
    MIN_KEPT_SHARE,
    is_attribution,
    is_footer,
    visible_text,
)
from tests.fakes.mail import FIXTURES, mailgun_form

REPLIES = FIXTURES / "replies"
SIGNING_KEY = "key-quotes"
SUPPORT_QUOTE = "> Hello,\n>\n> Could you tell us your player ID?\n>\n> Dragon Support"


def reply_names() -> list[str]:
    return sorted(path.name.removesuffix(".eml") for path in REPLIES.glob("*.eml"))


def test_the_corpus_holds_thirty_replies_each_with_its_expected_text() -> None:
    names = reply_names()

    assert len(names) >= 30
    assert all((REPLIES / f"{name}.expected.txt").is_file() for name in names)


@pytest.mark.parametrize("name", reply_names())
@pytest.mark.parametrize("with_stripped", [True, False], ids=["stripped", "plain"])
def test_a_reply_shows_only_the_players_words(name: str, with_stripped: bool) -> None:
    raw = (REPLIES / f"{name}.eml").read_bytes()
    data, _ = mailgun_form(raw, signing_key=SIGNING_KEY, with_stripped=with_stripped)

    expected = (REPLIES / f"{name}.expected.txt").read_text(encoding="utf-8").rstrip("\n")
    assert from_mailgun(data).text == expected


def test_a_from_line_mid_text_is_kept_with_everything_after_it() -> None:
    body = "The launcher says:\nFrom: launcher\nError 5: access denied\n\nID 48213377"

    assert visible_text(body).text == body
    assert not visible_text(body).kept_whole


@pytest.mark.parametrize(
    ("header", "next_line"),
    [
        ("From: Dragon Support <support@mg.example.com>", "Sent: Friday, November 27, 2026"),
        ("*From:* Dragon Support", "*To:* Sam"),
        ("From: Dragon Support", "Subject: Lost gems"),
        ("От: Dragon Support <support@mg.example.com>", "Отправлено: 27 ноября 2026 г. 10:02"),
        ("От: Dragon Support", "Кому: Елена"),
        ("От: Dragon Support", "Тема: Пропали кристаллы"),
    ],
)
def test_a_header_block_in_full_cuts_the_history(header: str, next_line: str) -> None:
    body = f"My ID is 48213377.\n\n{header}\n{next_line}\n\nOld text"

    assert visible_text(body).text == "My ID is 48213377."


def test_a_from_line_followed_by_other_text_is_no_header_block() -> None:
    body = "Got this:\n\nОт: администрация игры\nВаш аккаунт будет удалён.\n\nЭто вы?"

    assert visible_text(body).text == body


def test_a_mail_that_is_all_quote_is_kept_whole_and_says_so() -> None:
    attribution = "On Fri, Nov 27, 2026 at 10:02 AM Support <support@mg.example.com> wrote:"
    body = f"{attribution}\n{SUPPORT_QUOTE}"

    assert visible_text(body).kept_whole
    assert visible_text(body).text == body
    data = {"from": "a@example.com", "body-plain": body}
    assert from_mailgun(data).text == f"{KEPT_WHOLE_NOTE}\n\n{body}"


def test_a_signature_cut_leaving_less_than_the_stated_share_keeps_the_whole_mail() -> None:
    words = "log line " * 100
    kept = "a" * int(MIN_KEPT_SHARE * len(words.replace(" ", "")) * 0.9)
    body = f"{kept}\n-- \n{words}"

    assert visible_text(body).kept_whole


def test_a_signature_cut_leaving_more_than_the_stated_share_is_made() -> None:
    body = "Thanks, it works now!\n\n-- \nSam Reid\nGuild master, Iron Fang"

    assert visible_text(body) == visible_text("Thanks, it works now!")
    assert not visible_text(body).kept_whole


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my iPad",
        "Sent from my Galaxy",
        "Sent from Mail for Windows",
        "Sent from Outlook for Android",
        "Sent from Yahoo Mail on Android",
        "Get Outlook for iOS",
        "Отправлено с iPhone",
        "Отправлено с iPad",
        "Отправлено из мобильной Почты Mail.ru",
        "Отправлено из Mail.ru для Android",
        "Отправлено из мобильной Яндекс Почты",
        "Отправлено из мобильной Яндекс.Почты",
        "Отправлено из приложения Яндекс Почта",
    ],
)
def test_a_mobile_footer_under_the_words_is_dropped(footer: str) -> None:
    assert is_footer(footer)
    assert visible_text(f"Ok, thanks.\n\n{footer}\n").text == "Ok, thanks."


def test_a_footer_line_inside_the_words_is_kept() -> None:
    body = "Sent from my iPhone\nbut the game crashes on my iPad too."

    assert visible_text(body).text == body


@pytest.mark.parametrize(
    "line",
    [
        "On Fri, Nov 27, 2026 at 10:02 AM Support <support@mg.example.com> wrote:",
        "On 27/11/2026 10:02, Support wrote:",
        "пт, 27 нояб. 2026 г. в 10:02, Support <support@mg.example.com>:",
        "27.11.2026 10:02, Support пишет:",
        "27 нояб. 2026 г., в 10:02, Support <support@mg.example.com> написал(а):",
        '27.11.2026, 10:02, "Support" <support@mg.example.com>:',
        "Пятница, 27 ноября 2026, 10:02 +03:00 от Support <support@mg.example.com>:",
        "Am 27.11.2026 um 10:02 schrieb Support <support@mg.example.com>:",
    ],
)
def test_each_clients_attribution_is_recognised(line: str) -> None:
    assert is_attribution(line)
    assert visible_text(f"ID 48213377\n\n{line}\n> Which server?").text == "ID 48213377"


@pytest.mark.parametrize("line", ["My friend wrote:", "Он пишет:", "Note:"])
def test_a_sentence_ending_in_a_colon_without_a_date_is_no_attribution(line: str) -> None:
    assert not is_attribution(line)


def test_a_bottom_posted_reply_is_read_from_the_plain_body_where_the_quote_marks_are() -> None:
    attribution = "27.11.2026 10:02, Dragon Support пишет:"
    fields = {
        "from": "sergey.ivanov@example.net",
        "body-plain": f"{attribution}\n{SUPPORT_QUOTE}\n\nID 70012345, сервер EU-2.\n",
        # Mailgun's stripper drops the quoted lines but not this attribution, so its text
        # alone looks like a top-posted reply with nothing above the history.
        "stripped-text": f"{attribution}\n\nID 70012345, сервер EU-2.",
    }

    assert from_mailgun(fields).text == "ID 70012345, сервер EU-2."


@pytest.mark.parametrize(
    ("subject", "forwarded"),
    [
        ("FW: Refund", True),
        ("Fwd: Receipt", True),
        ("ПЕРЕСЛ: Возврат", True),
        ("Re: Fwd: Receipt", False),
        ("RE: [#1003] Lost gems", False),
        ("Fwiw", False),
    ],
)
def test_only_a_forward_subject_keeps_an_outlook_header_block(
    subject: str, forwarded: bool
) -> None:
    body = "See below.\n\nFrom: Billing <billing@example.com>\nSent: Monday\n\nRefund #5"
    fields = {"from": "a@example.com", "subject": subject, "body-plain": body}

    assert from_mailgun(fields).text == (body if forwarded else "See below.")
