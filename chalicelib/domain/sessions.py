"""The customer portal's sign-in rules: one-time codes, sign-in links, sessions, rate windows.

Pure: no I/O and no clock (callers pass `now`); randomness comes from `secrets`.
Nothing secret is ever kept in the clear: a code is stored as an HMAC (a 6-digit
code has too few values for a plain hash), a link or session token as SHA-256 (it
has 256 random bits). The email address is used as an index key only as a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
SESSION_IDLE = timedelta(hours=12)
SESSION_ABSOLUTE = timedelta(days=30)
# The idle clock is refreshed at most this often, so most page views cost no write.
TOUCH_EVERY = timedelta(minutes=5)
MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
# Where a sign-in may send the customer afterwards: portal pages only (no open redirect).
_NEXT = re.compile(r"/account/(orders(/ord_[0-9A-Za-z]{1,40})?|preferences)")
DEFAULT_NEXT = "/account/orders"


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` sign-in requests per `window` (a fixed window, counted in the table)."""

    scope: str  # "email" | "ip"
    limit: int
    window: timedelta

    def window_start(self, now: datetime) -> datetime:
        seconds = int(self.window.total_seconds())
        return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        end = self.window_start(now) + self.window
        return max(1, int((end - now).total_seconds() + 0.999))


PER_ADDRESS = RateLimit("email", 5, timedelta(minutes=15))
PER_CLIENT = RateLimit("ip", 30, timedelta(minutes=15))


def normalise_email(raw: str | None) -> str | None:
    """The address as the portal compares it (surrounding spaces and case ignored); None if not one."""
    if raw is None:
        return None
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        return None
    return email


def email_key(email: str) -> str:
    """A stable, unkeyed digest of a normalised address: the index key (no secret, so rotation never moves it)."""
    return hashlib.sha256(email.encode()).hexdigest()[:40]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _mac(secret: str, purpose: str, message: str) -> str:
    return hmac.new(f"portal:{purpose}:{secret}".encode(), message.encode(), hashlib.sha256).hexdigest()


def code_hash(secret: str, challenge_id: str, code: str) -> str:
    return _mac(secret, "code", f"{challenge_id}:{code}")


def clean_code(raw: str | None) -> str | None:
    """The digits a customer typed ("123 456" and "123-456" too); None when it cannot be a code."""
    digits = re.sub(r"[\s-]", "", raw or "")
    return digits if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() else None


def safe_next(raw: str | None) -> str:
    """A portal path to return to after sign-in; anything else becomes the order list."""
    return raw if raw and _NEXT.fullmatch(raw) else DEFAULT_NEXT


@dataclass(frozen=True)
class Challenge:
    """An outstanding sign-in for one address: one code and one link, whichever comes first."""

    id: str
    email: str
    code_hash: str
    link_hash: str
    created_at: datetime
    next_path: str = DEFAULT_NEXT
    attempts: int = 0
    used: bool = False
    customer_id: str | None = None  # the customer of the address's newest order when the code was asked for
    lang: str | None = None  # and that customer's language: the session's (else the browser's)

    @property
    def expires_at(self) -> datetime:
        return self.created_at + CODE_TTL

    def usable(self, now: datetime) -> bool:
        return not self.used and self.attempts < MAX_CODE_ATTEMPTS and now < self.expires_at

    def matches(self, code: str, link_secrets: Sequence[str]) -> bool:
        # Every current secret verifies, so a rotation does not void codes already sent.
        return any(hmac.compare_digest(self.code_hash, code_hash(s, self.id, code)) for s in link_secrets)

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_CODE_ATTEMPTS - self.attempts)


def new_challenge(
    challenge_id: str,
    email: str,
    now: datetime,
    secret: str,
    next_path: str,
    customer_id: str | None = None,
    lang: str | None = None,
) -> tuple[Challenge, str, str]:
    """A fresh challenge and the code and link token to email (never stored as they are)."""
    code, link = new_code(), new_token()
    challenge = Challenge(
        id=challenge_id,
        email=email,
        code_hash=code_hash(secret, challenge_id, code),
        link_hash=token_hash(link),
        created_at=now,
        next_path=safe_next(next_path),
        customer_id=customer_id,
        lang=lang,
    )
    return challenge, code, link


@dataclass(frozen=True)
class Session:
    """A signed-in browser: found by the hash of its cookie, revocable by deleting it."""

    id_hash: str
    email: str
    created_at: datetime
    last_seen_at: datetime
    lang: str = "en"
    customer_id: str | None = None  # of the address's newest order at sign-in: whose preferences to show

    @property
    def expires_at(self) -> datetime:
        return min(self.last_seen_at + SESSION_IDLE, self.created_at + SESSION_ABSOLUTE)

    def valid(self, now: datetime) -> bool:
        return self.created_at <= now + timedelta(minutes=5) and now < self.expires_at

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_EVERY

    def touched(self, now: datetime) -> Session:
        return replace(self, last_seen_at=now)


def new_session(email: str, now: datetime, lang: str, customer_id: str | None = None) -> tuple[Session, str]:
    """A session and the token for its cookie (a new one at every sign-in: no fixation)."""
    token = new_token()
    session = Session(token_hash(token), email, created_at=now, last_seen_at=now, lang=lang, customer_id=customer_id)
    return session, token


def csrf_token(secret: str, binding: str) -> str:
    """The form token for a session (or a pre-sign-in cookie): derived, so nothing more is stored."""
    return _mac(secret, "csrf", binding)[:43]


def csrf_valid(link_secrets: Sequence[str], binding: str | None, presented: str | None) -> bool:
    if not binding or not presented or len(presented) > 100:
        return False
    return any(hmac.compare_digest(csrf_token(secret, binding), presented) for secret in link_secrets)
