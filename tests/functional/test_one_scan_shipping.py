"""One scan ships a paid order (the processing step runs first, in the same change), and
releasing a hold needs a reason."""

from __future__ import annotations

import uuid
from typing import Any

from tests.functional.conftest import CATALOG, Api
from tests.functional.test_lifecycle_api import pay, place, staff


def timeline(api: Api, order_id: str) -> list[str]:
    items = api.call("GET", f"/v1/orders/{order_id}/timeline?limit=100", role="agent", sub="agt_1").data["items"]
    return [e["data"]["from"] + "→" + e["data"]["to"] if e["kind"] == "status_changed" else e["kind"] for e in items]


def ship(api: Api, order: dict[str, Any]) -> Any:
    body = {"carrier": "dhl", "tracking_number": f"ONE{uuid.uuid4().hex[:12]}"}
    return staff(api, f"/v1/orders/{order['id']}/shipments", body)


def test_a_paid_order_ships_in_one_scan_and_the_timeline_has_both_steps(api: Api) -> None:
    order = place(api)
    assert pay(api, order).status_code == 201
    response = ship(api, order)
    assert response.status_code == 201, response.data
    assert response.data["status"] == "shipped" and response.data["processing_at"] is not None
    assert response.data["version"] == 3  # placed 1, paid 2, processed and shipped in one change: 3
    story = timeline(api, order["id"])
    assert story[story.index("placed→paid") :] == [
        "placed→paid",
        "paid→processing",
        "processing→shipped",
        "shipment_created",
    ]


def test_one_scan_on_a_paid_order_that_fails_the_recheck_puts_it_on_hold(api: Api) -> None:
    order = place(api)
    assert pay(api, order).status_code == 201
    repriced = {**CATALOG["MUG-1"], "unit_price": 1499}  # the catalogue changed since the order was placed
    assert api.call("PUT", "/v1/catalog/MUG-1", repriced, role="admin").status_code == 200
    response = ship(api, order)
    assert response.status_code == 409, response.data
    assert response.data["error"]["code"] == "order_on_hold"
    assert [d["code"] for d in response.data["error"]["details"]] == ["price_mismatch"]
    current = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="agt_1").data
    assert current["status"] == "paid" and [h["code"] for h in current["holds"]] == ["price_mismatch"]
    assert current["shipments"] == [] and "hold_added" in timeline(api, order["id"])
    # Released with a reason, the next scan ships it.
    release = staff(api, f"/v1/orders/{order['id']}/holds/price_mismatch/release", {"reason": "old price honoured"})
    assert release.status_code == 200, release.data
    assert ship(api, order).status_code == 201


def test_shipping_an_unpaid_order_is_still_refused(api: Api) -> None:
    order = place(api)
    response = ship(api, order)
    assert response.status_code == 409 and response.data["error"]["details"][0]["current_status"] == "placed"


def test_releasing_a_hold_requires_a_reason(api: Api) -> None:
    order = place(api, lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 999}])
    path = f"/v1/orders/{order['id']}/holds/price_mismatch/release"
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"why": "x"}):
        response = staff(api, path, body)
        assert response.status_code == 422, (body, response.data)
        assert "reason" in str(response.data["error"]["details"]), response.data
    spec = api.call("GET", "/openapi.json").data
    schema_ref = spec["paths"]["/v1/orders/{order_id}/holds/{code}/release"]["post"]["requestBody"]
    assert schema_ref["required"] is True
    assert staff(api, path, {"reason": "agreed with the customer"}).status_code == 200
