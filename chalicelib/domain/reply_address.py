"""Signed reply addresses: `reply+<token>@<reply domain>` routes a customer's answer to their order.

The token is the order id's ULID and a 128-bit HMAC of it, both lower-case base32, so
it survives mail systems that fold the local part's case and stays under the 64
characters RFC 5321 allows. Without the secret a token can be neither guessed nor
forged; any of several secrets verifies, so secrets can be rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

PREFIX = "reply+"
_ULID = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")  # Crockford base32, lower case


def _mac(order_ulid: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"reply:{order_ulid}".encode(), hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=").lower()


def reply_token(order_id: str, secret: str) -> str:
    ulid = order_id.removeprefix("ord_").lower()
    return f"{ulid}{_mac(ulid, secret)}"


def reply_address(order_id: str, secret: str, domain: str) -> str:
    return f"{PREFIX}{reply_token(order_id, secret)}@{domain}"


def order_from_token(token: str, secrets: Sequence[str]) -> str | None:
    """The order id a token names when its MAC verifies with one of `secrets`, else None."""
    token = token.strip().lower()
    ulid, mac = token[:26], token[26:]
    if not _ULID.match(ulid) or len(mac) != 26:
        return None
    valid = False
    for secret in secrets:
        valid |= hmac.compare_digest(_mac(ulid, secret), mac)  # no early exit
    return f"ord_{ulid.upper()}" if valid else None


def token_from_address(address: str, domain: str) -> str | None:
    """The token of `reply+<token>@<domain>` (case-insensitive), else None."""
    local, _, host = address.strip().strip("<>").rpartition("@")
    if host.lower() != domain.lower() or not local.lower().startswith(PREFIX):
        return None
    return local[len(PREFIX) :]
