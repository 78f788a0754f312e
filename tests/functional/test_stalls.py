"""Stall detection end to end on moto: a parcel the carrier goes quiet about is flagged by the sweep
(the order is filed by its due stall timer), escalated once (email + SNS), gets one system ticket,
one `shipment.attention` webhook, a timeline entry and honest words on the tracking page; a newer
scan supersedes the timer, a later scan clears the flag, delivery disarms it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import get_container
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_carrier_statuses import shipment_page
from tests.functional.test_lifecycle_api import carrier, pay, place, staff
from tests.functional.test_notifications import subjects, timeline
from tests.functional.test_outbound_webhooks import Receiver, pump, subscribe
from tests.functional.test_sla import sweep

# The frozen clock starts on Mon 2026-11-30 09:00 Berlin: shipped then, with no scan on Tue, Wed and
# Thu the parcel is stalled at the end of Thursday (23:59:59 Berlin = 22:59:59 UTC).
DEADLINE = datetime(2026, 12, 3, 22, 59, 59, tzinfo=UTC)


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def ship(api: Api, tap: StreamTap, tracking: str) -> dict[str, Any]:
    order = place(api)
    assert pay(api, order).status_code == 201
    response = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking})
    assert response.status_code == 201, response.data
    drain(tap)
    return order


def parcel(api: Api, order_id: str) -> dict[str, Any]:
    shipments = api.call("GET", f"/v1/orders/{order_id}", role="agent", sub="a").data["shipments"]
    return shipments[0]  # type: ignore[no-any-return]


def stall_outcomes(result: dict[str, Any]) -> dict[str, int]:
    return {key: value for key, value in result.items() if key.startswith("stall:")}


def automatic_tickets(api: Api, order_id: str) -> list[dict[str, Any]]:
    queue = api.call("GET", "/v1/tickets?limit=100", role="agent", sub="a").data["items"]
    return [t for t in queue if t["order_id"] == order_id and t["channel"] == "system"]


def board_kinds(order_id: str) -> set[str]:
    board = get_container().kpis.board
    assert board is not None
    return {row["kind"] for row in board.board() if row["order_id"] == order_id}


def test_a_silent_parcel_is_flagged_stalled_once_with_every_effect(
    api: Api, tap: StreamTap, receiver: Receiver
) -> None:
    subscription = subscribe(api, receiver.url, ["shipment.attention"])
    order = ship(api, tap, "STALL-1")
    assert stall_outcomes(sweep(DEADLINE - timedelta(minutes=1))) == {}  # Thursday evening: not yet
    assert parcel(api, order["id"])["needs_attention"] is False
    assert stall_outcomes(sweep(DEADLINE + timedelta(minutes=5))) == {"stall:acted": 1}
    shipment = parcel(api, order["id"])
    assert (shipment["needs_attention"], shipment["attention_reason"]) == (True, "stalled")
    pump(tap)
    drain(tap)
    # Swept again (and later): nothing more.
    assert stall_outcomes(sweep(DEADLINE + timedelta(minutes=10))) == {}
    assert stall_outcomes(sweep(DEADLINE + timedelta(days=5))) == {}
    pump(tap)
    drain(tap)
    ops = [s for s in subjects() if "STALL-1" in s]
    assert len(ops) == 1 and ops[0].endswith("stalled") and order["number"] in ops[0], subjects()
    entries = timeline(api, order["id"])
    flagged = [e for e in entries if e["kind"] == "shipment_needs_attention"]
    assert len(flagged) == 1 and flagged[0]["data"]["reason"] == "stalled" and flagged[0]["actor"] == "sla_sweep"
    assert flagged[0]["data"]["business_days"] == 3
    ops_channels = sorted(
        e["data"]["channel"]
        for e in entries
        if e["kind"] == "notification_sent" and e["data"].get("template") == "ops_attention"
    )
    assert ops_channels == ["ops_email", "ops_sns"]  # escalated once, on both channels
    tickets = automatic_tickets(api, order["id"])
    assert len(tickets) == 1 and tickets[0]["category"] == "delay"
    events = [e for e in receiver.accepted() if e["type"] == "shipment.attention"]
    assert len({e["id"] for e in events}) == 1 and events[0]["data"]["attention_reason"] == "stalled"
    assert subscription["id"]
    page = api.client.http.get(shipment_page(api, order["id"])).body.decode()
    assert "Keine Nachricht vom Paketdienst" in page and "seit einigen Werktagen" in page
    assert "stalled" in board_kinds(order["id"])


def test_a_newer_scan_supersedes_the_timer(api: Api, tap: StreamTap) -> None:
    order = ship(api, tap, "STALL-2")
    assert carrier(api, "STALL-2", "in_transit", occurred_at="2026-12-02T10:00:00Z").status_code == 200  # Wednesday
    drain(tap)
    assert stall_outcomes(sweep(DEADLINE + timedelta(minutes=5))) == {}  # the Monday timer is gone
    assert parcel(api, order["id"])["needs_attention"] is False
    # Thu, Fri, Mon after Wednesday's scan: the end of Monday 7 December.
    monday_night = datetime(2026, 12, 7, 23, 5, tzinfo=UTC)
    assert stall_outcomes(sweep(monday_night)) == {"stall:acted": 1}
    assert parcel(api, order["id"])["attention_reason"] == "stalled"


def test_a_legacy_timer_item_is_dropped_and_its_order_decided_on_its_own_facts(api: Api, tap: StreamTap) -> None:
    from chalicelib.domain.sla import Timer

    order = ship(api, tap, "STALL-3")
    carrier(api, "STALL-3", "in_transit", occurred_at="2026-12-01T08:00:00Z")  # a Tuesday scan
    drain(tap)
    # A stall timer item as the stream wrote them before orders carried their timers, for
    # Monday's scan: the sweep drops it, decides the order on its facts and leaves the parcel alone
    # (its deadline is Friday's).
    shipment_id = parcel(api, order["id"])["id"]
    get_container().sla.timers.apply([Timer(DEADLINE, order["id"], f"stall:{shipment_id}")], [])
    assert stall_outcomes(sweep(DEADLINE + timedelta(minutes=5))) == {"stall:legacy": 1}
    assert parcel(api, order["id"])["needs_attention"] is False
    assert stall_outcomes(sweep(DEADLINE + timedelta(minutes=10))) == {}  # gone
    assert stall_outcomes(sweep(datetime(2026, 12, 4, 23, 5, tzinfo=UTC))) == {"stall:acted": 1}  # Wed, Thu, Fri


def test_a_later_scan_clears_the_flag_and_rearms_without_a_second_escalation(api: Api, tap: StreamTap) -> None:
    order = ship(api, tap, "STALL-4")
    assert stall_outcomes(sweep(DEADLINE + timedelta(minutes=5))) == {"stall:acted": 1}
    drain(tap)
    assert "stalled" in board_kinds(order["id"])
    friday = DEADLINE + timedelta(hours=10)
    assert carrier(api, "STALL-4", "in_transit", occurred_at=friday.strftime("%Y-%m-%dT%H:%M:%SZ")).status_code == 200
    drain(tap)
    shipment = parcel(api, order["id"])
    assert (shipment["needs_attention"], shipment["attention_reason"]) == (False, None)
    assert "stalled" not in board_kinds(order["id"])
    kinds = [e["kind"] for e in timeline(api, order["id"])]
    assert kinds.count("shipment_stall_cleared") == 1
    # Quiet again: Mon, Tue, Wed after Friday's scan.
    assert stall_outcomes(sweep(datetime(2026, 12, 9, 23, 5, tzinfo=UTC))) == {"stall:acted": 1}
    drain(tap)
    assert len([s for s in subjects() if "STALL-4" in s]) == 1  # operations already know this parcel
    assert len(automatic_tickets(api, order["id"])) == 1  # one ticket per shipment


def test_a_stalled_parcel_later_lost_is_escalated_for_that(api: Api, tap: StreamTap) -> None:
    order = ship(api, tap, "STALL-5")
    sweep(DEADLINE + timedelta(minutes=5))
    drain(tap)
    friday = DEADLINE + timedelta(hours=10)
    assert carrier(api, "STALL-5", "lost", occurred_at=friday.strftime("%Y-%m-%dT%H:%M:%SZ")).status_code == 200
    drain(tap)
    assert parcel(api, order["id"])["attention_reason"] == "lost"
    ops = [s for s in subjects() if "STALL-5" in s]
    assert [s.rsplit(" ", 1)[1] for s in ops] == ["stalled", "lost"]


def test_delivered_parcels_are_never_stalled(api: Api, tap: StreamTap) -> None:
    order = ship(api, tap, "STALL-6")
    carrier(api, "STALL-6", "delivered")
    drain(tap)
    assert stall_outcomes(sweep(DEADLINE + timedelta(days=30))) == {}
    assert parcel(api, order["id"])["needs_attention"] is False
    assert automatic_tickets(api, order["id"]) == []
