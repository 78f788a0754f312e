"""Every carrier status through the signed webhook: recorded as reported, mapped onto the
shipment and the order, the customer told what to do next, operations told once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.domain.carriers import CARRIER_STATUSES
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import carrier, pay, place, staff
from tests.functional.test_notifications import emails, subjects


@pytest.fixture
def tap(api: Api) -> StreamTap:
    stream = StreamTap("ordercare-test")
    stream.new_records()  # the catalogue seeding is history
    return stream


def shipped(api: Api) -> tuple[dict[str, Any], str]:
    order = place(api)
    assert pay(api, order).status_code == 201
    tracking = f"CS{uuid.uuid4().hex[:12]}"
    assert (
        staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking}).status_code
        == 201
    )
    return order, tracking


def current(api: Api, order_id: str) -> dict[str, Any]:
    return api.call("GET", f"/v1/orders/{order_id}", role="agent", sub="agt_1").data  # type: ignore[no-any-return]


@pytest.mark.parametrize("status", list(CARRIER_STATUSES))
def test_every_status_is_accepted_and_kept_as_reported(api: Api, status: str) -> None:
    order, tracking = shipped(api)
    response = carrier(api, tracking, status, detail="Zusteller: Herr M.", location="Paketshop Hauptstr. 5")
    assert response.status_code == 200, response.data
    shipment = current(api, order["id"])["shipments"][0]
    event = shipment["events"][-1]
    assert (event["status"], event["detail"], event["location"]) == (
        status,
        "Zusteller: Herr M.",
        "Paketshop Hauptstr. 5",
    )
    rule = CARRIER_STATUSES[status]
    assert shipment["needs_attention"] is rule.attention
    assert shipment["status"] == (rule.progress or "shipped")


def test_unknown_status_and_overlong_detail_are_422(api: Api) -> None:
    _, tracking = shipped(api)
    assert carrier(api, tracking, "teleported").status_code == 422
    assert carrier(api, tracking, "in_transit", detail="x" * 501).status_code == 422


def test_failed_attempt_then_pickup_tell_the_customer_once_each(api: Api, tap: StreamTap) -> None:
    order, tracking = shipped(api)
    drain(tap)
    number = order["number"]
    carrier(api, tracking, "out_for_delivery")
    carrier(api, tracking, "attempt_failed")
    carrier(api, tracking, "attempt_failed")  # a second failed attempt: no second message
    carrier(api, tracking, "available_for_pickup", location="Paketshop Hauptstr. 5")
    drain(tap)
    assert subjects()[-3:] == [
        f"Bestellung {number} kommt heute",
        f"Bestellung {number}: Zustellversuch ohne Erfolg",
        f"Bestellung {number} liegt zur Abholung bereit",
    ]
    pickup = emails()[-1].get_body(preferencelist=("plain",)).get_content()
    assert "Paketshop Hauptstr. 5" in pickup and "Ausweis" in pickup
    assert current(api, order["id"])["status"] == "out_for_delivery"


def test_a_lost_parcel_needs_attention_and_operations_hear_once(api: Api, tap: StreamTap) -> None:
    order, tracking = shipped(api)
    drain(tap)
    carrier(api, tracking, "lost", detail="Sendung nicht auffindbar")
    carrier(api, tracking, "returned_to_sender")
    drain(tap)
    shipment = current(api, order["id"])["shipments"][0]
    assert shipment["needs_attention"] is True and shipment["attention_reason"] == "lost"
    ops = [s for s in subjects() if "needs" in s or "lost" in s]
    assert len(ops) == 1 and order["number"] in ops[0], subjects()
    items = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data["items"]
    assert [e["kind"] for e in items].count("shipment_needs_attention") == 1
    page = api.client.http.get(shipment_page(api, order["id"]))
    assert "Paket verloren" in page.body.decode()


def shipment_page(api: Api, order_id: str) -> str:
    url = str(current(api, order_id)["tracking_url"])
    return "/" + url.split("/", 3)[3]
