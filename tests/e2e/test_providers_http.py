"""End to end over HTTP on `make run`: paid by a Stripe-signed event, delivered by AfterShip-signed
events, and the storefront's webhook receiver (a real HTTP server on 127.0.0.1) hears about it, signed;
a parcel with no scan is flagged stalled by `make -s sweep AT=…` at its deadline, once."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from chalicelib.bootstrap import calendar_from
from chalicelib.domain.webhooks import verify_signature
from chalicelib.settings import Settings
from local.samples import order_body
from tests.e2e.test_make_run import REPO_ROOT, Stack, _free_ports, _kill, _request, _start, _token, _wait_healthy
from tests.provider_fixtures import aftership_request, aftership_update, payment_intent_succeeded, stripe_request

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("OC_API_PORT", "OC_DDB_PORT", "OC_AWS_PORT")
    running = _start(dict(zip(names, _free_ports(3), strict=True)), tmp_path_factory.mktemp("providers") / "run.log")
    try:
        _wait_healthy(running)
        yield running
    finally:
        _kill(running)


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def _post_raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    with urlopen(Request(url, data=body, method="POST", headers=headers), timeout=15) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def _until(check: Any, what: str, stack: Stack, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen within {timeout:.0f} s\n{stack.log_tail()}")


def test_paid_by_stripe_delivered_by_aftership_and_the_storefront_hears_it(stack: Stack, tmp_path: Path) -> None:
    receiver = Receiver()
    admin = {"Authorization": f"Bearer {_token(stack, 'admin', 'adm_1')}"}
    events = ["order.paid", "order.shipped", "order.out_for_delivery", "order.delivered"]
    status, subscription = _request(
        "POST", f"{stack.url}/v1/webhook-subscriptions", {"url": receiver.url, "events": events}, admin
    )
    assert status == 201, subscription
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}", "Idempotency-Key": str(uuid.uuid4())}
    status, order = _request("POST", f"{stack.url}/v1/orders", order_body(), storefront)
    assert status == 201, order

    body, headers = stripe_request(payment_intent_succeeded(order["id"], order["total"], order["currency"].lower()))
    assert _post_raw(f"{stack.url}/v1/webhooks/stripe", body, headers) == (
        200,
        {"received": True, "outcome": "applied"},
    )
    assert _post_raw(f"{stack.url}/v1/webhooks/stripe", body, headers)[1]["outcome"] == "duplicate"

    agent = {"Authorization": f"Bearer {_token(stack, 'agent', 'agt_1')}"}
    assert _request("POST", f"{stack.url}/v1/orders/{order['id']}/processing", None, agent)[0] == 200
    tracking = f"AS{uuid.uuid4().hex[:12].upper()}"
    shipment = {"carrier": "dhl", "tracking_number": tracking}
    assert _request("POST", f"{stack.url}/v1/orders/{order['id']}/shipments", shipment, agent)[0] == 201
    for tag in ("OutForDelivery", "Delivered"):
        raw, signed = aftership_request(aftership_update(tracking, tag))
        assert _post_raw(f"{stack.url}/v1/webhooks/aftership", raw, signed)[1]["outcome"] == "applied"

    read = _request("GET", f"{stack.url}/v1/orders/{order['id']}", headers=agent)[1]
    assert read["status"] == "delivered"
    documents = _until(
        lambda: (
            {
                d["kind"]
                for d in _request("GET", f"{stack.url}/v1/orders/{order['id']}/documents", headers=agent)[1]["items"]
            }
            >= {"invoice", "receipt"}
        ),
        "the invoice and receipt",
        stack,
    )
    assert documents
    received = _until(lambda: len(receiver.received) >= 4 and receiver.received, "four webhook deliveries", stack)
    types = []
    for headers_in, raw_event in received:
        verify_signature(headers_in["X-OrderCare-Signature"], raw_event, (subscription["secret"],), time.time())
        event = json.loads(raw_event)
        assert event["data"]["order_id"] == order["id"]
        types.append(event["type"])
    assert sorted(set(types)) == sorted(events)
    # Confirmation, receipt (with the invoice), shipped, out for delivery, delivered: every message sent.
    email = order_body()["customer"]["email"]
    _until(
        lambda: json.dumps(_request("GET", f"{stack.url}/local/outbox")[1]).count(email) >= 5,
        "five emails to the customer",
        stack,
    )


def test_returns_refunds_and_tickets_reach_the_storefront_from_the_real_stream(stack: Stack) -> None:
    """On DynamoDB Local's stream: a ticket and a return refunded through Stripe, each event once per id."""
    from tests.provider_fixtures import charge_refunded

    receiver = Receiver()
    admin = {"Authorization": f"Bearer {_token(stack, 'admin', 'adm_1')}"}
    events = ["return.updated", "refund.requested", "ticket.updated"]
    status, subscription = _request(
        "POST", f"{stack.url}/v1/webhook-subscriptions", {"url": receiver.url, "events": events}, admin
    )
    assert status == 201, subscription
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}", "Idempotency-Key": str(uuid.uuid4())}
    order = _request("POST", f"{stack.url}/v1/orders", order_body(), storefront)[1]
    pi = f"pi_{uuid.uuid4().hex[:24]}"
    body, headers = stripe_request(payment_intent_succeeded(order["id"], order["total"], pi=pi))
    assert _post_raw(f"{stack.url}/v1/webhooks/stripe", body, headers)[1]["outcome"] == "applied"
    agent = {"Authorization": f"Bearer {_token(stack, 'agent', 'agt_1')}"}
    customer = {"Authorization": f"Bearer {_token(stack, 'customer', 'cus_alice')}"}
    assert _request("POST", f"{stack.url}/v1/orders/{order['id']}/processing", None, agent)[0] == 200
    tracking = f"AS{uuid.uuid4().hex[:12].upper()}"
    shipment = {"carrier": "dhl", "tracking_number": tracking}
    assert _request("POST", f"{stack.url}/v1/orders/{order['id']}/shipments", shipment, agent)[0] == 201
    raw, signed = aftership_request(aftership_update(tracking, "Delivered"))
    assert _post_raw(f"{stack.url}/v1/webhooks/aftership", raw, signed)[1]["outcome"] == "applied"

    ticket_body = {"order_id": order["id"], "category": "damaged", "message": "The mug arrived cracked."}
    status, ticket = _request("POST", f"{stack.url}/v1/tickets", ticket_body, customer)
    assert status == 201, ticket
    messages = f"{stack.url}/v1/tickets/{ticket['id']}/messages"
    assert _request("POST", messages, {"message": "Secret: VIP customer", "internal": True}, agent)[0] == 201
    assert _request("POST", messages, {"message": "Sorry! Please send it back."}, agent)[0] == 201

    wanted = {"lines": [{"sku": "MUG-1", "quantity": 1}], "reason": "damaged", "resolution": "refund"}
    status, ret = _request("POST", f"{stack.url}/v1/orders/{order['id']}/returns", wanted, customer)
    assert status == 201, ret
    assert _request("POST", f"{stack.url}/v1/returns/{ret['id']}/approve", None, agent)[0] == 200
    status, received = _request("POST", f"{stack.url}/v1/returns/{ret['id']}/receive", None, agent)
    assert status == 200 and received["refund_amount"] > 0, received
    refund = charge_refunded(pi, [(f"re_{uuid.uuid4().hex[:12]}", received["refund_amount"])])
    body, headers = stripe_request(refund)
    assert _post_raw(f"{stack.url}/v1/webhooks/stripe", body, headers)[1]["outcome"] == "applied"
    _until(
        lambda: _request("GET", f"{stack.url}/v1/returns/{ret['id']}", headers=agent)[1]["status"] == "refunded",
        "the return refunded by Stripe's charge.refunded",
        stack,
    )
    _until(lambda: len(receiver.received) >= 7, "seven webhook deliveries", stack)
    time.sleep(3)  # anything more would be a duplicate
    found: dict[str, dict[str, Any]] = {}
    for headers_in, raw_event in receiver.received:
        verify_signature(headers_in["X-OrderCare-Signature"], raw_event, (subscription["secret"],), time.time())
        event = json.loads(raw_event)
        assert found.setdefault(event["id"], event) == event
        assert "VIP" not in raw_event.decode() and "cracked" not in raw_event.decode()  # no notes, no bodies
    by_type: dict[str, list[str]] = {}
    for event in found.values():
        by_type.setdefault(event["type"], []).append(str(event["data"].get("status", "")))
    assert sorted(by_type["ticket.updated"]) == ["acknowledged", "open"]
    assert sorted(by_type["return.updated"]) == ["approved", "received", "refunded", "requested"]
    assert len(by_type["refund.requested"]) == 1 and len(found) == 7  # a redelivery may repeat an id, never mint one


def _sweep(stack: Stack, at: datetime) -> dict[str, Any]:
    """`make -s sweep AT=…` against the running stack; the SLA job's summary."""
    result = subprocess.run(
        ["make", "-s", "sweep", f"AT={at.strftime('%Y-%m-%dT%H:%M:%SZ')}"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return dict(json.loads(result.stdout)["results"]["sla_sweep"]["result"]["sla"])


def test_a_silent_parcel_is_flagged_stalled_by_make_sweep(stack: Stack) -> None:
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}", "Idempotency-Key": str(uuid.uuid4())}
    status, order = _request("POST", f"{stack.url}/v1/orders", order_body(), storefront)
    assert status == 201, order
    payment = {"amount": order["total"], "method": "card", "provider_ref": f"pi_{uuid.uuid4().hex[:10]}"}
    storefront["Idempotency-Key"] = str(uuid.uuid4())
    assert _request("POST", f"{stack.url}/v1/orders/{order['id']}/payments", payment, storefront)[0] == 201
    agent = {"Authorization": f"Bearer {_token(stack, 'agent', 'agt_1')}"}
    tracking = f"ST{uuid.uuid4().hex[:12].upper()}"
    status, shipped = _request(
        "POST", f"{stack.url}/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking}, agent
    )
    assert status == 201, shipped
    # The stall deadline from the stack's own clock and calendar: the end of the 3rd business day.
    calendar = calendar_from(Settings())
    shipped_at = datetime.fromisoformat(shipped["shipments"][0]["shipped_at"].replace("Z", "+00:00"))
    deadline = calendar.end_of_day_utc(calendar.add_business_days(shipped_at.astimezone(calendar.zone).date(), 3))

    def shipment() -> dict[str, Any]:
        return dict(_request("GET", f"{stack.url}/v1/orders/{order['id']}", headers=agent)[1]["shipments"][0])

    def subjects() -> list[str]:
        return [e["subject"] for e in _request("GET", f"{stack.url}/local/outbox")[1]["emails"]]

    # Confirmation, receipt, shipped: the stream has handled the shipment (and armed its stall timer).
    _until(lambda: sum(order["number"] in s for s in subjects()) >= 3, "the shipment's stream effects", stack)
    assert _sweep(stack, deadline - timedelta(minutes=10)).get("stall:acted") is None
    assert shipment()["needs_attention"] is False
    assert _sweep(stack, deadline + timedelta(minutes=5)).get("stall:acted") == 1
    assert (shipment()["needs_attention"], shipment()["attention_reason"]) == (True, "stalled")
    assert _sweep(stack, deadline + timedelta(minutes=10)).get("stall:acted") is None  # once

    alerts = _until(lambda: [s for s in subjects() if tracking in s], "the operations alert", stack)
    assert len(alerts) == 1 and alerts[0].endswith("stalled")
    tickets = _until(
        lambda: [
            t
            for t in _request("GET", f"{stack.url}/v1/tickets?limit=100", headers=agent)[1]["items"]
            if t["order_id"] == order["id"]
        ],
        "the automatic ticket",
        stack,
    )
    assert [(t["category"], t["channel"]) for t in tickets] == [("delay", "system")]
    path = "/" + order["tracking_url"].split("/", 3)[3]
    with urlopen(f"{stack.url}{path}", timeout=15) as response:  # noqa: S310 - http://127.0.0.1
        page = response.read().decode()
    assert "Keine Nachricht vom Paketdienst" in page
