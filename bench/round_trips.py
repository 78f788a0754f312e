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
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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


def _order_body() -> dict[str, Any]:
    from local.samples import order_body

    customer = {"id": "cus_bench", "email": "bench@example.com", "name": "Bench", "locale": "de-DE"}
    return order_body(customer=customer, discounts=[])


class _Browser:
    """A cookie-keeping browser over chalice.test.Client: the portal's pages as a customer's browser sees them."""

    def __init__(self, client: Any, results: list[tuple[str, Counter[str]]]):
        self.client, self.results = client, results
        self.jar: dict[str, str] = {}

    def visit(
        self, name: str | None, method: str, path: str, form: dict[str, str] | None = None, bearer: str | None = None
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

    def warm_get(self, name: str, path: str, bearer: str | None = None) -> str:
        """A GET measured on its second visit, as a warm container serves it."""
        self.visit(None, "GET", path, bearer=bearer)
        return self.visit(name, "GET", path, bearer=bearer)[1]


def _field(html: str, name: str) -> str:
    import re

    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


def _html_page_round_trips(client: Any, tokens: dict[str, str], settings: Any, order_id: str) -> list[Any]:
    """The HTML pages: the customer portal signed in for real (the emailed code), the KPI dashboard, the desk."""
    import re

    import boto3
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from chalicelib.bootstrap import get_container

    boto3.client("ses").verify_email_identity(EmailAddress=settings.sender_email)
    boto3.client("s3").create_bucket(
        Bucket=settings.documents_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    container = get_container()
    order = container.orders.orders.get(order_id)
    assert order is not None
    container.documents.issue_for_payment(order)  # what the documents lane issues for a paid order

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
    return results


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

    with mock_aws():
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
            ) -> Any:
                all_headers = {"Content-Type": "application/json", **(headers or {})}
                if role:
                    all_headers["Authorization"] = f"Bearer {tokens[role]}"
                payload = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
                with counting() as calls:
                    response = client.http.request(method, path, headers=all_headers, body=payload)
                assert response.status_code < 300, (name, response.status_code, response.body)
                if name:
                    results.append((name, calls))
                return json.loads(response.body)

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
            results += _html_page_round_trips(client, tokens, settings, oid)

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
