"""DynamoDB round trips per API request (bar: reads 1, writes <= 2 incl. idempotency).

Counted at botocore's API-call layer (every client, pynamodb's included) while
the real app serves requests through chalice.test.Client against moto. Each
route is measured warm, as a Lambda container serves it after its first call.
A read route (GET) is held to its reads; a write route (any other method) to every
round trip it makes, reads included: the order it reads is part of the request's cost.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from typing import Any

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@contextmanager
def counting() -> Iterator[Counter[str]]:
    from botocore.client import BaseClient

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls[operation] += 1
        return original(self, operation, params)

    BaseClient._make_api_call = counted
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original


def _order_body(customer_id: str = "cus_bench") -> dict[str, Any]:
    from local.samples import order_body

    email = "bench@example.com" if customer_id == "cus_bench" else f"{customer_id}@example.com"
    customer = {"id": customer_id, "email": email, "name": "Bench", "locale": "de-DE"}
    return order_body(customer=customer, discounts=[])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _signed(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A body signed as every native webhook is (`X-OrderCare-Signature: t=…,v1=…`)."""
    from chalicelib.domain.webhooks import signature_header

    raw = json.dumps(payload).encode()
    return raw, {"X-OrderCare-Signature": signature_header(secret, raw, int(time.time()))}


def _stripe_payment(secret: str, order_id: str, amount: int) -> tuple[bytes, dict[str, str]]:
    """`payment_intent.succeeded` as Stripe sends it, signed with `Stripe-Signature` (the same t=…,v1=… HMAC)."""
    from chalicelib.domain.webhooks import signature_header

    intent = f"pi_{uuid.uuid4().hex[:24]}"
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": "eur",
                "latest_charge": f"ch_{intent[3:]}",
                "metadata": {"order_id": order_id},
                "status": "succeeded",
            }
        },
    }
    raw = json.dumps(event).encode()
    return raw, {"Stripe-Signature": signature_header(secret, raw, int(time.time()))}


def _aftership_update(secret: str, tracking_number: str, tag: str) -> tuple[bytes, dict[str, str]]:
    """A `tracking_update` as AfterShip sends it, signed with `aftership-hmac-sha256` (base64 HMAC of the body)."""
    import base64
    import hashlib
    import hmac

    scanned = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))
    checkpoint = {"slug": "dhl", "location": "Berlin, DE", "tag": tag, "subtag": f"{tag}_001"}
    payload = {
        "event": "tracking_update",
        "event_id": str(uuid.uuid4()),
        "msg": {
            "id": uuid.uuid4().hex[:24],
            "tracking_number": tracking_number,
            "slug": "dhl",
            "tag": tag,
            "subtag": f"{tag}_001",
            "checkpoints": [{**checkpoint, "message": f"Parcel status {tag}", "checkpoint_time": scanned}],
        },
        "ts": int(time.time()),
    }
    raw = json.dumps(payload).encode()
    mac = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return raw, {"aftership-hmac-sha256": mac}


class _Browser:
    """A cookie-keeping browser over chalice.test.Client: the portal's pages as a customer's browser sees them."""

    def __init__(self, client: Any, results: list[tuple[str, Counter[str]]]):
        self.client, self.results = client, results
        self.jar: dict[str, str] = {}

    def visit(
        self,
        name: str | None,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        bearer: str | None = None,
        status: int | None = None,
    ) -> tuple[Any, str]:
        from urllib.parse import urlencode

        all_headers = {"Accept-Language": "en"}
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        if self.jar:
            all_headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in self.jar.items())
        if form is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form).encode() if form is not None else b""
        with counting() as calls:
            response = self.client.http.request(method, path, headers=all_headers, body=body)
        assert response.status_code < 400, (name or path, response.status_code, response.body[:300])
        assert status in (None, response.status_code), (name or path, response.status_code, status)
        cookies = response.headers.get("Set-Cookie") or []
        for cookie in cookies if isinstance(cookies, list) else [cookies]:
            key, _, value = cookie.split(";", 1)[0].partition("=")
            if "Max-Age=0" in cookie or not value:
                self.jar.pop(key, None)
            else:
                self.jar[key] = value
        if name:
            self.results.append((name, calls))
        return response, response.body.decode() if response.body else ""

    def warm_get(self, name: str, path: str, bearer: str | None = None, status: int | None = None) -> str:
        """A GET measured on its second visit, as a warm container serves it."""
        self.visit(None, "GET", path, bearer=bearer)
        return self.visit(name, "GET", path, bearer=bearer, status=status)[1]


def _field(html: str, name: str) -> str:
    import re

    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


def _issue_documents(settings: Any, order_id: str) -> None:
    """The mail sender and the documents bucket, and the paid order's invoice and receipt."""
    import boto3

    from chalicelib.bootstrap import get_container

    boto3.client("ses").verify_email_identity(EmailAddress=settings.sender_email)
    boto3.client("s3").create_bucket(
        Bucket=settings.documents_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    container = get_container()
    order = container.orders.orders.get(order_id)
    assert order is not None
    container.documents.issue_for_payment(order)  # what the documents lane issues for a paid order


def _survey_tokens(orders: list[dict[str, Any]]) -> list[str]:
    """Delivery surveys for these orders, scheduled and sent by the feedback schedule; their links' tokens."""
    from datetime import timedelta

    from chalicelib.bootstrap import get_container
    from chalicelib.domain.surveys import survey_token

    container = get_container()
    surveys, now = container.surveys, container.clock.now()
    for placed in orders:
        order = container.orders.get(placed["id"])
        assert surveys.schedule("delivery", order.id, order, now - timedelta(minutes=1))
    assert surveys.dispatch(now).get("sent") == len(orders), "the surveys were not sent"
    secret, days = surveys.secrets()[0], surveys.config.token_days
    return [
        survey_token("delivery", placed["id"], placed["customer"]["email"], secret, now=time.time(), days=days)
        for placed in orders
    ]


@dataclass(frozen=True)
class _DeskWork:
    """What the desk's forms act on: an order with a ticket and two requested returns."""

    order_id: str
    ticket_id: str
    approve_id: str  # approved, then received
    reject_id: str


def _html_page_round_trips(
    client: Any, tokens: dict[str, str], settings: Any, order_id: str, desk: _DeskWork
) -> list[Any]:
    """The HTML pages: the customer portal signed in for real (the emailed code), the KPI dashboard, the desk."""
    import re

    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from chalicelib.bootstrap import get_container

    order = get_container().orders.orders.get(order_id)
    assert order is not None

    results: list[tuple[str, Counter[str]]] = []
    browser = _Browser(client, results)
    email = order.customer.email
    form = browser.warm_get("GET /account (signed out)", "/account")
    csrf = _field(form, "csrf_token")  # bound to the pre-session cookie: the code form takes it too
    browser.visit("POST /account/sign-in", "POST", "/account/sign-in", {"email": email, "csrf_token": csrf})
    mail = ses_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].sent_messages[-1]
    code = re.search(r"\b(\d{6})\b", str(getattr(mail, "raw_data", "")))
    assert code, "no sign-in code emailed"
    verify = {"email": email, "code": code.group(1), "csrf_token": csrf}
    browser.visit("POST /account/verify", "POST", "/account/verify", verify)
    assert any("oc_session" in name for name in browser.jar), "the code did not sign in"

    browser.warm_get("GET /account (signed in)", "/account")
    browser.warm_get("GET /account/orders", "/account/orders")
    order_page = browser.warm_get("GET /account/orders/{id}", f"/account/orders/{order_id}")
    document_id = re.findall(r"/account/documents/(doc_[0-9A-Za-z]+)", order_page)[0]
    browser.warm_get("GET /account/documents/{id}", f"/account/documents/{document_id}")
    prefs = browser.warm_get("GET /account/preferences", "/account/preferences")
    saved = {"csrf_token": _field(prefs, "csrf_token"), "email": "on", "locale": "de-DE"}
    browser.visit("POST /account/preferences", "POST", "/account/preferences", saved)
    csrf = _field(order_page, "csrf_token")
    help_form = {"csrf_token": csrf, "category": "damaged", "message": "The mug arrived broken."}
    browser.visit("POST /account/orders/{id}/help", "POST", f"/account/orders/{order_id}/help", help_form)
    _, thread = browser.visit(None, "GET", f"/account/orders/{order_id}?done=sent")
    ticket_id = re.findall(r'data-ticket="(tkt_[0-9A-Za-z]+)"', thread)[0]
    reply = {"csrf_token": csrf, "message": "Photos attached."}
    path = f"/account/orders/{order_id}/tickets/{ticket_id}/messages"
    browser.visit("POST /account/orders/{id}/tickets/{id}/messages", "POST", path, reply)
    sku = order.lines[0].sku
    returned = {"csrf_token": csrf, f"qty_{sku}": "1", "reason": "damaged", "resolution": "refund"}
    browser.visit("POST /account/orders/{id}/returns", "POST", f"/account/orders/{order_id}/returns", returned)
    browser.visit("POST /account/sign-out", "POST", "/account/sign-out", {"csrf_token": csrf})

    staff = _Browser(client, results)
    staff.warm_get("GET /reports/dashboard", "/reports/dashboard", tokens["admin"])
    staff.warm_get("GET /desk", "/desk", tokens["agent"])
    staff.warm_get("GET /desk?order=", f"/desk?order={order_id}", tokens["agent"])

    # The desk's forms, from a staff browser session (the dev sign-in), each with the session's CSRF token.
    agent = _Browser(client, results)
    sign_in = agent.visit(None, "GET", "/desk/sign-in")[1]
    staff_form = {"csrf_token": _field(sign_in, "csrf_token"), "role": "agent", "sub": "agt_bench"}
    agent.visit(None, "POST", "/desk/sign-in", staff_form, status=303)
    assert "oc_desk" in agent.jar, "the desk sign-in started no session"
    story = agent.warm_get("GET /desk?order= (session)", f"/desk?order={desk.order_id}", status=200)
    csrf = _field(story, "csrf_token")
    forms: list[tuple[str, str, dict[str, str]]] = [
        ("tickets/{id}/acknowledge", f"tickets/{desk.ticket_id}/acknowledge", {}),
        ("tickets/{id}/reply", f"tickets/{desk.ticket_id}/reply", {"message": "A new mug is on its way."}),
        ("tickets/{id}/resolve", f"tickets/{desk.ticket_id}/resolve", {"resolution": "Replacement sent"}),
        ("returns/{id}/approve", f"returns/{desk.approve_id}/approve", {}),
        (
            "returns/{id}/receive",
            f"returns/{desk.approve_id}/receive",
            {"quantity:MUG-1": "1", "condition:MUG-1": "damaged"},
        ),
        ("returns/{id}/reject", f"returns/{desk.reject_id}/reject", {"reason": "The photo shows no damage"}),
    ]
    for name, path, fields in forms:
        response, _ = agent.visit(
            f"POST /desk/{name}", "POST", f"/desk/{path}", {"csrf_token": csrf, **fields}, status=303
        )
        assert response.headers["Location"].startswith(f"/desk?order={desk.order_id}#"), (name, response.headers)
    return results


Call = Callable[..., Any]  # run()'s `call(name, method, path, body, role, headers, raw, status=)`


def _more_api_round_trips(
    call: Call, client: Any, results: list[Any], settings: Any, demo: dict[str, Any], scan: dict[str, Any]
) -> _DeskWork:
    """Documents, preferences, feedback, provider webhooks, the returns queue and its transitions, outbound
    webhook subscriptions, the survey and tracking pages; and the order whose ticket and returns the desk acts on."""
    from urllib.parse import urlsplit

    def place(customer_id: str = "cus_bench") -> dict[str, Any]:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = _order_body(customer_id)
        placed: dict[str, Any] = call(None, "POST", "/v1/orders", body, "storefront", key, status=201)
        return placed

    def hook(name: str | None, path: str, signed: tuple[bytes, dict[str, str]]) -> Any:
        raw, headers = signed
        return call(name, "POST", path, raw=raw, headers=headers, status=200)

    def delivered() -> dict[str, Any]:
        """A fresh order (two mugs) placed, paid, processed, shipped and delivered, none of it measured."""
        placed, key = place(), {"Idempotency-Key": str(uuid.uuid4())}
        payment = {"amount": placed["total"], "method": "card", "provider_ref": f"pi_{placed['id']}"}
        call(None, "POST", f"/v1/orders/{placed['id']}/payments", payment, "storefront", key, status=201)
        call(None, "POST", f"/v1/orders/{placed['id']}/processing", role="agent", status=200)
        tracking_number = f"TRK{uuid.uuid4().hex[:12]}"
        parcel = {"carrier": "dhl", "tracking_number": tracking_number}
        call(None, "POST", f"/v1/orders/{placed['id']}/shipments", parcel, "agent", status=201)
        scanned = {"event_id": str(uuid.uuid4()), "tracking_number": tracking_number, "status": "delivered"}
        signed = _signed(settings.carrier_webhook_secrets[0], {**scanned, "occurred_at": _now()})
        assert hook(None, "/v1/webhooks/carrier", signed)["outcome"] == "applied"
        return placed

    def request_return(order_id: str, reason: str = "changed_mind") -> str:
        wanted = {"lines": [{"sku": "MUG-1", "quantity": 1}], "reason": reason, "resolution": "refund"}
        created: dict[str, Any] = call(None, "POST", f"/v1/orders/{order_id}/returns", wanted, "customer", status=201)
        return str(created["id"])

    oid = demo["id"]
    _issue_documents(settings, oid)
    documents = f"/v1/orders/{oid}/documents"
    call(None, "GET", documents, role="customer")
    listed = call("GET /v1/orders/{id}/documents", "GET", documents, role="customer", status=200)
    assert {item["kind"] for item in listed["items"]} >= {"invoice", "receipt"}, listed

    preferences = "/v1/customers/cus_bench/preferences"
    call(None, "GET", preferences, role="customer")
    call("GET /v1/customers/{id}/preferences", "GET", preferences, role="customer", status=200)
    chosen = {"email": True, "sms": False, "locale": "de-DE"}
    call("PUT /v1/customers/{id}/preferences", "PUT", preferences, chosen, "customer", status=200)

    call(None, "GET", "/v1/inbound/held", role="agent")
    call("GET /v1/inbound/held", "GET", "/v1/inbound/held", role="agent", status=200)
    misses = "/v1/reports/kpis/shipped_on_time/misses?period=quarter&start=2026-10-01"
    call(None, "GET", misses, role="admin")
    call("GET /v1/reports/kpis/{name}/misses", "GET", misses, role="admin", status=200)

    rated = {"order_id": oid, "rating": 4, "comment": "Lovely mug"}
    call(None, "POST", "/v1/feedback", rated, "customer", status=201)
    call("POST /v1/feedback", "POST", "/v1/feedback", rated, "customer", status=201)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    call("POST /v1/feedback (key)", "POST", "/v1/feedback", rated, "customer", key, status=201)
    call("POST /v1/feedback (replay)", "POST", "/v1/feedback", rated, "customer", key, status=201)
    review = {"source": "review", "rating": 5, "order_id": oid, "url": "https://reviews.example.com/r/1"}
    review["occurred_at"] = _now()
    call(None, "POST", "/v1/feedback/external", review, "agent", status=201)
    call("POST /v1/feedback/external", "POST", "/v1/feedback/external", review, "agent", status=201)

    # Provider webhooks, each applied to an order of its own, each warmed on another order first.
    for name in (None, "POST /v1/webhooks/payment"):
        unpaid = place()
        paid = {"event_id": str(uuid.uuid4()), "order_id": unpaid["id"], "amount": unpaid["total"]}
        signed = _signed(
            settings.payment_webhook_secrets[0], {**paid, "provider_ref": "pi_hook", "status": "succeeded"}
        )
        assert hook(name, "/v1/webhooks/payment", signed)["outcome"] == "applied"
    for name in (None, "POST /v1/webhooks/stripe"):
        unpaid = place()
        signed = _stripe_payment(settings.stripe_webhook_secrets[0], unpaid["id"], unpaid["total"])
        assert hook(name, "/v1/webhooks/stripe", signed)["outcome"] == "applied"
    tracking = call(None, "GET", f"/v1/orders/{scan['id']}", role="agent")["shipments"][0]["tracking_number"]
    for name, tag in ((None, "InTransit"), ("POST /v1/webhooks/aftership", "OutForDelivery")):
        signed = _aftership_update(settings.aftership_webhook_secrets[0], tracking, tag)
        assert hook(name, "/v1/webhooks/aftership", signed)["outcome"] == "applied"
    for name, word, action in ((None, "START", "opt_in"), ("POST /v1/webhooks/sms-inbound", "STOP", "opt_out")):
        sms = {"originationNumber": "+4915112345678", "messageBody": word}
        assert hook(name, "/v1/webhooks/sms-inbound", _signed(settings.sms_inbound_secrets[0], sms))["action"] == action

    # Returns of a fresh delivered order's two mugs: one received (and refunded), one cancelled, then
    # requested again and rejected.
    returned = delivered()
    received, cancelled = request_return(returned["id"]), request_return(returned["id"])
    call(None, "POST", f"/v1/returns/{received}/approve", role="agent", status=200)
    call(None, "GET", "/v1/returns", role="agent")
    queue = call("GET /v1/returns", "GET", "/v1/returns", role="agent", status=200)  # status=requested
    assert cancelled in {item["id"] for item in queue["items"]}, queue
    lines = {"lines": [{"sku": "MUG-1", "quantity": 1, "condition": "restockable"}]}
    path = f"/v1/returns/{received}/receive"
    receipt = call("POST /v1/returns/{id}/receive", "POST", path, lines, "agent", status=200)
    assert receipt["status"] == "received" and receipt["refund_amount"] > 0, receipt
    call("POST /v1/returns/{id}/cancel", "POST", f"/v1/returns/{cancelled}/cancel", role="customer", status=200)
    rejected = request_return(returned["id"])
    reason = {"reason": "Used, not in its box"}
    call("POST /v1/returns/{id}/reject", "POST", f"/v1/returns/{rejected}/reject", reason, "agent", status=200)
    refund = {"event_id": str(uuid.uuid4()), "order_id": returned["id"], "amount": receipt["refund_amount"]}
    signed = _signed(settings.payment_webhook_secrets[0], {**refund, "provider_ref": "pi_hook", "status": "refunded"})
    assert hook("POST /v1/webhooks/payment (refund)", "/v1/webhooks/payment", signed)["outcome"] == "applied"

    # An outbound webhook subscription, deleted again (nothing later is delivered to it).
    wanted = {"url": "https://shop.example.com/hooks/ordercare", "events": ["order.shipped", "return.updated"]}
    created = call("POST /v1/webhook-subscriptions", "POST", "/v1/webhook-subscriptions", wanted, "admin", status=201)
    path = f"/v1/webhook-subscriptions/{created['id']}"
    call(None, "GET", path, role="admin")
    call("GET /v1/webhook-subscriptions/{id}", "GET", path, role="admin", status=200)
    call(None, "GET", f"{path}/deliveries", role="admin")
    call("GET /v1/webhook-subscriptions/{id}/deliveries", "GET", f"{path}/deliveries", role="admin", status=200)
    call("DELETE /v1/webhook-subscriptions/{id}", "DELETE", path, role="admin", status=204)

    # The public pages behind signed links: a delivery survey (its page, then its answer) and the tracking page.
    warm_survey, survey = _survey_tokens([place("cus_survey_a"), place("cus_survey_b")])
    public = _Browser(client, results)
    form = public.warm_get("GET /surveys/{token}", f"/surveys/{survey}?score=5", status=200)
    assert f'action="/v1/surveys/{survey}"' in form, "no survey form"
    answer = {"csat": 5, "nps": 9, "aspects": {"speed": 5}, "comment": "Fast"}
    call(None, "POST", f"/v1/surveys/{warm_survey}", answer, status=201)
    call("POST /v1/surveys/{token}", "POST", f"/v1/surveys/{survey}", answer, status=201)
    page = public.warm_get("GET /track/{token}", urlsplit(demo["tracking_url"]).path, status=200)
    assert demo["number"] in page, "not the order's tracking page"

    # What the desk's forms act on (measured with the desk's pages): a ticket and two returns of one order.
    desk = delivered()
    approve, reject = request_return(desk["id"], "damaged"), request_return(desk["id"])
    opened = {"order_id": desk["id"], "category": "damaged", "message": "The handle came off."}
    ticket = call(None, "POST", "/v1/tickets", opened, "customer", status=201)
    return _DeskWork(desk["id"], ticket["id"], approve, reject)


def run() -> list[str]:
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-central-1")
    os.environ["OC_TABLE_NAME"] = "ordercare-bench"
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.adapters.dynamo.schema import ensure_table
    from chalicelib.api.auth import mint_local_token
    from chalicelib.bootstrap import reset_container
    from chalicelib.domain.webhooks import signature_header
    from chalicelib.settings import Settings

    reset_container()
    settings = Settings.from_env()
    tokens = {
        role: mint_local_token(settings, role, sub)
        for role, sub in (
            ("admin", "adm"),
            ("storefront", "web"),
            ("agent", "agt"),
            ("customer", "cus_bench"),
        )
    }
    results: list[tuple[str, Counter[str]]] = []  # each route's name starts with its HTTP method

    # What the app prints meanwhile (the KPI metrics' EMF lines) goes to stderr: stdout is for the figures.
    with mock_aws(), redirect_stdout(sys.stderr):
        ensure_table(boto3.client("dynamodb"), "ordercare-bench")
        from app import app

        with Client(app) as client:

            def call(
                name: str | None,
                method: str,
                path: str,
                body: Any = None,
                role: str | None = None,
                headers: dict[str, str] | None = None,
                raw: bytes | None = None,
                status: int | None = None,
            ) -> Any:
                all_headers = {"Content-Type": "application/json", **(headers or {})}
                if role:
                    all_headers["Authorization"] = f"Bearer {tokens[role]}"
                payload = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
                with counting() as calls:
                    response = client.http.request(method, path, headers=all_headers, body=payload)
                assert response.status_code < 300, (name, response.status_code, response.body)
                assert status in (None, response.status_code), (name, response.status_code, status)
                if name:
                    results.append((name, calls))
                return json.loads(response.body) if response.body else None

            item = {
                "name": "Mug",
                "unit_price": 1299,
                "currency": "EUR",
                "stock": 10**6,
                "tax_rate_bps": 1900,
            }
            call(None, "PUT", "/v1/catalog/MUG-1", item, "admin")  # warm-up: clients built once per container
            call("PUT /v1/catalog/{sku}", "PUT", "/v1/catalog/MUG-1", item, "admin")
            call("GET /v1/catalog/{sku}", "GET", "/v1/catalog/MUG-1", role="agent")
            call(
                "POST /v1/delivery-estimates",
                "POST",
                "/v1/delivery-estimates",
                {"shipping_method": "standard", "country": "DE"},
                "storefront",
            )
            key = {"Idempotency-Key": str(uuid.uuid4())}
            call(None, "POST", "/v1/orders", _order_body(), "storefront", key)
            order = call(
                "POST /v1/orders",
                "POST",
                "/v1/orders",
                _order_body(),
                "storefront",
                {"Idempotency-Key": str(uuid.uuid4())},
            )
            call("POST /v1/orders (replay)", "POST", "/v1/orders", _order_body(), "storefront", key)
            oid = order["id"]
            call("GET /v1/orders/{id}", "GET", f"/v1/orders/{oid}", role="customer")
            call("GET /v1/orders", "GET", "/v1/orders", role="customer")
            call("GET /v1/orders?number=", "GET", f"/v1/orders?number={order['number']}", role="agent")
            call(
                "POST /v1/orders/{id}/payments",
                "POST",
                f"/v1/orders/{oid}/payments",
                {"amount": order["total"], "method": "card", "provider_ref": "pi"},
                "storefront",
                {"Idempotency-Key": str(uuid.uuid4())},
            )
            call("POST /v1/orders/{id}/processing", "POST", f"/v1/orders/{oid}/processing", role="agent")
            call(
                "POST /v1/orders/{id}/shipments",
                "POST",
                f"/v1/orders/{oid}/shipments",
                {"carrier": "dhl", "tracking_number": f"TRK{uuid.uuid4().hex[:12]}"},
                "agent",
            )
            tracking = call(None, "GET", f"/v1/orders/{oid}", role="agent")["shipments"][0]["tracking_number"]
            event = json.dumps(
                {
                    "event_id": str(uuid.uuid4()),
                    "tracking_number": tracking,
                    "status": "delivered",
                    "occurred_at": "2026-12-01T10:00:00Z",
                }
            ).encode()
            signature = signature_header(settings.carrier_webhook_secrets[0], event, int(time.time()))
            call(
                "POST /v1/webhooks/carrier",
                "POST",
                "/v1/webhooks/carrier",
                raw=event,
                headers={"X-OrderCare-Signature": signature},
            )
            call("GET /v1/orders/{id}/timeline", "GET", f"/v1/orders/{oid}/timeline", role="customer")
            # One of the two delivered mugs goes back (the portal's return form takes the other).
            wanted = {"lines": [{"sku": "MUG-1", "quantity": 1}], "reason": "changed_mind", "resolution": "refund"}
            ret = call("POST /v1/orders/{id}/returns", "POST", f"/v1/orders/{oid}/returns", wanted, "customer")
            call("GET /v1/returns/{id}", "GET", f"/v1/returns/{ret['id']}", role="customer")
            call("POST /v1/returns/{id}/approve", "POST", f"/v1/returns/{ret['id']}/approve", role="agent")
            held = call(
                None,
                "POST",
                "/v1/orders",
                {**_order_body(), "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price": 1}]},
                "storefront",
                {"Idempotency-Key": str(uuid.uuid4())},
            )
            call(
                "POST /v1/orders/{id}/holds/{code}/release",
                "POST",
                f"/v1/orders/{held['id']}/holds/price_mismatch/release",
                {"reason": "ok"},
                "agent",
            )
            call("POST /v1/orders/{id}/cancel", "POST", f"/v1/orders/{held['id']}/cancel", role="customer")
            scan = call(None, "POST", "/v1/orders", _order_body(), "storefront", {"Idempotency-Key": str(uuid.uuid4())})
            payment = {"amount": scan["total"], "method": "card", "provider_ref": "pi_scan"}
            call(None, "POST", f"/v1/orders/{scan['id']}/payments", payment, "storefront", {"Idempotency-Key": "scan"})
            call(
                "POST /v1/orders/{id}/shipments (paid: one scan)",
                "POST",
                f"/v1/orders/{scan['id']}/shipments",
                {"carrier": "dhl", "tracking_number": f"TRK{uuid.uuid4().hex[:12]}"},
                "agent",
            )
            ticket_body = {"order_id": oid, "category": "delay", "message": "Where is it?"}
            ticket = call("POST /v1/tickets", "POST", "/v1/tickets", ticket_body, "customer")
            tid = ticket["id"]
            call("GET /v1/tickets/{id}", "GET", f"/v1/tickets/{tid}", role="customer")
            call("POST /v1/tickets/{id}/acknowledge", "POST", f"/v1/tickets/{tid}/acknowledge", role="agent")
            reply = {"message": "On its way"}
            call("POST /v1/tickets/{id}/messages", "POST", f"/v1/tickets/{tid}/messages", reply, "agent")
            call("GET /v1/tickets", "GET", "/v1/tickets", role="agent")
            ticket_key = {"Idempotency-Key": str(uuid.uuid4())}
            keyed = call("POST /v1/tickets (key)", "POST", "/v1/tickets", ticket_body, "customer", ticket_key)
            call("POST /v1/tickets (replay)", "POST", "/v1/tickets", ticket_body, "customer", ticket_key)
            messages = f"/v1/tickets/{keyed['id']}/messages"
            first_reply = {"message": "Looking into it", "await_customer": True}
            call("POST /v1/tickets/{id}/messages (acknowledges)", "POST", messages, first_reply, "agent")
            call("POST /v1/tickets/{id}/messages (customer)", "POST", messages, {"message": "Still not"}, "customer")
            resolve, reopen = (f"/v1/tickets/{keyed['id']}/{action}" for action in ("resolve", "reopen"))
            key = {"Idempotency-Key": str(uuid.uuid4())}
            call("POST /v1/tickets/{id}/resolve (key)", "POST", resolve, {"resolution": "Found"}, "agent", key)
            call("POST /v1/tickets/{id}/resolve (replay)", "POST", resolve, {"resolution": "Found"}, "agent", key)
            key = {"Idempotency-Key": str(uuid.uuid4())}
            call("POST /v1/tickets/{id}/reopen (key)", "POST", reopen, None, "customer", key)
            call("POST /v1/tickets/{id}/reopen (replay)", "POST", reopen, None, "customer", key)
            message_key = {"Idempotency-Key": str(uuid.uuid4())}
            call("POST /v1/tickets/{id}/messages (key)", "POST", messages, reply, "agent", message_key)
            call("POST /v1/tickets/{id}/messages (replay)", "POST", messages, reply, "agent", message_key)
            call("GET /v1/agent/orders/{id}", "GET", f"/v1/agent/orders/{oid}", role="agent")
            call("GET /v1/reports/kpis", "GET", "/v1/reports/kpis?period=quarter&start=2026-10-01", role="admin")
            desk = _more_api_round_trips(call, client, results, settings, order, scan)
            results += _html_page_round_trips(client, tokens, settings, oid, desk)

    lines = []
    read_routes: dict[str, int] = {}  # GET routes: their reads
    write_routes: dict[str, int] = {}  # every other route: all its round trips, reads and writes
    for name, calls in results:
        reads = sum(n for op, n in calls.items() if op in READS)
        writes = sum(n for op, n in calls.items() if op in WRITES)
        ops = ",".join(f"{op}x{n}" for op, n in sorted(calls.items())) or "none"
        lines.append(f"round_trips[{name}]: reads={reads} writes={writes} ({ops})")
        if name.startswith("GET "):
            read_routes[name] = reads
        else:
            write_routes[name] = sum(calls.values())
    return [
        f"api_read_round_trips: {_worst(read_routes)} (max over the {len(read_routes)} read routes measured: "
        f"{_reaching(read_routes)}; bar 1)",
        f"api_write_round_trips: {_worst(write_routes)} (max over the {len(write_routes)} write routes measured, "
        f"reads + writes: {_reaching(write_routes)}; bar <= 2 incl. idempotency)",
        *lines,
    ]


def _worst(routes: dict[str, int]) -> int:
    return max(routes.values())


def _reaching(routes: dict[str, int], shown: int = 3) -> str:
    """The routes at the maximum (the first few, and how many more)."""
    names = [name for name, figure in routes.items() if figure == _worst(routes)]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
