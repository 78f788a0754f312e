"""Ticket effects through the real stream consumer: receipts, threaded replies, SLA timers, auto tickets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.clock import FROZEN_AT, frozen
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import carrier, pay, place, staff
from tests.functional.test_notifications import emails
from tests.functional.test_sla import sweep
from tests.functional.test_tickets_api import ALICE, agent, open_ticket

START = FROZEN_AT  # every timestamp below derives from this one clock


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


@pytest.fixture
def still() -> Iterator[Any]:
    """The clock stands at START (moved on purpose only), so deadlines are exact."""
    with frozen(START, tick=False) as traveller:
        yield traveller


def new_emails(before: int) -> list[Any]:
    return emails()[before:]


def test_every_customer_email_carries_the_signed_reply_to(api: Api, tap: StreamTap, still: Any) -> None:
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.reply_address import order_from_token, token_from_address

    order = place(api)
    drain(tap)
    confirmation = emails()[-1]
    reply_to = str(confirmation["Reply-To"])
    assert reply_to.startswith("reply+") and reply_to.endswith("@reply.ordercare.local")
    token = token_from_address(reply_to, "reply.ordercare.local")
    assert token is not None and len(reply_to.split("@")[0]) <= 64
    assert order_from_token(token, get_container().settings.link_secrets) == order["id"]
    forged = token[:-1] + ("a" if token[-1] != "a" else "b")
    assert order_from_token(forged, get_container().settings.link_secrets) is None


def test_receipt_once_agent_reply_threaded_internal_note_never_sent(api: Api, tap: StreamTap, still: Any) -> None:
    order = place(api)
    drain(tap)
    before = len(emails())
    ticket = open_ticket(api, order["id"]).data
    drain(tap)
    drain(tap)  # a replayed stream sends nothing more
    receipts = new_emails(before)
    assert len(receipts) == 1
    receipt = receipts[0]
    assert ticket["number"] in str(receipt["Subject"]) and "24" in receipt.get_body(("plain",)).get_content()
    assert str(receipt["Auto-Submitted"]) == "auto-replied" and str(receipt["Reply-To"]).startswith("reply+")
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "Secret note", "internal": True})
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "Your parcel left today."})
    drain(tap)
    sent = new_emails(before + 1)
    assert len(sent) == 1, [str(m["Subject"]) for m in sent]
    reply = sent[0]
    assert f"[{ticket['number']}]" in str(reply["Subject"])
    assert "Your parcel left today." in reply.get_body(("plain",)).get_content()
    assert "Secret note" not in reply.as_string()
    root = f"<{ticket['id']}@reply.ordercare.local>"
    assert root in str(reply["References"]) and str(reply["In-Reply-To"])
    assert str(reply["Message-ID"]).startswith(f"<{ticket['id']}.msg_")


def test_sla_warns_once_at_80_percent_and_escalates_a_breach_once(api: Api, tap: StreamTap, still: Any) -> None:
    order = place(api)
    drain(tap)
    ticket = open_ticket(api, order["id"]).data
    drain(tap)
    before = len(emails())
    warned = sweep(START + timedelta(hours=20))  # 80 % of 24 h is 19.2 h
    assert warned.get("ticket_acknowledgement:at_risk:acted") == 1, warned
    assert agent(api, "GET", f"/v1/tickets/{ticket['id']}").data["sla"]["acknowledgement"] == "at_risk"
    assert [t["id"] for t in agent(api, "GET", "/v1/tickets?sla=at_risk").data["items"]] == [ticket["id"]]
    drain(tap)
    assert sweep(START + timedelta(hours=20))["due"] == 0  # swept again: nothing more
    broken = sweep(START + timedelta(hours=25))
    assert broken.get("ticket_acknowledgement:breached:acted") == 1, broken
    drain(tap)
    ops = [str(m["Subject"]) for m in new_emails(before)]
    assert len(ops) == 2 and "at risk" in ops[0] and "broken" in ops[1], ops
    assert [t["id"] for t in agent(api, "GET", "/v1/tickets?sla=breached").data["items"]] == [ticket["id"]]
    assert sweep(START + timedelta(hours=26)).get("ticket_acknowledgement:breached:acted") is None
    drain(tap)
    assert len(emails()) == before + 2
    # A late acknowledgement is recorded as missed, and stops the clock.
    still.move_to(START + timedelta(hours=30))
    acknowledged = agent(api, "POST", f"/v1/tickets/{ticket['id']}/acknowledge").data
    assert acknowledged["sla"]["acknowledgement"] == "breached" and acknowledged["status"] == "acknowledged"


def test_resolved_ticket_closes_after_seven_days_and_no_earlier(api: Api, tap: StreamTap, still: Any) -> None:
    order = place(api)
    drain(tap)
    ticket = open_ticket(api, order["id"]).data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "Refunded"})
    drain(tap)
    sweep(START + timedelta(days=6))
    assert agent(api, "GET", f"/v1/tickets/{ticket['id']}").data["status"] == "resolved"
    closed = sweep(START + timedelta(days=7, minutes=1))
    assert closed.get("ticket_close:due:acted") == 1, closed
    drain(tap)
    assert agent(api, "GET", f"/v1/tickets/{ticket['id']}").data["status"] == "closed"
    still.move_to(START + timedelta(days=7, hours=1))
    assert api.call("POST", f"/v1/tickets/{ticket['id']}/reopen", role="customer", sub=ALICE).status_code == 409
    assert [t["id"] for t in agent(api, "GET", "/v1/tickets?status=closed").data["items"]] == [ticket["id"]]


def test_the_customer_hears_of_each_resolution_once_in_the_thread(api: Api, tap: StreamTap, still: Any) -> None:
    order = place(api)
    drain(tap)
    ticket = open_ticket(api, order["id"]).data
    drain(tap)
    before = len(emails())
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/acknowledge")
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "Ihr Paket wurde neu versandt."})
    drain(tap)
    drain(tap)  # a replayed stream sends nothing more
    [resolved] = new_emails(before)
    assert f"[{ticket['number']}]" in str(resolved["Subject"]) and "erledigt" in str(resolved["Subject"])
    text = resolved.get_body(("plain",)).get_content()
    assert "Ihr Paket wurde neu versandt." in text and "7 Tagen" in text
    assert str(resolved["Reply-To"]).startswith("reply+")  # a reply comes back onto the ticket (and reopens it)
    assert f"<{ticket['id']}@reply.ordercare.local>" in str(resolved["References"])
    # Reopened and resolved again: a second resolution, a second email (its own Message-ID).
    still.move_to(START + timedelta(days=1))
    assert api.call("POST", f"/v1/tickets/{ticket['id']}/reopen", role="customer", sub=ALICE).status_code == 200
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "Zugestellt."})
    drain(tap)
    again = new_emails(before + 1)
    assert len(again) == 1 and "Zugestellt." in again[0].get_body(("plain",)).get_content()
    assert str(again[0]["Message-ID"]) != str(resolved["Message-ID"])


def test_reopen_restarts_the_resolution_clock(api: Api, tap: StreamTap, still: Any) -> None:
    order = place(api)
    drain(tap)
    ticket = open_ticket(api, order["id"]).data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "Re-sent"})
    drain(tap)
    still.move_to(START + timedelta(days=3))
    reopened = api.call("POST", f"/v1/tickets/{ticket['id']}/reopen", role="customer", sub=ALICE).data
    assert reopened["resolve_by"] == (START + timedelta(days=3, hours=48)).strftime("%Y-%m-%dT%H:%M:%SZ")
    drain(tap)
    assert sweep(START + timedelta(days=7, minutes=1)).get("ticket_close:due:acted") is None  # no longer resolved
    kinds = [e["kind"] for e in agent(api, "GET", f"/v1/orders/{order['id']}/timeline?limit=100").data["items"]]
    assert "ticket_status_changed" in kinds


def test_a_parcel_needing_attention_opens_one_system_ticket(api: Api, tap: StreamTap, still: Any) -> None:
    order = place(api)
    assert pay(api, order).status_code == 201
    staff(api, f"/v1/orders/{order['id']}/processing")
    shipped = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRACK-ATT-1"})
    assert shipped.status_code == 201
    drain(tap)
    occurred = START.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert carrier(api, "TRACK-ATT-1", "exception", occurred_at=occurred).status_code == 200
    drain(tap)
    assert carrier(api, "TRACK-ATT-1", "exception", occurred_at=occurred).status_code == 200
    drain(tap)
    queue = agent(api, "GET", "/v1/tickets").data["items"]
    automatic = [t for t in queue if t["order_id"] == order["id"]]
    assert len(automatic) == 1 and automatic[0]["channel"] == "system" and automatic[0]["category"] == "delay"
    # The customer hears nothing automatic about it (the team reaches out), and sees no internal text.
    mine = api.call("GET", f"/v1/tickets/{automatic[0]['id']}", role="customer", sub=ALICE).data
    assert mine["messages"] == []
