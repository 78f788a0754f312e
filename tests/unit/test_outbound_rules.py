"""Outbound webhook rules: receiver URLs (SSRF), stable event ids."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.http_sender import GuardedHttpSender
from chalicelib.domain.outbound import (
    EVENT_TYPES,
    UnsafeUrlError,
    check_url,
    event_id,
    public_address,
    receiver_address_allowed,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)  # the rules are pure: any fixed instant will do


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example.com/hook",
        "ftp://shop.example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",
        "https://169.254.169.254/latest",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",
        "https://metadata.google.internal/",
        "https://intranet/hook",
        "https://a:b@shop.example.com/hook",
        "https://shop.example.com:99999/hook",
        "https://shop.example.com/hook with space",
    ],
)
def test_unsafe_urls_are_refused_in_aws(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url(url, allow_loopback=False)


def test_public_https_urls_are_accepted_and_loopback_only_locally() -> None:
    assert check_url("https://shop.example.com/hooks?x=1", allow_loopback=False)
    assert check_url("https://8.8.8.8/hook", allow_loopback=False)
    assert check_url("http://127.0.0.1:8123/hook", allow_loopback=True)
    with pytest.raises(UnsafeUrlError):
        check_url("http://127.0.0.1:8123/hook", allow_loopback=False)
    with pytest.raises(UnsafeUrlError):
        check_url("http://10.0.0.1/hook", allow_loopback=True)


def test_resolved_addresses_are_checked_too() -> None:
    assert public_address("93.184.216.34") and public_address("2606:2800:220:1::1")
    for private in ("10.1.1.1", "127.0.0.1", "169.254.169.254", "::1", "::ffff:10.0.0.1", "224.0.0.1", "fd12::1"):
        assert not public_address(private), private
    assert receiver_address_allowed("127.0.0.1", "127.0.0.1", allow_loopback=True)
    assert not receiver_address_allowed("10.0.0.1", "localhost", allow_loopback=True)


def test_the_sender_refuses_a_public_name_that_resolves_privately(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS is re-checked at delivery: the name passed check_url, its answer is private → no connect."""
    assert check_url("https://hooks.shop.example.com/h", allow_loopback=False)
    connects: list[Any] = []

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connects.append(address))
    result = GuardedHttpSender(allow_loopback=False).send(
        "https://hooks.shop.example.com/h", b"{}", {"Content-Type": "application/json"}, timeout=1
    )
    assert result.status_code is None and "non-public" in (result.error or "")
    assert connects == []  # never even opened a socket to it


def test_event_ids_are_stable_per_fact_and_sort_by_time() -> None:
    first = event_id("ord_1", "order.paid:2", T0)
    assert first == event_id("ord_1", "order.paid:2", T0)
    assert first != event_id("ord_1", "order.paid:3", T0) != event_id("ord_2", "order.paid:2", T0)
    assert event_id("ord_1", "x", T0) < event_id("ord_1", "x", T0 + timedelta(seconds=1))
    assert first.startswith("whe_") and len(first) == 30
    assert len(EVENT_TYPES) == 12
