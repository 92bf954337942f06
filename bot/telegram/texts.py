"""What the bot says to players: translation catalogues (gettext .po files read with
Babel), message splitting at Telegram's limit, and the inline keyboards."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

LOCALES = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"
MAX_MESSAGE = 4096  # Telegram's limit for one message's text
CSAT_SCORES = (1, 2, 3, 4, 5)


class Texts:
    """Every catalogue in `directory`, one `<language>.po` each."""

    def __init__(self, directory: Path = LOCALES) -> None:
        self.catalogues: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.po")):
            with path.open("rb") as handle:
                catalogue = read_po(handle)
            self.catalogues[path.stem] = {
                str(m.id): str(m.string) for m in catalogue if m.id and m.string
            }

    @property
    def languages(self) -> list[str]:
        return sorted(self.catalogues)

    def language_for(self, code: str | None) -> str:
        """The catalogue for a Telegram language_code such as "ru" or "en-GB"."""
        base = (code or "").split("-")[0].lower()
        return base if base in self.catalogues else DEFAULT_LANGUAGE

    def get(self, language: str | None, key: str, **values: object) -> str:
        lang = self.language_for(language)
        template = self.catalogues[lang].get(key) or self.catalogues[DEFAULT_LANGUAGE][key]
        return template.format(**values) if values else template


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n") if rest[cut : cut + 1] == "\n" else rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def language_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(texts.get(lang, "language_name"), callback_data=f"lang:{lang}")
        for lang in texts.languages
    ]
    return InlineKeyboardMarkup([buttons])


def csat_keyboard(number: int, resolution: int) -> InlineKeyboardMarkup:
    """Scores for one resolution of one ticket: an answer to an older question is known."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "⭐" * score, callback_data=f"csat:{number}:{resolution}:{score}"
                )
                for score in CSAT_SCORES
            ]
        ]
    )
