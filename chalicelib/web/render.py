"""Rendering of the customer pages (the Jinja2 setup: chalicelib/presentation/templates.py)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from chalicelib.presentation.formatting import language_of
from chalicelib.presentation.templates import environment
from chalicelib.web.messages import STRINGS

if TYPE_CHECKING:
    from chalicelib.web.tracking import TrackingView


def render_tracking(view: TrackingView) -> str:
    template = environment().get_template("tracking.html")
    banner = STRINGS[language_of(view.lang)]["banner"]
    return template.render(v=view, lang=view.lang, title=view.title, banner=banner, shop=view.shop_name)


@functools.lru_cache(maxsize=16)
def render_not_found(language: str, shop_name: str = "") -> str:
    """The one "no such tracking page" answer per language: tampered, expired and unknown look alike."""
    strings = STRINGS[language_of(language)]
    return (
        environment()
        .get_template("not_found.html")
        .render(
            lang=language_of(language),
            title=strings["not_found.title"],
            banner=strings["banner"],
            shop=shop_name,
            heading=strings["not_found.heading"],
            text=strings["not_found.text"],
        )
    )


def render_portal(template: str, lang: str, shop_name: str, **values: object) -> str:
    """A portal page in `lang` ("en" / "de"): the template gets the wording as `s`."""
    from chalicelib.web.portal_messages import strings

    words = strings(lang)
    context: dict[str, object] = {"active": "", "nav": None, "minutes": 0, **values}
    return (
        environment()
        .get_template(template)
        .render(s=words, lang=lang, banner=words["banner"], shop=shop_name, **context)
    )
