"""Which Babel locale formats a customer's money and dates.

The customer's locale ("de-DE"), else its language ("de"), else English. The
deployed package carries Babel data for English and German only (see
infra/stacks/packaging.py), so other locales fall back here rather than fail.
"""

from __future__ import annotations

import functools

DEFAULT = "en"


@functools.lru_cache(maxsize=64)
def babel_locale(locale: str) -> str:
    """A Babel identifier with data available for `locale`."""
    from babel import Locale, UnknownLocaleError

    identifier = locale.replace("-", "_")
    for candidate in (identifier, identifier.split("_")[0], DEFAULT):
        try:
            Locale.parse(candidate)
            return candidate
        except (UnknownLocaleError, ValueError):
            continue
    return DEFAULT
