"""Stall timers in the shop's business calendar: when a silent parcel counts as stalled, which
scans move the deadline, which parcels are not watched, and what flagging does (once)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chalicelib.bootstrap import calendar_from
from chalicelib.domain.orders import CarrierEvent, Order, OrderStatus, Shipment, ShipmentLine
from chalicelib.domain.sla import due_timers, stall_deadline, stall_timers, stalled_shipment_id
from chalicelib.settings import Settings
from tests.unit.test_notify_render import sample_order

CAL = calendar_from(Settings())  # DE, Europe/Berlin
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def parcel(shipped_at: datetime, *scans: datetime, status: str = "in_transit") -> Shipment:
    events = [CarrierEvent("in_transit", at, f"evt-{i}") for i, at in enumerate(scans)]
    return Shipment("shp_1", "dhl", "TRK1", [ShipmentLine("MUG-1", 1)], shipped_at, status=status, events=events)


def order_with(shipment: Shipment) -> Order:
    order = sample_order("en")
    order.status, order.shipments = OrderStatus.SHIPPED, [shipment]
    return order


@pytest.mark.parametrize(
    ("scan", "deadline"),
    [
        # Mon 10:00 → Tue, Wed, Thu without a scan: stalled at the end of Thursday.
        (berlin(2026, 11, 30, 10), berlin(2026, 12, 3, 23, 59, 59)),
        # Fri → over the weekend: Mon, Tue, Wed.
        (berlin(2026, 12, 4, 16), berlin(2026, 12, 9, 23, 59, 59)),
        # A Saturday scan: the weekend does not count, Mon, Tue, Wed do.
        (berlin(2026, 12, 5, 11), berlin(2026, 12, 9, 23, 59, 59)),
        # Wed 23 Dec: Thu 24, (Fri 25 and Sat 26 holidays/weekend), Mon 28, Tue 29.
        (berlin(2026, 12, 23, 9), berlin(2026, 12, 29, 23, 59, 59)),
        # Thu 31 Dec: (New Year's Day, the weekend) Mon 4, Tue 5, Wed 6 Jan.
        (berlin(2026, 12, 31, 12), berlin(2027, 1, 6, 23, 59, 59)),
        # 00:30 on Tuesday in Berlin (Monday 23:30 UTC) is a Tuesday scan: the shop's day counts.
        (berlin(2026, 12, 1, 0, 30), berlin(2026, 12, 4, 23, 59, 59)),
    ],
)
def test_the_deadline_is_the_end_of_the_third_business_day_after_the_latest_scan(
    scan: datetime, deadline: datetime
) -> None:
    shipment = parcel(berlin(2026, 11, 27, 9), scan)
    assert stall_deadline(shipment, CAL, 3) == deadline


def test_the_number_of_days_is_a_setting() -> None:
    shipment = parcel(berlin(2026, 12, 4, 16), berlin(2026, 12, 4, 16))  # a Friday
    assert stall_deadline(shipment, CAL, 1) == berlin(2026, 12, 7, 23, 59, 59)
    assert stall_deadline(shipment, CAL, 5) == berlin(2026, 12, 11, 23, 59, 59)


def test_without_scans_the_shipment_time_counts_and_a_scan_dated_earlier_does_not_move_it_back() -> None:
    shipped = berlin(2026, 12, 1, 15)  # a Tuesday
    assert stall_deadline(parcel(shipped), CAL, 3) == berlin(2026, 12, 4, 23, 59, 59)
    back_dated = parcel(shipped, berlin(2026, 11, 27, 8))
    assert stall_deadline(back_dated, CAL, 3) == berlin(2026, 12, 4, 23, 59, 59)


def test_the_latest_scan_counts_whatever_order_scans_arrive_in() -> None:
    shipment = parcel(berlin(2026, 11, 30, 9), berlin(2026, 12, 2, 9), berlin(2026, 12, 1, 9))
    assert stall_deadline(shipment, CAL, 3) == berlin(2026, 12, 7, 23, 59, 59)


@pytest.mark.parametrize("status", ["delivered", "available_for_pickup"])
def test_delivered_or_waiting_for_pickup_is_not_watched(status: str) -> None:
    assert stall_deadline(parcel(berlin(2026, 11, 30, 9), status=status), CAL, 3) is None


@pytest.mark.parametrize("reason", ["returned_to_sender", "lost", "exception", "stalled"])
def test_a_parcel_that_needs_a_person_is_not_watched(reason: str) -> None:
    shipment = replace(parcel(berlin(2026, 11, 30, 9)), needs_attention=True, attention_reason=reason)
    assert stall_deadline(shipment, CAL, 3) is None


def test_a_newer_scan_supersedes_the_timer_and_the_stale_one_finds_nothing_to_do() -> None:
    shipment = parcel(berlin(2026, 11, 30, 9), berlin(2026, 11, 30, 10))
    order = order_with(shipment)
    (first,) = stall_timers(order, CAL, 3)
    assert stalled_shipment_id(first.kind) == "shp_1" and first.due_at == berlin(2026, 12, 3, 23, 59, 59)
    assert first in due_timers(order, first.due_at, CAL, 3)
    order.carrier_update("TRK1", CarrierEvent("in_transit", berlin(2026, 12, 2, 12), "evt-new"), "carrier")
    (second,) = stall_timers(order, CAL, 3)
    assert second.due_at == berlin(2026, 12, 7, 23, 59, 59)
    assert first not in due_timers(order, first.due_at, CAL, 3)  # a sweep then finds nothing to do


def test_flagging_is_once_and_a_later_scan_clears_it() -> None:
    order = order_with(parcel(berlin(2026, 11, 30, 9)))
    now = berlin(2026, 12, 4, 0, 5)
    assert order.flag_stalled("shp_1", now, "sla_sweep", business_days=3)
    shipment = order.shipments[0]
    assert shipment.stalled and shipment.needs_attention and shipment.attention_reason == "stalled"
    assert stall_timers(order, CAL, 3) == set()  # flagged: disarmed
    assert not order.flag_stalled("shp_1", now, "sla_sweep")  # once
    kinds = [e.kind for e in order.events]
    assert kinds.count("shipment_needs_attention") == 1
    order.carrier_update("TRK1", CarrierEvent("in_transit", berlin(2026, 12, 4, 8), "evt-2"), "carrier")
    assert not shipment.needs_attention and shipment.attention_reason is None
    assert [e.kind for e in order.events][-2:] == ["carrier_event", "shipment_stall_cleared"]
    (rearmed,) = stall_timers(order, CAL, 3)
    assert rearmed.due_at == berlin(2026, 12, 9, 23, 59, 59)


def test_a_stalled_parcel_then_lost_needs_attention_for_the_new_reason() -> None:
    order = order_with(parcel(berlin(2026, 11, 30, 9)))
    order.flag_stalled("shp_1", berlin(2026, 12, 4, 0, 5), "sla_sweep")
    order.carrier_update("TRK1", CarrierEvent("lost", berlin(2026, 12, 4, 8), "evt-2"), "carrier")
    assert order.shipments[0].attention_reason == "lost"


def test_a_delivered_or_already_flagged_parcel_is_not_flagged() -> None:
    delivered = order_with(parcel(berlin(2026, 11, 30, 9), status="delivered"))
    delivered.shipments[0].delivered_at = berlin(2026, 12, 1, 9)
    assert not delivered.flag_stalled("shp_1", berlin(2026, 12, 4), "carrier")
    lost = order_with(replace(parcel(berlin(2026, 11, 30, 9)), needs_attention=True, attention_reason="lost"))
    assert not lost.flag_stalled("shp_1", berlin(2026, 12, 4), "carrier")
    assert not lost.flag_stalled("shp_unknown", berlin(2026, 12, 4), "carrier")
