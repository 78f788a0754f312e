"""Prefixed ULIDs: `ord_01J…`. They sort by creation time, so keys built from them do too."""

from __future__ import annotations

from datetime import datetime

PREFIXES = ("ord", "evt", "tkt", "ret", "doc", "shp", "msg", "inb", "srv", "fbk", "whs")


def new_id(prefix: str, at: datetime | None = None) -> str:
    """A new id with a type prefix; `at` fixes the timestamp part (tests, replays)."""
    from ulid import ULID  # lazy: python-ulid costs ~40 ms to import

    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix '{prefix}'")
    value = ULID.from_datetime(at) if at is not None else ULID()
    return f"{prefix}_{value}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` looks like an id of this type (cheap shape check, no lookup)."""
    body = value.removeprefix(f"{prefix}_")
    return body != value and len(body) == 26 and body.isascii() and body.isalnum()
