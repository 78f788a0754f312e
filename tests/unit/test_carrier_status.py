"""The carrier status model: the mapping table, and what each status does to the shipment,
the order, the customer's messages, operations and the tracking page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.carriers import ATTENTION_STATUSES, CARRIER_STATUSES, CUSTOMER_NOTICES, SHIPMENT_PROGRESS
from chalicelib.domain.orders import CarrierEvent, Order, OrderStatus
from chalicelib.notify.i18n import STRINGS
from chalicelib.notify.milestones import attention, milestones
from chalicelib.web.messages import STRINGS as PAGE_STRINGS
from tests.unit.test_tracking_view import PLACED, new_order, scan, shipped, view

TRACKING = "00340434161094042557"


def test_the_mapping_table_covers_the_contract_statuses() -> None:
    assert tuple(CARRIER_STATUSES) == (
        "label_created",
        "in_transit",
        "out_for_delivery",
        "attempt_failed",
        "available_for_pickup",
        "delivered",
        "exception",
        "delayed",
        "returned_to_sender",
        "lost",
    )
    assert CUSTOMER_NOTICES == ("attempt_failed", "available_for_pickup")
    assert ATTENTION_STATUSES == ("exception", "returned_to_sender", "lost")
    for status, rule in CARRIER_STATUSES.items():
        assert rule.progress is None or rule.progress in SHIPMENT_PROGRESS, status
        assert not (rule.attention and rule.progress), status  # a parcel in trouble does not move on


def test_the_api_accepts_exactly_the_table() -> None:
    from typing import get_args

    from chalicelib.api.schemas import CarrierStatus

    assert set(get_args(CarrierStatus)) == set(CARRIER_STATUSES)


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("status", list(CARRIER_STATUSES))
def test_every_status_has_plain_words_on_the_page(lang: str, status: str) -> None:
    assert PAGE_STRINGS[lang][f"event.{status}"]


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("kind", CUSTOMER_NOTICES)
def test_customer_notices_have_subject_text_and_sms(lang: str, kind: str) -> None:
    for part in ("subject", "intro", "sms"):
        assert STRINGS[lang][f"{kind}.{part}"]


def test_label_created_and_delayed_are_recorded_only() -> None:
    order = shipped(new_order())
    for status in ("label_created", "delayed"):
        scan(order, status, PLACED + timedelta(days=3, hours=1))
    shipment = order.shipments[0]
    assert shipment.status == "shipped" and not shipment.needs_attention and shipment.notices == []
    assert [e.status for e in shipment.events] == ["label_created", "delayed"]


def test_attempt_failed_and_pickup_notify_once_per_shipment_and_kind() -> None:
    order = shipped(new_order())
    at = PLACED + timedelta(days=4)
    scan(order, "out_for_delivery", at)
    before = _copy(order)
    order.carrier_update(TRACKING, CarrierEvent("attempt_failed", at + timedelta(hours=2), "e1"), "carrier")
    assert [m.key for m in milestones(before, order)] == ["attempt_failed:shp_2557"]
    again = _copy(order)
    order.carrier_update(TRACKING, CarrierEvent("attempt_failed", at + timedelta(days=1), "e2"), "carrier")
    assert milestones(again, order) == []  # the second failed attempt: no second message
    before_pickup = _copy(order)
    event = CarrierEvent("available_for_pickup", at + timedelta(days=1, hours=3), "e3", location="Kiosk Hauptstr. 5")
    order.carrier_update(TRACKING, event, "carrier")
    shipment = order.shipments[0]
    assert shipment.status == "available_for_pickup" and order.status == OrderStatus.OUT_FOR_DELIVERY
    assert [m.kind for m in milestones(before_pickup, order)] == ["available_for_pickup"]
    page = view(order)
    assert any(n.kind == "pickup" and "Kiosk Hauptstr. 5" in n.lines[0] for n in page.notices)
    assert page.shipments[0].status_label == "Zur Abholung bereit"
    scan(order, "delivered", at + timedelta(days=2))
    assert str(order.status) == "delivered"  # picked up


@pytest.mark.parametrize("status", ATTENTION_STATUSES)
def test_trouble_flags_needs_attention_and_escalates_once(status: str) -> None:
    order = shipped(new_order())
    before = _copy(order)
    at = PLACED + timedelta(days=4)
    order.carrier_update(TRACKING, CarrierEvent(status, at, "e1", detail="as the carrier says"), "carrier")
    shipment = order.shipments[0]
    assert shipment.needs_attention and shipment.attention_reason == status
    assert shipment.status == "shipped" and order.status == OrderStatus.SHIPPED
    assert [s.id for s in attention(before, order)] == [shipment.id]
    again = _copy(order)
    order.carrier_update(TRACKING, CarrierEvent("lost", at + timedelta(hours=1), "e2"), "carrier")
    assert attention(again, order) == [] and shipment.attention_reason == status  # once
    kinds = [e.kind for e in order.events]
    assert kinds.count("shipment_needs_attention") == 1
    assert shipment.events[0].detail == "as the carrier says"
    page = view(order)
    assert [n.kind for n in page.notices if n.kind == "problem"] == ["problem"]
    assert page.shipments[0].status_key == status


def _copy(order: Order) -> Order:
    import copy

    return copy.deepcopy(order)
