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


# --- returns, tickets and failed payments ------------------------------------------------------


def _versioned(ret: Any, version: int) -> Any:
    from dataclasses import replace

    return replace(ret, version=version, history=list(ret.history), holds=list(ret.holds))


def test_return_events_one_update_per_visible_change_and_one_refund_request() -> None:
    from chalicelib.domain.outbound import return_events
    from chalicelib.domain.returns import ReturnHold, refund_quote
    from tests.unit.test_returns_domain import a_return, order

    requested = _versioned(a_return(), 1)
    [created] = return_events(None, requested, T0)
    assert created.type == "return.updated" and created.data["status"] == "requested"
    assert return_events(None, requested, T0)[0].id == created.id  # a replay: the same id
    approved = _versioned(requested, 2)
    approved.approve(T0, "agt_1", 30)
    assert [e.type for e in return_events(requested, approved, T0)] == ["return.updated"]
    noted = _versioned(approved, 3)  # e.g. the credit note's number noted: nothing a subscriber sees
    assert return_events(approved, noted, T0) == []
    received = _versioned(noted, 4)
    quote = refund_quote(order(), received.lines, whole_order=False, reason="changed_mind")
    received.receive(T0, "agt_1", received.lines, quote)
    update, refund = return_events(noted, received, T0)
    assert (update.type, refund.type) == ("return.updated", "refund.requested")
    assert refund.data["amount"] == received.refund_amount and refund.data["lines"][0]["sku"] == "MUG-1"
    held = _versioned(received, 5)
    held.hold(ReturnHold("refund_mismatch", "wrong amount", {}), T0, "payment_provider")
    [hold_update] = return_events(received, held, T0)  # the request is not repeated
    assert hold_update.data["holds"] == ["refund_mismatch"] and hold_update.id != update.id
    assert "customer_id" not in hold_update.data


def test_a_return_received_with_nothing_to_refund_requests_no_refund() -> None:
    from chalicelib.domain.outbound import return_events
    from chalicelib.domain.returns import ReturnStatus
    from tests.unit.test_returns_domain import a_return

    before = _versioned(a_return(ReturnStatus.APPROVED), 2)
    after = _versioned(before, 3)
    after.status, after.refund_amount = ReturnStatus.REFUNDED, 0
    assert [e.type for e in return_events(before, after, T0)] == ["return.updated"]


def test_ticket_events_only_for_what_the_customer_sees() -> None:
    from dataclasses import replace

    from chalicelib.domain.outbound import ticket_events
    from tests.unit.test_tickets_domain import message, new_ticket

    opened = replace(new_ticket(), version=1)
    [event] = ticket_events(None, opened, T0)
    assert event.type == "ticket.updated" and event.data["status"] == "open" and "messages" not in event.data
    noted = replace(opened, version=2, messages=list(opened.messages))
    noted.add_staff_message(replace(message("agt_1", internal=True, n=2), body="VIP"))
    assert ticket_events(opened, noted, T0) == []  # an internal note: nothing
    answered = replace(noted, version=3, messages=list(noted.messages))
    answered.add_staff_message(message("agt_1", n=3))
    [update] = ticket_events(noted, answered, T0)
    assert update.data["status"] == "acknowledged" and update.id != event.id
    assert "agt_1" not in str(update.data) and "VIP" not in str(update.data)


def test_failed_payments_are_on_hold_events_only_when_the_shop_wants_them() -> None:
    from dataclasses import replace

    from chalicelib.domain.orders import PaymentFailure
    from chalicelib.domain.outbound import order_events
    from tests.unit.test_returns_domain import order

    before = replace(order(), version=1)
    after = replace(before, version=2)
    after.record_payment_failure(PaymentFailure("stripe:evt_1", "pi_1", "card_declined", T0), "payment_provider")
    assert order_events(before, after, T0) == []
    [event] = order_events(before, after, T0 + timedelta(seconds=5), payment_failed_on_hold=True)
    assert event.type == "order.on_hold" and event.created_at == T0  # the attempt's own time: a stable id
    assert event.data["reason"] == "payment_failed" and event.data["payment"] == {
        "provider_ref": "pi_1",
        "reason": "card_declined",
    }
    assert after.status == before.status and after.holds == before.holds
    again = replace(after, version=3)  # a later change of the order: the old failure is not sent again
    assert order_events(after, again, T0, payment_failed_on_hold=True) == []
