"""Surveys: who is asked when, how the one-click link is signed, what an answer may hold.

A survey is asked once per subject (an order after delivery, a ticket after resolution,
a return after completion), at most once per customer per window across all kinds, and
never while the customer has an open ticket or return: a throttled survey is dropped.
The link in the email only opens the form; only the form's POST records an answer, so
mail scanners that fetch every link never answer for the customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.signing import sign, verify

SURVEY_KIND = "survey"
KINDS = ("delivery", "support", "return")
ASPECTS = ("accuracy", "speed", "communication", "invoicing", "resolution")
_CLAIMS = frozenset({"k", "v", "s", "r", "kid", "exp"})


@dataclass
class Survey:
    id: str
    kind: str  # delivery | support | return
    subject: str  # the order, ticket or return it is about
    order_id: str
    customer_id: str
    due_at: datetime
    status: str = "scheduled"  # scheduled → sent | dropped; sent → answered
    sent_at: datetime | None = None
    answered_at: datetime | None = None
    answer: dict[str, object] = field(default_factory=dict)
    drop_reason: str | None = None
    recipient: str | None = None  # recipient_tag of the order's address, which its links are bound to


@dataclass(frozen=True)
class Answer:
    csat: int
    nps: int | None = None
    aspects: dict[str, int] = field(default_factory=dict)
    comment: str | None = None

    @property
    def detractor(self) -> bool:
        """Someone to call back: a low CSAT or an NPS detractor."""
        return self.csat <= 2 or (self.nps is not None and self.nps <= 6)


def stored_answer(stored: dict[str, object]) -> Answer:
    """The Answer a survey's stored answer (its JSON: csat, nps, aspects, comment) records."""
    csat, nps, comment = stored["csat"], stored.get("nps"), stored.get("comment")
    aspects = stored.get("aspects") or {}
    return Answer(
        csat=int(str(csat)),
        nps=None if nps is None else int(str(nps)),
        aspects={str(name): int(str(score)) for name, score in dict(aspects).items()},  # type: ignore[call-overload]
        comment=None if comment is None else str(comment),
    )


def recipient_tag(email: str) -> str:
    """A short, non-reversible binding of a token to the address it was sent to."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def survey_token(kind: str, subject: str, email: str, secret: str, *, now: float, days: int) -> str:
    payload = {
        "k": SURVEY_KIND,
        "v": kind,
        "s": subject,
        "r": recipient_tag(email),
        "kid": key_id(secret),
        "exp": int(now) + days * 86_400,
    }
    return sign(payload, secret)


@dataclass(frozen=True)
class TokenClaims:
    kind: str
    subject: str
    recipient: str


def read_token(token: str, secrets: Sequence[str], *, now: float) -> TokenClaims | None:
    """The survey a valid, unexpired token names; None for anything else (never raises)."""
    if len(token) > 512:
        return None
    payload = verify(token, secrets)
    if payload is None or set(payload) != _CLAIMS or payload["k"] != SURVEY_KIND:
        return None
    if payload["v"] not in KINDS or not isinstance(payload["s"], str) or type(payload["exp"]) is not int:
        return None
    if payload["exp"] <= now:
        return None
    return TokenClaims(payload["v"], payload["s"], str(payload["r"]))
