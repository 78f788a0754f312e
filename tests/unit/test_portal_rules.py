"""The portal's pure rules: addresses, codes, challenges, sessions, rate windows, CSRF, wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import sessions as rules
from chalicelib.web.portal_messages import STRINGS

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SECRET = "test-link-secret"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM \t", "alice@example.com"),
        ("", None),
        (None, None),
        ("no-at-sign", None),
        ("two@@example.com", None),
        ("a b@example.com", None),
        ("x@localhost", None),
        ("x" * 250 + "@example.com", None),
    ],
)
def test_addresses_are_normalised_or_refused(raw: str | None, expected: str | None) -> None:
    assert rules.normalise_email(raw) == expected


def test_the_index_key_is_stable_and_hides_the_address() -> None:
    key = rules.email_key("alice@example.com")
    assert key == rules.email_key("alice@example.com") and "alice" not in key and len(key) == 40


@pytest.mark.parametrize(("raw", "code"), [("123456", "123456"), (" 123 456 ", "123456"), ("123-456", "123456")])
def test_codes_are_read_forgivingly(raw: str, code: str) -> None:
    assert rules.clean_code(raw) == code


@pytest.mark.parametrize("raw", ["", None, "12345", "1234567", "12a456", "١٢٣٤٥٦"])
def test_non_codes_are_refused(raw: str | None) -> None:
    assert rules.clean_code(raw) is None


def test_codes_are_six_digits_and_stored_only_as_a_keyed_hash() -> None:
    challenge, code, link = rules.new_challenge("c1", "alice@example.com", NOW, SECRET, "/account/orders")
    assert len(code) == 6 and code.isdigit()
    assert code not in challenge.code_hash and link not in challenge.link_hash
    assert challenge.code_hash != rules.code_hash("another-secret", "c1", code)  # keyed: no offline table
    assert challenge.matches(code, [SECRET]) and not challenge.matches(code, ["other"])
    assert challenge.matches(code, ["new-secret", SECRET])  # a rotation keeps codes already sent working
    assert challenge.link_hash == rules.token_hash(link)


def test_a_challenge_is_usable_ten_minutes_once_and_five_tries() -> None:
    challenge, _, _ = rules.new_challenge("c1", "a@example.com", NOW, SECRET, "")
    assert challenge.usable(NOW + timedelta(minutes=9, seconds=59))
    assert not challenge.usable(NOW + timedelta(minutes=10))
    assert not rules.Challenge(**{**vars(challenge), "used": True}).usable(NOW)
    assert rules.Challenge(**{**vars(challenge), "attempts": 4}).usable(NOW)
    assert not rules.Challenge(**{**vars(challenge), "attempts": 5}).usable(NOW)


def test_codes_are_not_predictable() -> None:
    assert len({rules.new_code() for _ in range(200)}) > 190


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/account/orders", "/account/orders"),
        ("/account/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "/account/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"),
        ("/account/preferences", "/account/preferences"),
        ("https://evil.example/", "/account/orders"),
        ("//evil.example/account/orders", "/account/orders"),
        ("/account/orders/../../x", "/account/orders"),
        ("/account/documents/doc_1", "/account/orders"),
        (None, "/account/orders"),
    ],
)
def test_next_stays_inside_the_portal(raw: str | None, expected: str) -> None:
    assert rules.safe_next(raw) == expected


def test_sessions_expire_idle_after_12_hours_and_after_30_days_anyway() -> None:
    session, token = rules.new_session("a@example.com", NOW, "en")
    assert session.id_hash == rules.token_hash(token) and token not in session.id_hash
    assert session.valid(NOW + timedelta(hours=11, minutes=59))
    assert not session.valid(NOW + timedelta(hours=12))
    kept = session
    for _ in range(70):
        kept = kept.touched(kept.last_seen_at + timedelta(hours=11))
    assert kept.last_seen_at > NOW + timedelta(days=30)
    assert not kept.valid(kept.last_seen_at)


def test_touches_are_rare() -> None:
    session, _ = rules.new_session("a@example.com", NOW, "en")
    assert not session.needs_touch(NOW + timedelta(minutes=4))
    assert session.needs_touch(NOW + rules.TOUCH_EVERY)


def test_rate_windows_and_retry_after() -> None:
    limit = rules.RateLimit("ip", 3, timedelta(minutes=15))
    at = datetime(2026, 11, 30, 10, 7, 30, tzinfo=UTC)
    assert limit.window_start(at) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert limit.retry_after(at) == 450
    assert limit.retry_after(datetime(2026, 11, 30, 10, 14, 59, 900000, tzinfo=UTC)) == 1


def test_csrf_tokens_are_bound_and_constant_time_checked() -> None:
    token = rules.csrf_token(SECRET, "session:abc")
    assert rules.csrf_valid([SECRET], "session:abc", token)
    assert not rules.csrf_valid([SECRET], "session:abd", token)
    assert not rules.csrf_valid([SECRET], None, token)
    assert not rules.csrf_valid([SECRET], "session:abc", None)
    assert not rules.csrf_valid([SECRET], "session:abc", "")
    assert not rules.csrf_valid([SECRET], "session:abc", token + "x" * 100)


def test_portal_wording_has_every_key_in_every_language() -> None:
    assert set(STRINGS["de"]) == set(STRINGS["en"])
    assert all(value.strip() for language in STRINGS.values() for value in language.values())
