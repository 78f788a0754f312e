"""Inputs and races a review found: each must give a clear 4xx (never a 500) or the right outcome."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.webhooks import signature_header
from tests.functional.conftest import Api, order_body
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import PAYMENT_SECRET, carrier, pay, place, signed, staff
from tests.functional.test_sla import sweep


def test_hostile_inputs_get_4xx(api: Api) -> None:
    raw = b"{}"
    for header in ("t=" + "9" * 5000 + ",v1=00", "t=\u00b2,v1=00"):
        response = api.call("POST", "/v1/webhooks/carrier", raw=raw, headers={"X-OrderCare-Signature": header})
        assert response.status_code == 401
    assert api.call("GET", "/v1/orders?limit=%C2%B2", role="customer", sub="c").status_code == 422
    deep = b"[" * 50_000
    assert (
        api.call("POST", "/v1/orders", raw=deep, role="storefront", headers={"Idempotency-Key": "k"}).status_code == 400
    )
    long_id = "ord_" + "A" * 3000
    assert api.call("GET", f"/v1/orders/{long_id}/documents", role="customer", sub="c").status_code == 404


def test_carrier_times_are_bounded(api: Api) -> None:
    order = place(api)
    pay(api, order)
    staff(api, f"/v1/orders/{order['id']}/processing")
    staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-RV-1"})
    for moment in ("1969-12-31T00:00:00Z", "0001-01-01T00:00:00+01:00"):
        assert carrier(api, "TRK-RV-1", "in_transit", occurred_at=moment).status_code == 422
        assert carrier(api, "TRK-RV-1", "delayed", estimated_delivery=moment).status_code == 422


def test_replayed_full_refund_is_a_duplicate_not_an_error(api: Api) -> None:
    order = place(api)
    pay(api, order)
    event = {
        "event_id": "ref-full",
        "order_id": order["id"],
        "amount": order["total"],
        "provider_ref": "pi_1",
        "status": "refunded",
    }
    assert signed(api, "/v1/webhooks/payment", event, PAYMENT_SECRET).data["outcome"] == "applied"
    again = signed(api, "/v1/webhooks/payment", event, PAYMENT_SECRET)
    assert again.status_code == 200 and again.data["outcome"] == "duplicate"


def test_illegal_moves_are_reported_before_any_check(api: Api) -> None:
    order = place(api)
    staff(api, f"/v1/orders/{order['id']}/cancel")
    item = {"name": "Ceramic mug", "unit_price": 1, "currency": "EUR", "stock": 100, "tax_rate_bps": 1900}
    api.call("PUT", "/v1/catalog/MUG-1", item, role="admin")
    response = staff(api, f"/v1/orders/{order['id']}/processing")
    assert response.status_code == 409 and response.data["error"]["code"] == "illegal_transition"
    current = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data
    assert current["holds"] == []  # nothing was re-checked or saved


def test_an_sla_flag_bumps_the_version_instead_of_resetting_it(api: Api) -> None:
    tap = StreamTap("ordercare-test")
    order = place(api)
    pay(api, order)
    drain(tap)
    before = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["version"]
    sweep(datetime.now(UTC) + timedelta(days=10))
    after: dict[str, Any] = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data
    assert after["version"] > before and after["sla"]["shipping"] == "breached"


def test_ops_alerts_stay_off_the_customers_timeline(api: Api) -> None:
    tap = StreamTap("ordercare-test")
    order = place(api)
    pay(api, order)
    drain(tap)
    sweep(datetime.now(UTC) + timedelta(days=10))
    drain(tap)
    path = f"/v1/orders/{order['id']}/timeline?limit=100"
    staff_view = api.call("GET", path, role="agent", sub="a").data["items"]
    customer_view = api.call("GET", path, role="customer", sub="cus_alice").data["items"]
    assert any(str(e["data"].get("template", "")).startswith("ops_") for e in staff_view)
    assert not any(str(e["data"].get("template", "")).startswith("ops_") for e in customer_view)
    assert "ordercare-local-ops" not in json.dumps(customer_view)


def test_sms_inbound_malformed_is_400(api: Api) -> None:
    raw = b"{not json"
    header = signature_header("local-sms-inbound-secret", raw, int(time.time()))
    response = api.call("POST", "/v1/webhooks/sms-inbound", raw=raw, headers={"X-OrderCare-Signature": header})
    assert response.status_code == 400


def test_optional_idempotency_key_replays_state_changes(api: Api) -> None:
    order = place(api)
    pay(api, order)
    staff(api, f"/v1/orders/{order['id']}/processing")
    path = f"/v1/orders/{order['id']}/shipments"
    body = {"carrier": "dhl", "tracking_number": "TRK-IDEM-1"}
    key = {"Idempotency-Key": "ship-once"}
    first = api.call("POST", path, body, role="agent", sub="agt_1", headers=key)
    again = api.call("POST", path, body, role="agent", sub="agt_1", headers=key)
    assert first.status_code == again.status_code == 201 and again.data == first.data
    other = api.call("POST", path, {**body, "tracking_number": "TRK-IDEM-2"}, role="agent", sub="agt_1", headers=key)
    assert other.status_code == 409 and other.data["error"]["code"] == "idempotency_key_reused"
    cancel_key = {"Idempotency-Key": "cancel-once"}
    placed = place(api)
    first_cancel = api.call(
        "POST", f"/v1/orders/{placed['id']}/cancel", role="customer", sub="cus_alice", headers=cancel_key
    )
    second_cancel = api.call(
        "POST", f"/v1/orders/{placed['id']}/cancel", role="customer", sub="cus_alice", headers=cancel_key
    )
    assert first_cancel.status_code == second_cancel.status_code == 200


def test_smaller_gaps_from_the_reliability_review(api: Api) -> None:
    body = order_body(currency="XXX")
    headers = {"Idempotency-Key": "gap-currency"}
    refused = api.call("POST", "/v1/orders", body, role="storefront", sub="web", headers=headers)
    assert refused.status_code == 422 and "ISO 4217" in str(refused.data)
    huge = order_body(lines=[{"sku": "MUG-1", "quantity": 10_000, "unit_price": 10**8}])
    too_large = api.call("POST", "/v1/orders", huge, role="storefront", sub="web", headers={"Idempotency-Key": "gap-2"})
    assert too_large.status_code == 422 and too_large.data["error"]["code"] == "order_total_too_large"
    order = place(api)
    empty_sub = api.call("GET", f"/v1/orders/{order['id']}", role="customer", sub="")
    assert empty_sub.status_code == 401


def test_sms_inbound_checks_size_and_signature_before_parsing(api: Api) -> None:
    big = b'{"originationNumber": "+4915112345678", "messageBody": "' + b"x" * (70 * 1024) + b'"}'
    header = signature_header("local-sms-inbound-secret", big, int(time.time()))
    too_big = api.call("POST", "/v1/webhooks/sms-inbound", raw=big, headers={"X-OrderCare-Signature": header})
    assert too_big.status_code == 413
    unsigned_garbage = api.call("POST", "/v1/webhooks/sms-inbound", raw=b"{not json", headers={})
    assert unsigned_garbage.status_code == 401  # not 400: nothing unsigned is parsed
