"""Webhook signatures: `X-OrderCare-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC covers "<t>.<raw body>". A request is accepted when any `v1` matches any
of the configured secrets (so secrets can be rotated) and `t` is within the
tolerance of now in either direction (so a captured request cannot be replayed
later, and a clock far ahead is refused too).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from chalicelib.domain.errors import UnauthorizedError

TOLERANCE_SECONDS = 300
HEADER = "X-OrderCare-Signature"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender computes (used by tests and the local signing helper)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def _mac(secret: str, timestamp: int | str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    header: str | None, body: bytes, secrets: Sequence[str], now: float, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Raise UnauthorizedError unless the header signs `body` with one of `secrets`."""
    if not header:
        raise UnauthorizedError(f"missing {HEADER} header", code="invalid_signature")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            candidates.append(value)
    if (
        timestamp is None
        or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
        or not candidates
    ):
        raise UnauthorizedError(f"malformed {HEADER} header", code="invalid_signature")
    if abs(now - int(timestamp)) > tolerance:
        raise UnauthorizedError("signature timestamp outside the allowed window", code="invalid_signature")
    valid = False
    for secret in secrets:
        expected = _mac(secret, timestamp, body)
        for candidate in candidates:
            valid |= hmac.compare_digest(expected, candidate)
    if not valid:
        raise UnauthorizedError("signature does not match", code="invalid_signature")
