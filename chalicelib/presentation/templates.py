"""The one Jinja2 setup for emails and pages. Jinja2 is imported on the first render, never at `import app`.

One loader reads both template folders (chalicelib/notify/templates, chalicelib/web/templates;
their file names do not collide). HTML is autoescaped; plain text (email text parts) is not,
and keeps its trailing newline.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment

FOLDERS = (
    Path(__file__).parent.parent / "web" / "templates",
    Path(__file__).parent.parent / "notify" / "templates",
)


@functools.lru_cache(maxsize=2)
def environment(kind: str = "html") -> Environment:
    """The environment for "html" (autoescaped) or "text" templates."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    if kind not in ("html", "text"):
        raise ValueError(f"kind must be html or text, not {kind!r}")
    html = kind == "html"
    return Environment(  # autoescape=True for html; text parts are plain text # nosec B701
        loader=FileSystemLoader([str(folder) for folder in FOLDERS]),
        autoescape=html,  # noqa: S701 - plain-text parts are never HTML, so they are not escaped
        undefined=StrictUndefined,
        trim_blocks=html,
        lstrip_blocks=html,
        keep_trailing_newline=not html,
        auto_reload=False,
    )
