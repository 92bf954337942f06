"""Canned responses (macros): data in a YAML file, per language, shared by every channel."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"


class Macro(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    text: dict[str, str]  # language -> text

    def text_for(self, language: str | None) -> str:
        for candidate in (language, (language or "").split("-")[0], DEFAULT_LANGUAGE):
            if candidate and candidate in self.text:
                return self.text[candidate]
        return next(iter(self.text.values()))


class MacroFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    macros: list[Macro] = []


class Macros:
    def __init__(self, macros: list[Macro]) -> None:
        self.by_name = {m.name: m for m in macros}

    @classmethod
    def load(cls, path: Path) -> Macros:
        """Read the macro file; a missing or invalid one leaves no macros, said in one line."""
        if not path.exists():
            log.info("no canned responses: %s does not exist", path)
            return cls([])
        try:
            data = yaml.safe_load(path.read_text()) or {}
            return cls(MacroFile.model_validate(data).macros)
        except (yaml.YAMLError, ValidationError, OSError) as exc:
            log.warning("canned responses disabled: %s is invalid: %s", path, exc)
            return cls([])

    def all(self) -> list[Macro]:
        return list(self.by_name.values())

    def get(self, name: str) -> Macro | None:
        return self.by_name.get(name)
