"""POST /v1/webhooks/stripe: Stripe's own events, verified by the official library, applied natively."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.functional.conftest import Api
from tests.functional.test_lifecycle_api import pay, place
from tests.provider_fixtures import (
    charge_refunded,
    payment_intent_failed,
    payment_intent_succeeded,
    refund_event,
    stripe_request,
    stripe_signature,
)

PATH = "/v1/webhooks/stripe"


def send(api: Api, payload: dict[str, Any], **signature: Any) -> Any:
    body, headers = stripe_request(payload, **signature)
    return api.call("POST", PATH, raw=body, headers=headers)


def order_of(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    response = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="agt_1")
    return response.data  # type: ignore[no-any-return]


def test_payment_intent_succeeded_pays_the_order_in_its_metadata(api: Api) -> None:
    order = place(api)
    event = payment_intent_succeeded(order["id"], order["total"], pi="pi_paid_1")
    response = send(api, event)
    assert response.status_code == 200 and response.data == {"received": True, "outcome": "applied"}
    paid = order_of(api, order)
    assert paid["status"] == "paid"
    assert send(api, event).data["outcome"] == "duplicate"  # Stripe redelivers: acknowledged, ignored
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data
    changes = [e for e in timeline["items"] if e["kind"] == "status_changed" and e["data"].get("to") == "paid"]
    assert len(changes) == 1 and changes[0]["data"]["provider_ref"] == "pi_paid_1"


def test_amount_or_currency_mismatch_holds_the_order_never_pays_it(api: Api) -> None:
    short = place(api)
    assert send(api, payment_intent_succeeded(short["id"], short["total"] - 1)).data["outcome"] == "payment_mismatch"
    held = order_of(api, short)
    assert held["status"] == "placed" and [h["code"] for h in held["holds"]] == ["payment_mismatch"]
    other_currency = place(api)
    event = payment_intent_succeeded(other_currency["id"], other_currency["total"], currency="usd")
    assert send(api, event).data["outcome"] == "payment_mismatch"
    assert order_of(api, other_currency)["status"] == "placed"


def test_unknown_order_and_other_types_are_acknowledged(api: Api) -> None:
    unknown = send(api, payment_intent_succeeded("ord_01JZZZZZZZZZZZZZZZZZZZZZZZ", 100))
    assert unknown.status_code == 200 and unknown.data["outcome"] == "unknown_order"
    no_metadata = payment_intent_succeeded("x", 100)
    no_metadata["data"]["object"]["metadata"] = {}
    assert send(api, no_metadata).data["outcome"] == "unknown_order"
    other = payment_intent_succeeded("x", 100)
    other["type"] = "customer.created"
    assert send(api, other).data["outcome"] == "ignored"


def test_payment_failed_goes_on_the_timeline_without_a_state_change(api: Api) -> None:
    order = place(api)
    response = send(api, payment_intent_failed(order["id"], order["total"], "pi_declined"))
    assert response.status_code == 200 and response.data["outcome"] == "recorded"
    assert order_of(api, order)["status"] == "placed"
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data
    failed = [e for e in timeline["items"] if e["kind"] == "payment_failed"]
    assert failed and failed[0]["data"]["reason"] == "card_declined"


def test_refunds_from_charge_refunded_and_refund_events_are_recorded_once(api: Api) -> None:
    order = place(api)
    pi = f"pi_{uuid.uuid4().hex[:20]}"
    assert send(api, payment_intent_succeeded(order["id"], order["total"], pi=pi)).data["outcome"] == "applied"
    # refund.created while pending: nothing yet; refund.updated when it succeeds: recorded.
    assert send(api, refund_event("refund.created", pi, "re_1", 500, "pending")).data["outcome"] == "ignored"
    assert send(api, refund_event("refund.updated", pi, "re_1", 500, "succeeded")).data["outcome"] == "applied"
    # charge.refunded lists every refund of the charge so far: re_1 again (duplicate) and a new re_2.
    outcome = send(api, charge_refunded(pi, [("re_1", 500), ("re_2", 300)])).data["outcome"]
    assert outcome == "duplicate,applied"
    refunded = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data
    amounts = sorted(e["data"]["amount"] for e in refunded["items"] if e["kind"] == "refunded")
    assert amounts == [300, 500]


def test_refund_finds_an_order_paid_through_the_storefront_api(api: Api) -> None:
    order = place(api)
    assert pay(api, order).status_code == 201  # provider_ref "pi_1"
    outcome = send(api, refund_event("refund.created", "pi_1", f"re_{uuid.uuid4().hex[:8]}", 100, "succeeded"))
    assert outcome.data["outcome"] == "applied"


def test_signatures_wrong_secret_stale_tampered_and_rotated(api: Api) -> None:
    order = place(api)
    event = payment_intent_succeeded(order["id"], order["total"])
    assert send(api, event, secret="whsec_wrong").status_code == 401
    assert send(api, event, at=int(time.time()) - 301).status_code == 401
    body, headers = stripe_request(event)
    tampered = body.replace(b'"livemode": false', b'"livemode": true')
    assert api.call("POST", PATH, raw=tampered, headers=headers).status_code == 401
    assert api.call("POST", PATH, raw=body, headers={"Content-Type": "application/json"}).status_code == 401
    garbage = api.call("POST", PATH, raw=body, headers={**headers, "Stripe-Signature": "t=abc,v1=zz"})
    assert garbage.status_code == 401 and garbage.data["error"]["code"] == "invalid_signature"
    assert send(api, event, extra=2).data["outcome"] == "applied"  # several v1 values: any may match


def test_rotated_secrets_are_all_accepted(api: Api, monkeypatch: Any) -> None:
    from chalicelib.bootstrap import reset_container

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_new,whsec_local_stripe_webhook_secret")
    reset_container()
    order = place(api)
    old = send(api, payment_intent_succeeded(order["id"], order["total"]))
    assert old.data["outcome"] == "applied"
    second = place(api)
    assert send(api, payment_intent_succeeded(second["id"], second["total"]), secret="whsec_new").status_code == 200


def test_a_verified_body_that_is_not_an_event_is_422(api: Api) -> None:
    body, headers = stripe_request({"hello": "world"})
    response = api.call("POST", PATH, raw=body, headers=headers)
    assert response.status_code == 422


def test_a_verified_body_that_is_json_but_no_object_is_422_and_one_that_is_no_json_400(api: Api) -> None:
    # The library's construct_event raised AttributeError on `[1, 2, 3]`: a 500 for a signed body.
    for raw, status in ((b"[1, 2, 3]", 422), (b"null", 422), (b"7", 422), (b'"s"', 422), (b"{not json", 400)):
        headers = {"Stripe-Signature": stripe_signature(raw), "Content-Type": "application/json"}
        response = api.call("POST", PATH, raw=raw, headers=headers)
        assert response.status_code == status, raw
        assert response.data["error"]["code"] == ("malformed_json" if status == 400 else "validation_error")


def _awaiting_refund(api: Api) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """A delivered order (paid with PaymentIntent `pi_1`) with one return received, awaiting 1427."""
    from tests.functional.stream_tools import StreamTap, drain
    from tests.functional.test_returns_api import act, delivered_order, request_return

    tap = StreamTap("ordercare-test")
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    act(api, ret["id"], "approve")
    assert act(api, ret["id"], "receive").data["refund_amount"] == 1427
    drain(tap)
    return order, ret, tap


def _return(api: Api, ret: dict[str, Any]) -> dict[str, Any]:
    return api.call("GET", f"/v1/returns/{ret['id']}", role="agent", sub="agt_1").data  # type: ignore[no-any-return]


def _credit_notes(api: Api, order: dict[str, Any]) -> list[dict[str, Any]]:
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent", sub="a").data["items"]
    return [d for d in documents if d["kind"] == "credit_note"]


def test_a_stripe_refund_of_the_amount_marks_the_awaiting_return_refunded(api: Api) -> None:
    from tests.functional.stream_tools import drain

    order, ret, tap = _awaiting_refund(api)
    event = charge_refunded("pi_1", [("re_return_1", 1427)])  # matched through the PaymentIntent
    assert send(api, event).data["outcome"] == "applied"
    drain(tap)
    final = _return(api, ret)
    assert final["status"] == "refunded" and final["refunded_amount"] == 1427 and final["holds"] == []
    assert [n["total"] for n in _credit_notes(api, order)] == [-1427]  # the return's note; no second one
    assert send(api, refund_event("refund.updated", "pi_1", "re_return_1", 1427, "succeeded")).data["outcome"] == (
        "duplicate"
    )
    drain(tap)
    assert _return(api, ret)["status"] == "refunded" and len(_credit_notes(api, order)) == 1


def test_a_stripe_refund_found_by_metadata_of_another_amount_is_held_for_an_agent(api: Api) -> None:
    from tests.functional.stream_tools import drain

    order, ret, tap = _awaiting_refund(api)
    event = refund_event("refund.created", "pi_unknown_to_us", "re_short_1", 1000, "succeeded")
    event["data"]["object"]["metadata"] = {"order_id": order["id"]}  # no stored PaymentIntent: the metadata
    assert send(api, event).data["outcome"] == "applied"
    drain(tap)
    held = _return(api, ret)
    assert held["status"] == "received" and [h["code"] for h in held["holds"]] == ["refund_mismatch"]
    assert held["holds"][0]["data"] == {"event_id": "stripe:re_short_1", "expected": 1427, "received": 1000}
    assert [n["total"] for n in _credit_notes(api, order)] == [-1427]  # the return's; the held money has none yet
