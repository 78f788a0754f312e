"""Jinja2 rendering of the customer pages. Jinja2 is imported on the first render, never at `import app`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.web.messages import STRINGS, page_language

if TYPE_CHECKING:
    from jinja2 import Environment

    from chalicelib.web.tracking import TrackingView

TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def render_tracking(view: TrackingView) -> str:
    template = environment().get_template("tracking.html")
    banner = STRINGS[page_language(view.lang)]["banner"]
    return template.render(v=view, lang=view.lang, title=view.title, banner=banner, shop=view.shop_name)


@functools.lru_cache(maxsize=16)
def render_not_found(language: str, shop_name: str = "") -> str:
    """The one "no such tracking page" answer per language: tampered, expired and unknown look alike."""
    strings = STRINGS[page_language(language)]
    return (
        environment()
        .get_template("not_found.html")
        .render(
            lang=page_language(language),
            title=strings["not_found.title"],
            banner=strings["banner"],
            shop=shop_name,
            heading=strings["not_found.heading"],
            text=strings["not_found.text"],
        )
    )
