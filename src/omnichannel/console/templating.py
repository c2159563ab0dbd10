"""The console's Jinja2 environment: templates from the package, autoescaped, and its filters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from omnichannel import __version__
from omnichannel.console.icons import LABELS, channel_icon

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


def when(moment: datetime | None) -> str:
    """A moment as people read it in the console: UTC, to the minute."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def compact(value: Any) -> str:
    """A short JSON rendering of properties or traits for a table cell."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= 160 else text[:157] + "…"


def as_json(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">``."""
    text = orjson.dumps(value).decode().replace("<", "\\u003c")
    # With "<" escaped nothing in the text can end the <script> element it sits in.
    return Markup(text)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {"when": when, "compact": compact, "as_json": as_json, "icon": channel_icon}
    env.globals |= {"version": __version__, "channel_labels": LABELS}
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context or {}, status_code=status)
