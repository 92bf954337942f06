"""/rate/{token}: where a player who wrote by mail scores how their request went.

The CSAT mail links here, one link per score. Opening a link changes nothing: mail
scanners and link previews open every link in a mail, so the page only shows the choice,
and the player's press of the button (a POST) records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.email.render import TEMPLATES
from ticketcore.errors import AlreadyRated, TicketNotFound
from ticketcore.lifecycle import DONE_STATUSES
from ticketcore.links import InvalidLink, rating_from_token
from ticketcore.models import Channel, Ticket, resolution_of
from ticketcore.service import TicketService
from ticketcore.writes import player_actor

SCORES = range(1, 6)
SCORE_TEXTS = {str(s) for s in SCORES}  # as the buttons and the mail's links send them
PAGE_TEXTS = "rating_page.yaml"


def load_texts(directory: Path = TEMPLATES) -> dict[str, dict[str, str]]:
    """The page's words per language, kept beside the mail templates they go with."""
    texts = {}
    for path in sorted(directory.glob(f"*/{PAGE_TEXTS}")):
        texts[path.parent.name] = {
            str(k): str(v) for k, v in yaml.safe_load(path.read_text("utf-8")).items()
        }
    if "en" not in texts:
        raise FileNotFoundError(f"{directory}/en/{PAGE_TEXTS} is missing")
    return texts


TEXTS = load_texts()
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, Arial, sans-serif; background: #f4f5f7;
  color: #1d2330; margin: 0; padding: 48px 16px; }}
main {{ max-width: 520px; margin: 0 auto; background: #fff; border-radius: 12px;
  padding: 32px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }}
form {{ display: flex; gap: 8px; margin-top: 24px; }}
button {{ flex: 1; font-size: 20px; padding: 14px 0; border: 1px solid #c9ced8;
  border-radius: 8px; background: #fff; cursor: pointer; }}
button.chosen {{ background: #2f6fed; border-color: #2f6fed; color: #fff; }}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(lang=lang, title=escape(title), body=body),
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


@dataclass
class RatingPages:
    service: TicketService
    secret: str

    def routes(self) -> list[Route]:
        return [Route("/rate/{token}", self.handle, methods=["GET", "POST"])]

    async def handle(self, request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            form = await request.form(max_fields=5, max_files=0)
            score_text = str(form.get("score", ""))
        else:
            score_text = request.query_params.get("score", "")
        return await run_in_threadpool(self.answer, token, score_text, request.method == "POST")

    def answer(self, token: str, score_text: str, record: bool) -> Response:
        try:
            number, resolution = rating_from_token(token, secret=self.secret)
            ticket = self.service.get(number)
        except (InvalidLink, TicketNotFound):
            texts = TEXTS["en"]
            return page("en", texts["invalid"], "", 404)
        lang = self.language(ticket)
        texts = TEXTS[lang]
        title = texts["title"].format(number=number)
        if not self.still_asks(ticket, resolution):
            return page(lang, title, f"<p>{escape(texts['stale'].format(number=number))}</p>", 410)
        score = int(score_text) if score_text in SCORE_TEXTS else None
        if record and score not in SCORES:
            return page(lang, title, f"<p>{escape(texts['bad_score'])}</p>", 400)
        if record and score is not None:
            actor = player_actor(ticket.player, Channel.EMAIL)
            try:
                self.service.rate(number, score, actor=actor)
            except AlreadyRated:
                return page(
                    lang, title, f"<p>{escape(texts['already'].format(number=number))}</p>", 409
                )
            thanks = texts["thanks"].format(score=score, number=number)
            return page(lang, title, f"<p>{escape(thanks)}</p>")
        return page(lang, title, self.buttons(texts, score))

    @staticmethod
    def still_asks(ticket: Ticket, resolution: int) -> bool:
        return (
            ticket.status in DONE_STATUSES
            and ticket.resolved_at is not None
            and resolution_of(ticket) == resolution
        )

    @staticmethod
    def language(ticket: Ticket) -> str:
        code = (ticket.player.language or "en").split("-")[0].lower()
        return code if code in TEXTS else "en"

    @staticmethod
    def buttons(texts: dict[str, str], chosen: int | None) -> str:
        buttons = "".join(
            f'<button name="score" value="{s}"{" class=chosen" if s == chosen else ""}>{s}</button>'
            for s in SCORES
        )
        return f'<p>{escape(texts["prompt"])}</p><form method="post">{buttons}</form>'
