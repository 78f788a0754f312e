"""Payments, cancellation, holds, processing, shipments, webhooks and the timeline, via HTTP."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.api.schemas import OrderOut, TimelineOut
from chalicelib.domain.webhooks import signature_header
from tests import clock
from tests.functional.conftest import Api, order_body

CARRIER_SECRET = "local-carrier-webhook-secret"
PAYMENT_SECRET = "local-payment-webhook-secret"


def place(api: Api, **overrides: Any) -> dict[str, Any]:
    response = api.call(
        "POST",
        "/v1/orders",
        order_body(**overrides),
        role="storefront",
        sub="web",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.data
    return response.data  # type: ignore[no-any-return]


def pay(api: Api, order: dict[str, Any], amount: int | None = None, key: str | None = None) -> Any:
    body = {"amount": order["total"] if amount is None else amount, "method": "card", "provider_ref": "pi_1"}
    return api.call(
        "POST",
        f"/v1/orders/{order['id']}/payments",
        body,
        role="storefront",
        sub="web",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def staff(api: Api, path: str, body: Any = None) -> Any:
    return api.call("POST", path, body, role="agent", sub="agt_1")


def signed(api: Api, path: str, payload: dict[str, Any], secret: str, *, at: int | None = None) -> Any:
    raw = json.dumps(payload).encode()
    header = signature_header(secret, raw, at if at is not None else int(time.time()))
    return api.call("POST", path, raw=raw, headers={"X-OrderCare-Signature": header})


def carrier(api: Api, tracking: str, status: str, **extra: Any) -> Any:
    """A carrier reports a scan as it happens: the clock moves on to `occurred_at` first
    (a scan in the past — a late or back-dated report — leaves the clock where it is)."""
    occurred_at = extra.pop("occurred_at", None) or clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.advance_to(occurred_at)
    payload = {
        "event_id": extra.pop("event_id", str(uuid.uuid4())),
        "tracking_number": tracking,
        "status": status,
        "occurred_at": occurred_at,
        **extra,
    }
    return signed(api, "/v1/webhooks/carrier", payload, CARRIER_SECRET)


def processing_order(api: Api, **overrides: Any) -> dict[str, Any]:
    order = place(api, **overrides)
    assert pay(api, order).status_code == 201
    response = staff(api, f"/v1/orders/{order['id']}/processing")
    assert response.status_code == 200, response.data
    return response.data  # type: ignore[no-any-return]


def test_payment_marks_paid_and_replays_by_key(api: Api) -> None:
    order = place(api)
    key = str(uuid.uuid4())
    first = pay(api, order, key=key)
    assert first.status_code == 201, first.data
    paid = OrderOut.model_validate(first.data)
    assert paid.status == "paid" and paid.paid_at and paid.version == 2
    assert [p.amount for p in paid.payments] == [order["total"]]
    again = pay(api, order, key=key)
    assert again.status_code == 201 and again.data == first.data
    other_key = pay(api, order)
    assert other_key.status_code == 409 and other_key.data["error"]["code"] == "illegal_transition"
    assert other_key.data["error"]["details"][0]["current_status"] == "paid"


def test_payment_amount_must_equal_total(api: Api) -> None:
    order = place(api)
    response = pay(api, order, amount=order["total"] - 1)
    assert response.status_code == 422 and response.data["error"]["code"] == "amount_mismatch"
    assert pay(api, order, key=None).status_code == 201


def test_payment_requires_key_and_storefront(api: Api) -> None:
    order = place(api)
    body = {"amount": order["total"], "method": "card", "provider_ref": "x"}
    assert api.call("POST", f"/v1/orders/{order['id']}/payments", body, role="storefront").status_code == 422
    assert (
        api.call(
            "POST", f"/v1/orders/{order['id']}/payments", body, role="agent", headers={"Idempotency-Key": "k"}
        ).status_code
        == 403
    )


def test_customer_cancels_own_order_but_not_others(api: Api) -> None:
    order = place(api)
    path = f"/v1/orders/{order['id']}/cancel"
    assert api.call("POST", path, role="customer", sub="cus_mallory").status_code == 404
    response = api.call("POST", path, {"reason": "changed my mind"}, role="customer", sub="cus_alice")
    assert response.status_code == 200 and response.data["status"] == "cancelled"
    again = api.call("POST", path, role="customer", sub="cus_alice")
    assert again.status_code == 409 and again.data["error"]["details"][0]["current_status"] == "cancelled"


def test_processing_rechecks_and_holds_block_until_released(api: Api) -> None:
    order = place(api, lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 999}])
    assert [h["code"] for h in order["holds"]] == ["price_mismatch"]
    assert pay(api, order).status_code == 201
    blocked = staff(api, f"/v1/orders/{order['id']}/processing")
    assert blocked.status_code == 409 and blocked.data["error"]["code"] == "order_on_hold"
    missing = staff(api, f"/v1/orders/{order['id']}/holds/insufficient_stock/release", {"reason": "x"})
    assert missing.status_code == 404
    no_reason = staff(api, f"/v1/orders/{order['id']}/holds/price_mismatch/release", {})
    assert no_reason.status_code == 422
    released = staff(api, f"/v1/orders/{order['id']}/holds/price_mismatch/release", {"reason": "promo price agreed"})
    assert released.status_code == 200 and released.data["holds"] == []
    # The waiver sticks: the re-check at processing does not raise the same hold again.
    processing = staff(api, f"/v1/orders/{order['id']}/processing")
    assert processing.status_code == 200 and processing.data["status"] == "processing"
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data
    release = next(e for e in timeline["items"] if e["kind"] == "hold_released")
    assert release["actor"] == "agent:agt_1" and release["data"]["reason"] == "promo price agreed"


def test_processing_puts_restock_problems_on_hold(api: Api) -> None:
    order = place(api, lines=[{"sku": "BOOK-1", "quantity": 5, "unit_price": 2500}])
    assert pay(api, order).status_code == 201
    item = {"name": "Cookbook", "unit_price": 2500, "currency": "EUR", "stock": 2, "tax_rate_bps": 700}
    assert api.call("PUT", "/v1/catalog/BOOK-1", item, role="admin").status_code == 200
    response = staff(api, f"/v1/orders/{order['id']}/processing")
    assert response.status_code == 409
    current = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data
    assert [h["code"] for h in current["holds"]] == ["insufficient_stock"] and current["status"] == "paid"


def test_partial_then_full_shipment_decrements_stock_once(api: Api) -> None:
    order = processing_order(api, lines=[{"sku": "MUG-1", "quantity": 3, "unit_price": 1299}])
    path = f"/v1/orders/{order['id']}/shipments"
    first = staff(
        api, path, {"carrier": "DHL", "tracking_number": "TRK-A1", "lines": [{"sku": "MUG-1", "quantity": 1}]}
    )
    assert first.status_code == 201, first.data
    assert first.data["status"] == "partially_shipped" and first.data["shipped_at"] is None
    too_many = staff(
        api, path, {"carrier": "dhl", "tracking_number": "TRK-A2", "lines": [{"sku": "MUG-1", "quantity": 3}]}
    )
    assert too_many.status_code == 422 and too_many.data["error"]["code"] == "over_shipment"
    reused = staff(api, path, {"carrier": "dhl", "tracking_number": "TRK-A1"})
    assert reused.status_code == 409 and reused.data["error"]["code"] == "tracking_number_in_use"
    rest = staff(api, path, {"carrier": "dhl", "tracking_number": "TRK-A2"})
    assert rest.status_code == 201 and rest.data["status"] == "shipped"
    shipped = OrderOut.model_validate(rest.data)
    assert [s.lines[0]["quantity"] for s in shipped.shipments] == [1, 2]
    assert shipped.shipments[0].tracking_link and "TRK-A1" in shipped.shipments[0].tracking_link
    assert shipped.ship_by_met is True and shipped.shipped_at
    assert api.call("GET", "/v1/catalog/MUG-1", role="admin").data["stock"] == 97
    nothing = staff(api, path, {"carrier": "dhl", "tracking_number": "TRK-A3"})
    assert nothing.status_code == 409


def test_cannot_ship_cancelled_placed_or_held_orders(api: Api) -> None:
    placed = place(api)
    assert (
        staff(api, f"/v1/orders/{placed['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-B1"}).status_code
        == 409
    )
    cancelled = place(api)
    staff(api, f"/v1/orders/{cancelled['id']}/cancel")
    response = staff(api, f"/v1/orders/{cancelled['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-B2"})
    assert response.status_code == 409 and response.data["error"]["details"][0]["current_status"] == "cancelled"


def test_shipment_refused_when_stock_ran_out_and_order_held(api: Api) -> None:
    order = processing_order(api, lines=[{"sku": "BOOK-1", "quantity": 5, "unit_price": 2500}])
    item = {"name": "Cookbook", "unit_price": 2500, "currency": "EUR", "stock": 4, "tax_rate_bps": 700}
    api.call("PUT", "/v1/catalog/BOOK-1", item, role="admin")
    response = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-C1"})
    assert response.status_code == 409 and response.data["error"]["code"] == "insufficient_stock"
    current = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data
    assert current["status"] == "processing" and [h["code"] for h in current["holds"]] == ["insufficient_stock"]
    assert api.call("GET", "/v1/catalog/BOOK-1", role="admin").data["stock"] == 4


def test_carrier_events_drive_the_order_to_delivered(api: Api) -> None:
    order = processing_order(api)
    staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-D1"})
    assert carrier(api, "TRK-D1", "in_transit").data == {"received": True, "outcome": "applied"}
    delayed = carrier(api, "TRK-D1", "delayed", estimated_delivery="2026-12-20T12:00:00Z")
    assert delayed.status_code == 200
    ofd = carrier(api, "TRK-D1", "out_for_delivery", occurred_at="2026-12-01T08:00:00Z")
    assert ofd.status_code == 200
    current = api.call("GET", f"/v1/orders/{order['id']}", role="customer", sub="cus_alice").data
    assert current["status"] == "out_for_delivery" and current["revised_deliver_by"] == "2026-12-20T12:00:00Z"
    event_id = str(uuid.uuid4())
    delivered = carrier(api, "TRK-D1", "delivered", event_id=event_id, occurred_at="2026-12-01T15:00:00Z")
    assert delivered.data["outcome"] == "applied"
    replay = carrier(api, "TRK-D1", "delivered", event_id=event_id, occurred_at="2026-12-01T15:00:00Z")
    assert replay.status_code == 200 and replay.data["outcome"] == "duplicate"
    late_scan = carrier(api, "TRK-D1", "in_transit", occurred_at="2026-11-30T09:00:00Z")
    assert late_scan.status_code == 200
    final = OrderOut.model_validate(api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data)
    assert final.status == "delivered" and final.delivered_at == "2026-12-01T15:00:00Z"
    assert final.shipments[0].status == "delivered"
    timeline = TimelineOut.model_validate(
        api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="customer", sub="cus_alice").data
    )
    kinds = [entry.kind for entry in timeline.items]
    assert kinds[0] == "placed" and kinds.count("carrier_event") == 5
    statuses = [e.data["to"] for e in timeline.items if e.kind == "status_changed"]
    assert statuses == ["paid", "processing", "shipped", "out_for_delivery", "delivered"]


def test_a_scan_dated_before_the_shipment_never_makes_delivery_precede_shipping(api: Api) -> None:
    order = processing_order(api)
    clock.advance_to("2026-11-30T12:00:00Z")
    shipped = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-G1"})
    shipped_at = shipped.data["shipments"][0]["shipped_at"]
    assert carrier(api, "TRK-G1", "delivered", occurred_at="2026-11-30T09:00:00Z").data["outcome"] == "applied"
    final = OrderOut.model_validate(api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data)
    assert final.status == "delivered" and final.delivered_at == shipped_at
    assert final.shipped_at is not None and final.delivered_at is not None
    assert final.delivered_at >= final.shipped_at
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data
    scan = next(entry for entry in timeline["items"] if entry["kind"] == "carrier_event")
    assert scan["data"]["occurred_at"] == "2026-11-30T09:00:00Z"  # the carrier's time, as reported
    assert scan["at"] == shipped_at


def test_a_scan_from_the_future_is_refused(api: Api) -> None:
    order = processing_order(api)
    staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-G2"})
    clock.stop()  # exact to the second: a busy machine must not move the clock between here and the check
    ahead = (clock.now() + timedelta(seconds=302)).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {"event_id": "fut-1", "tracking_number": "TRK-G2", "status": "delivered", "occurred_at": ahead}
    response = signed(api, "/v1/webhooks/carrier", payload, CARRIER_SECRET)
    assert response.status_code == 422 and response.data["error"]["code"] == "occurred_at_in_future"
    assert api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["status"] == "shipped"
    within = (clock.now() + timedelta(seconds=250)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = signed(
        api, "/v1/webhooks/carrier", {**payload, "event_id": "fut-2", "occurred_at": within}, CARRIER_SECRET
    )
    assert response.data["outcome"] == "applied"


def test_delivery_waits_for_every_shipment(api: Api) -> None:
    order = processing_order(api, lines=[{"sku": "MUG-1", "quantity": 2, "unit_price": 1299}])
    path = f"/v1/orders/{order['id']}/shipments"
    staff(api, path, {"carrier": "dpd", "tracking_number": "TRK-E1", "lines": [{"sku": "MUG-1", "quantity": 1}]})
    carrier(api, "TRK-E1", "delivered")
    assert api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["status"] == "partially_shipped"
    staff(api, path, {"carrier": "dpd", "tracking_number": "TRK-E2"})
    carrier(api, "TRK-E2", "delivered")
    assert api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["status"] == "delivered"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("t=1,v1=00", "stale"),
        ("garbage", "malformed"),
        ("{future}", "future"),
        ("{wrong}", "wrong secret"),
    ],
)
def test_carrier_webhook_rejects_bad_signatures(api: Api, header: str | None, why: str) -> None:
    raw = json.dumps(
        {
            "event_id": "e1",
            "tracking_number": "X1",
            "status": "in_transit",
            "occurred_at": "2026-11-30T10:00:00Z",
        }
    ).encode()
    now = int(time.time())
    if header == "{future}":
        header = signature_header(CARRIER_SECRET, raw, now + 301)
    elif header == "{wrong}":
        header = signature_header("another-secret", raw, now)
    headers = {"X-OrderCare-Signature": header} if header else {}
    response = api.call("POST", "/v1/webhooks/carrier", raw=raw, headers=headers)
    assert response.status_code == 401, why
    assert response.data["error"]["code"] == "invalid_signature"


def test_webhook_secrets_rotate(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.bootstrap import reset_container

    order = processing_order(api)
    staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-F1"})
    monkeypatch.setenv("CARRIER_WEBHOOK_SECRET", f"new-secret,{CARRIER_SECRET}")
    reset_container()
    payload = {
        "event_id": "rot-1",
        "tracking_number": "TRK-F1",
        "status": "in_transit",
        "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert signed(api, "/v1/webhooks/carrier", payload, "new-secret").status_code == 200
    assert signed(api, "/v1/webhooks/carrier", {**payload, "event_id": "rot-2"}, CARRIER_SECRET).status_code == 200
    assert signed(api, "/v1/webhooks/carrier", {**payload, "event_id": "rot-3"}, "retired").status_code == 401


def test_unknown_tracking_number_is_404(api: Api) -> None:
    response = carrier(api, "NOPE-404", "in_transit")
    assert response.status_code == 404 and response.data["error"]["code"] == "unknown_tracking_number"


def test_payment_webhook_pays_refunds_and_ignores_replays(api: Api) -> None:
    order = place(api)
    event = {
        "event_id": "pay-1",
        "order_id": order["id"],
        "amount": order["total"],
        "provider_ref": "pi_9",
        "status": "succeeded",
    }
    assert signed(api, "/v1/webhooks/payment", event, PAYMENT_SECRET).data["outcome"] == "applied"
    assert signed(api, "/v1/webhooks/payment", event, PAYMENT_SECRET).data["outcome"] == "duplicate"
    again = {**event, "event_id": "pay-2"}
    assert signed(api, "/v1/webhooks/payment", again, PAYMENT_SECRET).data["outcome"] == "already_recorded"
    refund = {**event, "event_id": "ref-1", "status": "refunded", "amount": 500}
    assert signed(api, "/v1/webhooks/payment", refund, PAYMENT_SECRET).status_code == 200
    too_much = {**event, "event_id": "ref-2", "status": "refunded", "amount": order["total"]}
    assert signed(api, "/v1/webhooks/payment", too_much, PAYMENT_SECRET).status_code == 422
    current = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data
    assert current["status"] == "paid" and [r["amount"] for r in current["refunds"]] == [500]
    unknown = {**event, "event_id": "pay-3", "order_id": "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"}
    assert signed(api, "/v1/webhooks/payment", unknown, PAYMENT_SECRET).status_code == 404


def test_timeline_is_private_and_paginates(api: Api) -> None:
    order = processing_order(api)
    path = f"/v1/orders/{order['id']}/timeline"
    assert api.call("GET", path, role="customer", sub="cus_mallory").status_code == 404
    assert api.call("GET", path, role="storefront", sub="web").status_code == 403
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=1&cursor={cursor}" if cursor else "?limit=1"
        page = api.call("GET", path + query, role="customer", sub="cus_alice")
        assert page.status_code == 200, page.data
        seen += [entry["kind"] for entry in page.data["items"]]
        cursor = page.data["next_cursor"]
        if not cursor:
            break
        # A cursor issued to Alice does not let Mallory continue her timeline.
        assert api.call("GET", f"{path}?cursor={cursor}", role="customer", sub="cus_mallory").status_code == 422
    assert seen == ["placed", "status_changed", "status_changed"]
