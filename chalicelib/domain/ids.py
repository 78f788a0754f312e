"""Prefixed ULIDs: `ord_01J…`. They sort by creation time, so keys built from them do too."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

PREFIXES = ("ord", "evt", "tkt", "ret", "doc", "shp", "msg", "inb", "srv", "fbk", "whs")


def new_id(prefix: str, at: datetime | None = None) -> str:
    """A new id with a type prefix; `at` fixes the timestamp part (tests, replays)."""
    from ulid import ULID  # lazy: python-ulid costs ~40 ms to import

    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix '{prefix}'")
    value = ULID.from_datetime(at) if at is not None else ULID()
    return f"{prefix}_{value}"


def keyed_id(prefix: str, *parts: str) -> str:
    """An id derived from `parts` (a caller and their Idempotency-Key): a retry names the same entity."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix '{prefix}'")
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return f"{prefix}_{base64.b32encode(digest).decode()[:26]}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` looks like an id of this type (cheap shape check, no lookup)."""
    body = value.removeprefix(f"{prefix}_")
    return body != value and len(body) == 26 and body.isascii() and body.isalnum()
