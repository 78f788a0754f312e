"""DynamoDB round trips per API request (bar: reads 1, writes <= 2 incl. idempotency).

Counted at botocore's API-call layer (every client, pynamodb's included) while
the real app serves requests through chalice.test.Client against moto. Each
route is measured warm, as a Lambda container serves it after its first call.
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
    results: list[tuple[str, Counter[str]]] = []

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
            call("GET /v1/agent/orders/{id}", "GET", f"/v1/agent/orders/{oid}", role="agent")
            call("GET /v1/reports/kpis", "GET", "/v1/reports/kpis?period=quarter&start=2026-10-01", role="admin")

    lines = []
    worst: dict[str, tuple[int, str]] = {"reads": (0, ""), "writes": (0, "")}
    for name, calls in results:
        reads = sum(n for op, n in calls.items() if op in READS)
        writes = sum(n for op, n in calls.items() if op in WRITES)
        ops = ",".join(f"{op}x{n}" for op, n in sorted(calls.items())) or "none"
        lines.append(f"round_trips[{name}]: reads={reads} writes={writes} ({ops})")
        if not writes:  # a read route: its reads are the figure (writes carry their condition reads)
            worst["reads"] = max(worst["reads"], (reads, name))
        worst["writes"] = max(worst["writes"], (writes, name))
    (reads, read_route), (writes, write_route) = worst["reads"], worst["writes"]
    return [
        f"api_read_round_trips: {reads} (max over the {len(results)} routes measured: {read_route}; bar 1)",
        f"api_write_round_trips: {writes} (max: {write_route}; bar <= 2 incl. idempotency)",
        *lines,
    ]
