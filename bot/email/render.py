"""Outgoing mail to players, rendered from Jinja2 templates per language: a subject line,
a plain-text body and an HTML body whose CSS is inlined for mail clients."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import css_inline
import yaml
from babel import Locale
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
KINDS = ("reply", "opened", "csat")  # about a ticket: the subject carries its tag
NOTICE_KINDS = ("email_code",)  # about no ticket (a code that confirms an address)
SUBJECT_LIMIT = 150  # characters of the player's subject kept in a subject line
NAME_LIMIT = 100

# Everything a mail could need, for `check`: each template is rendered once with these.
SAMPLES: dict[str, dict[str, object]] = {
    "reply": {
        "ticket_number": 1234,
        "subject": "Lost my sword",
        "agent_name": "Alex",
        "text": "Hello!\n\nWe found it.",
        "player_name": "Kim",
    },
    "opened": {
        "ticket_number": 1234,
        "subject": "Lost my sword",
        "player_name": "Kim",
        "reply_hours": 24,
    },
    "csat": {
        "ticket_number": 1234,
        "subject": "Lost my sword",
        "player_name": "Kim",
        "rate_urls": {score: f"https://example.com/rate/{score}" for score in range(1, 6)},
    },
}
NOTICE_SAMPLES: dict[str, dict[str, object]] = {
    "email_code": {"code": "042137", "minutes": 30, "player_name": None},
}

# Characters that must not reach a header or a one-line label: besides C0/C1 controls and
# line separators, the bidi overrides, which could visually reorder "[#1234]".
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


class TemplateProblem(Exception):
    """A mail template that cannot be rendered, found by `MailTemplates.check` or `render`."""

    def __init__(self, kind: str, language: str, error: BaseException) -> None:
        super().__init__(f"mail template {language}/{kind}: {error}")
        self.kind = kind
        self.language = language
        self.error = error


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailTemplates:
    """Every language under `directory`: a folder with `subjects.yaml` and, per kind,
    `<kind>.html` and `<kind>.txt`; `base.html` beside the folders is the shared layout."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        brand: str = "Support",
        support_address: str | None = None,
    ) -> None:
        self.directory = directory or TEMPLATES
        self.env = Environment(
            loader=FileSystemLoader(self.directory),
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # templates ship with the code; no stat() per mail
        )
        self.env.globals.update(brand=brand, support_address=support_address)
        self.env.filters.update(
            paragraphs=paragraphs, quoted=quoted, plural=plural, one_line=one_line
        )
        self.inliner = css_inline.CSSInliner(
            keep_at_rules=True,  # media queries cannot be inlined; they stay in a <style>
            load_remote_stylesheets=False,
        )
        self._subjects: dict[str, dict[str, Template]] = {}
        self._languages = tuple(
            sorted(path.parent.name for path in self.directory.glob("*/subjects.yaml"))
        )

    def languages(self) -> tuple[str, ...]:
        return self._languages

    def language_for(self, code: str | None) -> str:
        """The templates for a language tag such as "ru", "ru-RU" or "pt_BR"; else English."""
        base = re.split(r"[-_]", (code or "").strip())[0].lower()
        return base if base in self._languages else DEFAULT_LANGUAGE

    def render(self, kind: str, language: str | None, **context: object) -> RenderedMail:
        """One mail of `kind`; the player's and agent's text is escaped in the HTML part."""
        if kind not in KINDS + NOTICE_KINDS:
            raise ValueError(f"unknown mail kind {kind!r}; expected one of {KINDS + NOTICE_KINDS}")
        lang = self.language_for(language)
        values = {**_cleaned(context), "language": lang}
        try:
            subject = self._subject(lang, kind).render(values)
            text = self.env.get_template(f"{lang}/{kind}.txt").render(values)
            html = self.env.get_template(f"{lang}/{kind}.html").render(values)
        except (TemplateError, yaml.YAMLError, OSError) as error:
            raise TemplateProblem(kind, lang, error) from error
        return RenderedMail(
            subject=one_line(subject),
            text=text.strip() + "\n",
            html=self.inliner.inline(html),
        )

    def check(self) -> None:
        """Render every kind in every language with sample values, so a broken template
        stops the start-up instead of a mail to a player."""
        for language in sorted({DEFAULT_LANGUAGE, *self.languages()}):
            for kind, sample in {**SAMPLES, **NOTICE_SAMPLES}.items():
                try:
                    mail = self.render(kind, language, **sample)
                except TemplateProblem:
                    raise
                except Exception as error:  # anything else a template can raise
                    raise TemplateProblem(kind, language, error) from error
                if kind in NOTICE_KINDS:
                    continue
                tag = f"[#{sample['ticket_number']}]"
                if tag not in mail.subject:  # replies are threaded back by this tag
                    raise TemplateProblem(kind, language, ValueError(f"subject lacks {tag}"))

    def _subject(self, language: str, kind: str) -> Template:
        if language not in self._subjects:
            path = self.directory / language / "subjects.yaml"
            sources = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(sources, dict):
                raise yaml.YAMLError(f"{language}/subjects.yaml is not a mapping")
            self._subjects[language] = {
                str(name): self.env.from_string(str(source)) for name, source in sources.items()
            }
        subjects = self._subjects[language]
        if kind not in subjects:
            raise yaml.YAMLError(f"{language}/subjects.yaml has no subject for {kind!r}")
        return subjects[kind]


def _cleaned(context: Mapping[str, object]) -> dict[str, object]:
    """Player-written one-liners made fit for a header line; the message text is left as is."""
    values = dict(context)
    if isinstance(values.get("subject"), str):
        values["subject"] = one_line(str(values["subject"]), SUBJECT_LIMIT)
    for name in ("player_name", "agent_name"):
        if isinstance(values.get(name), str):
            values[name] = one_line(str(values[name]), NAME_LIMIT) or None
    return values


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"} or char in _BIDI


def one_line(text: str, limit: int | None = None) -> str:
    """`text` without control characters, on one line, cut at `limit` with an ellipsis."""
    line = " ".join("".join(" " if _is_control(c) else c for c in text).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def paragraphs(text: str) -> Markup:
    """Plain text as HTML: escaped first, then blank lines part paragraphs and single line
    breaks become <br>."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    blocks = [block for block in _PARAGRAPH_BREAK.split(normal) if block.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in lines))
        for lines in (block.split("\n") for block in blocks)
    )


def quoted(text: str) -> str:
    """Plain text quoted the way mail quotes it, "> " before every line."""
    return "\n".join(f"> {line}".rstrip() for line in text.strip("\n").splitlines())


@pass_context
def plural(context: Context, count: int, **forms: str) -> str:
    """The word form for `count` in the mail's language by CLDR category: `one`, `few`,
    `many`, `other` (Russian needs three; `other` is required)."""
    category = Locale.parse(context["language"]).plural_form(count)
    return forms.get(category, forms["other"])
