"""Tracking links: HMAC-signed tokens bound to one order, expiring long after delivery.

A tracking token's payload is `{"o": <order id>, "k": "track", "exp": <unix seconds>}`,
signed with the first of `settings.link_secrets` and verified against all of them, so
rotating the secrets revokes every link signed only with a retired one. `exp` is counted
from the day the link is issued (`Settings.tracking_link_days`, default 180) and rounded up to
the end of that UTC day, so every link issued for an order on one day is the same string.
The `"k"` claim keeps other tokens signed with the same secrets (list cursors, surveys)
from opening a tracking page.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from chalicelib.domain.signing import sign, verify
from chalicelib.settings import Settings

DEFAULT_TRACKING_LINK_DAYS = 180
TRACKING_KIND = "track"
_DAY = 86_400
_CLAIMS = frozenset({"o", "k", "exp"})


def tracking_link_days(settings: Settings) -> int:
    """How long a tracking link stays valid, in days from its issue (OC_TRACKING_LINK_DAYS)."""
    return settings.tracking_link_days if settings.tracking_link_days > 0 else DEFAULT_TRACKING_LINK_DAYS


def tracking_token(order_id: str, secret: str, *, now: float, days: int) -> str:
    """A token for `order_id` that expires at the end of the UTC day `days` days from `now`."""
    expires = (int(now) // _DAY + days + 1) * _DAY
    return sign({"o": order_id, "k": TRACKING_KIND, "exp": expires}, secret)


def tracking_url(settings: Settings, order_id: str) -> str:
    """The customer's tracking page for an order, signed now with the current link secret."""
    token = tracking_token(order_id, settings.link_secrets[0], now=time.time(), days=tracking_link_days(settings))
    return f"{settings.public_base_url}/track/{token}"


def order_id_from_token(token: str, secrets: Sequence[str], *, now: float) -> str | None:
    """The order a valid, unexpired tracking token names; None for anything else.

    Never raises: tampered, truncated, expired, foreign (another kind of signed token)
    and garbage tokens all give None, so callers answer them all the same way."""
    if len(token) > 512:
        return None
    payload = verify(token, secrets)
    if payload is None or set(payload) != _CLAIMS or payload["k"] != TRACKING_KIND:
        return None
    order_id, expires = payload["o"], payload["exp"]
    if not isinstance(order_id, str) or type(expires) is not int or expires <= now:
        return None
    return order_id
