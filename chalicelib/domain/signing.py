"""HMAC-signed, URL-safe tokens for links that need no login (tracking pages, surveys).

A token is `<base64url payload>.<base64url HMAC-SHA256>`; verification is
constant-time and accepts any of several secrets, so secrets can be rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], secret: str) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(token: str, secrets: Sequence[str]) -> dict[str, Any] | None:
    """The payload when the token was signed with one of `secrets`, else None."""
    body, _, mac = token.partition(".")
    if not body or not mac or not token.isascii():  # tokens are base64url; never raise on junk
        return None
    valid = False
    for secret in secrets:
        # Compare the canonical encodings, so no other spelling of a MAC verifies.
        expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
        valid |= hmac.compare_digest(expected, mac)  # no early exit: same time for every secret
    if not valid:
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
