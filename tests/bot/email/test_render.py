"""Player mail: every kind in every language renders, keeps what players and agents wrote
inert, and a broken template stops the start-up."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError, UndefinedError

from bot.email.render import (
    KINDS,
    SAMPLES,
    SUBJECT_LIMIT,
    TEMPLATES,
    MailTemplates,
    RenderedMail,
    TemplateProblem,
)

NUMBER = 1234
HOSTILE_SUBJECT = '<script>alert(1)</script> & "q" {{ 7*7 }}\r\nBcc: victim@example.com'
HOSTILE_TEXT = "Hi!\n\n<img src=x onerror=alert(1)>\nline two {{ 7*7 }} {% if %}\n\nBye"
HOSTILE_NAME = "<b>x</b>"
RATE_URLS = {score: f'https://rate.example/{score}?t=a&u="b"' for score in range(1, 6)}
CYRILLIC = re.compile("[\u0400-\u04ff]")

MAIL = MailTemplates(brand="Acme Games", support_address="help@acme.test")
LANGUAGES = MAIL.languages()


def hostile(kind: str) -> dict[str, object]:
    context: dict[str, object] = {
        "ticket_number": NUMBER,
        "subject": HOSTILE_SUBJECT,
        "player_name": HOSTILE_NAME,
    }
    if kind == "reply":
        context |= {"agent_name": "<i>Alex</i>", "text": HOSTILE_TEXT}
    elif kind == "opened":
        context |= {"reply_hours": 24}
    else:
        context |= {"rate_urls": RATE_URLS}
    return context


def render(kind: str, language: str | None = "en", **changes: object) -> RenderedMail:
    return MAIL.render(kind, language, **(hostile(kind) | changes))


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if tag == "a" and name == "href"]


def hrefs(html: str) -> list[str]:
    links = Links()
    links.feed(html)
    return links.hrefs


def test_shipped_languages_are_english_and_russian() -> None:
    assert {"en", "ru"} <= set(LANGUAGES)


def test_shipped_templates_pass_the_check() -> None:
    MAIL.check()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_player_and_agent_text_is_escaped_in_html(kind: str, language: str) -> None:
    html = render(kind, language).html
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "<i>" not in html
    if kind == "opened":  # repeats nothing of the mail, whoever sent it
        assert "alert" not in html and "7*7" not in html
        return
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "{{ 7*7 }}" in html
    assert "49" not in html
    if kind != "csat":
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_subject_is_one_plain_line_with_the_ticket_tag(kind: str, language: str) -> None:
    subject = render(kind, language).subject
    assert f"[#{NUMBER}]" in subject
    assert "\n" not in subject
    assert "\r" not in subject
    if kind == "opened":  # the number only: nothing of the mail
        assert "alert" not in subject
        return
    assert '<script>alert(1)</script> & "q" {{ 7*7 }} Bcc: victim@example.com' in subject
    assert "49" not in subject


def test_reply_subject_is_threaded_as_an_answer() -> None:
    assert render("reply", subject="Lost my sword").subject == f"Re: [#{NUMBER}] Lost my sword"


def test_long_subject_is_cut_with_an_ellipsis() -> None:
    subject = render("reply", subject="word " * 100).subject
    player_part = subject.removeprefix(f"Re: [#{NUMBER}] ")
    assert len(player_part) <= SUBJECT_LIMIT
    assert player_part.endswith("…")


def test_control_characters_leave_the_subject() -> None:
    subject = render("reply", subject="a\x00b\x1bc\u2028d\u202ee\tf").subject
    assert subject.endswith("a b c d e f")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_css_is_inlined(kind: str, language: str) -> None:
    html = render(kind, language).html
    assert re.search(r'<body [^>]*style="[^"]*font-family', html)
    tables = re.findall(r"<table [^>]*>", html)
    assert tables
    assert all('style="' in table for table in tables)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
    assert all(style.strip().startswith("@media") for style in styles)  # only what cannot inline


@pytest.mark.parametrize("language", LANGUAGES)
def test_text_part_keeps_the_message_readable(language: str) -> None:
    mail = render("reply", language)
    assert HOSTILE_TEXT in mail.text
    assert str(NUMBER) in mail.text
    assert HOSTILE_NAME in mail.text


def test_reply_html_shows_the_answer_in_paragraphs_signed_by_the_agent() -> None:
    html = render("reply", agent_name="Alex").html
    assert re.search(r"<p[^>]*>Hi!</p>", html)
    escaped = "&lt;img src=x onerror=alert(1)&gt;<br>\nline two {{ 7*7 }} {% if %}"
    assert re.search(rf"<p[^>]*>{re.escape(escaped)}</p>", html)
    assert re.search(r"<p[^>]*>Bye</p>", html)
    assert "Alex<br>" in html


def test_reply_without_an_agent_name_is_signed_by_the_team() -> None:
    mail = render("reply", agent_name=None, player_name=None)
    assert "Acme Games team" in mail.text
    assert "Hello," in mail.text
    assert "None" not in mail.text + mail.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_csat_links_every_score_to_its_page(language: str) -> None:
    mail = render("csat", language)
    links = [href for href in hrefs(mail.html) if not href.startswith("mailto:")]
    assert links == [RATE_URLS[score] for score in range(1, 6)]
    assert 'u="b"' not in mail.html
    for score in range(1, 6):
        assert f"{score} \N{EN DASH} " in mail.text
        assert RATE_URLS[score] in mail.text


def test_csat_needs_every_score_url() -> None:
    with pytest.raises(TemplateProblem) as problem:
        render("csat", rate_urls={1: "https://rate.example/1"})
    assert isinstance(problem.value.error, UndefinedError)


def test_footer_names_the_ticket_and_the_support_address() -> None:
    mail = render("opened")
    assert f"Your ticket number is #{NUMBER}." in mail.text
    assert "help@acme.test" in mail.text
    assert "mailto:help@acme.test" in hrefs(mail.html)


@pytest.mark.parametrize("kind", KINDS)
def test_russian_mail_is_written_in_russian(kind: str) -> None:
    mail = render(kind, "ru")
    assert CYRILLIC.search(mail.text)
    assert CYRILLIC.search(mail.html)
    if kind != "reply":  # "Re:" is what every mail client writes
        assert CYRILLIC.search(mail.subject)
    english = render(kind, "en")
    assert not CYRILLIC.search(english.subject + english.text + english.html)


@pytest.mark.parametrize(
    ("code", "language"),
    [("de", "en"), ("pt-BR", "en"), (None, "en"), ("", "en"), ("ru-RU", "ru"), ("RU_ru", "ru")],
)
def test_language_falls_back_to_english(code: str | None, language: str) -> None:
    assert MAIL.language_for(code) == language
    assert render("opened", code) == render("opened", language)


@pytest.mark.parametrize(
    ("language", "hours", "phrase"),
    [
        ("en", 1, "within 1 hour."),
        ("en", 24, "within 24 hours."),
        ("ru", 1, "в течение 1 часа."),
        ("ru", 3, "в течение 3 часов."),
        ("ru", 21, "в течение 21 часа."),
        ("ru", 48, "в течение 48 часов."),
    ],
)
def test_reply_hours_are_counted_in_the_players_language(
    language: str, hours: int, phrase: str
) -> None:
    assert phrase in render("opened", language, reply_hours=hours).text


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mail kind"):
        MAIL.render("invoice", "en", ticket_number=1)


def test_missing_context_is_an_error_not_an_empty_string() -> None:
    context = hostile("reply")
    del context["text"]
    with pytest.raises(TemplateProblem) as problem:
        MAIL.render("reply", "en", **context)
    assert (problem.value.kind, problem.value.language) == ("reply", "en")
    assert isinstance(problem.value.error, UndefinedError)


# A broken copy of the shipped templates


@pytest.fixture
def templates_copy(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    return tmp_path / "templates"


def check_problem(directory: Path) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as problem:
        MailTemplates(directory).check()
    return problem.value


def test_check_names_a_template_with_a_missing_variable(templates_copy: Path) -> None:
    path = templates_copy / "ru" / "csat.html"
    path.write_text(path.read_text().replace("{{ subject }}", "{{ subjekt }}"))
    problem = check_problem(templates_copy)
    assert (problem.kind, problem.language) == ("csat", "ru")
    assert isinstance(problem.error, UndefinedError)
    assert "ru/csat" in str(problem)


def test_check_names_a_template_with_a_syntax_error(templates_copy: Path) -> None:
    path = templates_copy / "en" / "opened.txt"
    path.write_text(path.read_text() + "{% if %}\n")
    problem = check_problem(templates_copy)
    assert (problem.kind, problem.language) == ("opened", "en")
    assert isinstance(problem.error, TemplateSyntaxError)


def test_check_names_a_language_missing_a_kind(templates_copy: Path) -> None:
    (templates_copy / "ru" / "reply.txt").unlink()
    problem = check_problem(templates_copy)
    assert (problem.kind, problem.language) == ("reply", "ru")


def test_check_finds_a_broken_shared_layout(templates_copy: Path) -> None:
    path = templates_copy / "base.html"
    path.write_text(path.read_text().replace("{{ brand }}", "{{ brand.missing }}"))
    problem = check_problem(templates_copy)
    assert (problem.kind, problem.language) == ("reply", "en")


def test_check_requires_the_ticket_tag_in_every_subject(templates_copy: Path) -> None:
    path = templates_copy / "ru" / "subjects.yaml"
    path.write_text(path.read_text().replace('csat: "Как мы справились? [#', 'csat: "Как? [№'))
    problem = check_problem(templates_copy)
    assert (problem.kind, problem.language) == ("csat", "ru")
    assert "[#1234]" in str(problem.error)


def test_check_requires_english_to_fall_back_to(templates_copy: Path) -> None:
    shutil.rmtree(templates_copy / "en")
    problem = check_problem(templates_copy)
    assert problem.language == "en"


def test_samples_cover_every_kind() -> None:
    assert set(SAMPLES) == set(KINDS)
