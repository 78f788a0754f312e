"""Signed link tokens (tracking pages, surveys) and prefixed, time-sortable ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.ids import PREFIXES, has_prefix, new_id
from chalicelib.domain.signing import sign, verify

OLD, NEW = "old-link-secret", "new-link-secret"
PAYLOAD = {"o": "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "k": "track", "n": 3}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(body: bytes, secret: str) -> str:
    """A correctly MACed token around an arbitrary body (to reach the checks after the MAC)."""
    encoded = b64(body)
    return f"{encoded}.{b64(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest())}"


# --- signing ------------------------------------------------------------------------------------


def test_round_trip() -> None:
    token = sign(PAYLOAD, NEW)
    assert verify(token, [NEW]) == PAYLOAD
    assert set(token) <= set(string.ascii_letters + string.digits + "-_.")  # URL-safe, no padding
    assert token.count(".") == 1


def test_signing_is_deterministic_and_key_order_independent() -> None:
    assert sign({"a": 1, "b": 2}, NEW) == sign({"b": 2, "a": 1}, NEW)
    assert sign(PAYLOAD, NEW) != sign(PAYLOAD, OLD)


def test_wrong_secret_is_rejected() -> None:
    assert verify(sign(PAYLOAD, OLD), [NEW]) is None
    assert verify(sign(PAYLOAD, NEW), []) is None


def test_rotation_accepts_tokens_signed_with_any_listed_secret() -> None:
    assert verify(sign(PAYLOAD, OLD), [NEW, OLD]) == PAYLOAD
    assert verify(sign(PAYLOAD, NEW), [NEW, OLD]) == PAYLOAD
    assert verify(sign(PAYLOAD, OLD), [NEW]) is None  # once the old secret is retired


def test_tampered_body_is_rejected() -> None:
    body, mac = sign(PAYLOAD, NEW).split(".")
    other_body = b64(b'{"k":"track","n":3,"o":"ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2T"}')
    assert verify(f"{other_body}.{mac}", [NEW]) is None
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    assert verify(f"{flipped}.{mac}", [NEW]) is None


@pytest.mark.parametrize("position", [0, 10, 20, 30, 41])
def test_tampered_mac_is_rejected(position: int) -> None:
    body, mac = sign(PAYLOAD, NEW).split(".")
    replacement = "A" if mac[position] != "A" else "B"
    assert verify(f"{body}.{mac[:position]}{replacement}{mac[position + 1 :]}", [NEW]) is None
    assert verify(f"{body}.{mac[:-2]}", [NEW]) is None  # truncated


def test_non_canonical_mac_encodings_are_rejected() -> None:
    # Regression: the MAC used to be base64-decoded leniently, so other spellings of a valid token
    # verified too (malleable tokens defeat anything keyed on the token string).
    token = sign(PAYLOAD, NEW)
    body, mac = token.split(".")
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    same_bytes = alphabet[alphabet.index(mac[-1]) ^ 1]  # the last character's 2 unused bits
    assert base64.urlsafe_b64decode(f"{mac[:-1]}{same_bytes}=") == base64.urlsafe_b64decode(f"{mac}=")
    for variant in (
        f"{token}!!!!",
        f"{token}=",
        f"{body}.{mac[:-1]}{same_bytes}",
        f"{body}.{mac[:20]}!{mac[20:]}",
    ):
        assert verify(variant, [NEW]) is None, variant


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "!!!.???",
        "abc.def",
        "é.ü",
        "\x00.\x00",
        "\ud800.abc",  # a lone surrogate (JSON "\ud800" escapes decode to these)
        "abc.\udfff",
        "x" * 10_000 + "." + "y" * 10_000,
    ],
)
def test_garbage_returns_none(garbage: str) -> None:
    assert verify(garbage, [NEW, OLD]) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b"\xff\xfe\xfa",  # not UTF-8
    ],
)
def test_a_valid_mac_over_something_that_is_not_a_json_object_returns_none(body: bytes) -> None:
    assert verify(forge(body, NEW), [NEW]) is None


def test_a_valid_mac_over_a_body_that_is_not_base64_returns_none() -> None:
    body = "not*base64"
    mac = b64(hmac.new(NEW.encode(), body.encode(), hashlib.sha256).digest())
    assert verify(f"{body}.{mac}", [NEW]) is None


@given(st.text(max_size=200))
def test_verify_never_raises_on_any_text(text: str) -> None:
    assert verify(text, [NEW]) is None


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_.=", max_size=120))
def test_verify_never_raises_on_token_shaped_text(text: str) -> None:
    assert verify(text, [NEW]) is None


payloads = st.dictionaries(
    st.text(max_size=10),
    st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none()),
    max_size=5,
)


@given(payloads)
def test_round_trip_any_payload(payload: dict[str, Any]) -> None:
    assert verify(sign(payload, NEW), [OLD, NEW]) == payload
    assert verify(sign(payload, NEW), [OLD]) is None


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_new_id_has_its_prefix(prefix: str) -> None:
    value = new_id(prefix)
    assert value.startswith(f"{prefix}_")
    assert len(value) == len(prefix) + 1 + 26
    assert has_prefix(value, prefix)
    assert all(other == prefix or not has_prefix(value, other) for other in PREFIXES)


def test_documented_prefixes_exist() -> None:
    assert {"ord", "tkt", "ret", "doc"} <= set(PREFIXES)


def test_unknown_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("xyz")


def test_ids_are_unique() -> None:
    assert len({new_id("ord") for _ in range(1000)}) == 1000


def test_ids_sort_by_time() -> None:
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    moments = [start + timedelta(milliseconds=step * 7) for step in range(50)]
    moments += [start + timedelta(days=days) for days in (1, 30, 400, 4000)]
    ids = [new_id("ord", at) for at in moments]
    assert sorted(ids) == ids
    assert sorted(reversed(ids)) == ids


def test_fixed_timestamp_is_encoded_in_the_id() -> None:
    at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    first, second = new_id("ord", at), new_id("ord", at)
    assert first[:14] == second[:14]  # prefix + 10-character timestamp part
    assert first != second  # random part differs


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        ("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "ord", True),
        ("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "tkt", False),
        ("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2", "ord", False),  # 25 characters
        ("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2SX", "ord", False),  # 27 characters
        ("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R-S", "ord", False),
        ("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R S", "ord", False),
        ("01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "ord", False),  # no prefix
        ("ord01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "ord", False),  # no underscore
        ("ord_", "ord", False),
        ("", "ord", False),
        ("xord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "ord", False),
    ],
)
def test_has_prefix(value: str, prefix: str, expected: bool) -> None:
    assert has_prefix(value, prefix) is expected
