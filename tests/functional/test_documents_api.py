"""Invoices and receipts issued from the stream, emailed once, listed with short-lived links."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.domain.webhooks import signature_header
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, deliver, drain
from tests.functional.test_lifecycle_api import pay, place
from tests.functional.test_notifications import emails


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def documents(api: Api, order_id: str, role: str = "customer", sub: str = "cus_alice") -> object:
    return api.call("GET", f"/v1/orders/{order_id}/documents", role=role, sub=sub)


def test_paid_order_gets_invoice_and_receipt_once_attached_to_one_email(api: Api, tap: StreamTap) -> None:
    order = place(api)
    assert pay(api, order).status_code == 201
    drain(tap)
    for _ in range(2):
        deliver(tap.all)  # replays issue nothing new and send nothing new
    response = documents(api, order["id"])
    assert response.status_code == 200  # type: ignore[attr-defined]
    items = response.data["items"]  # type: ignore[attr-defined]
    assert sorted(item["kind"] for item in items) == ["invoice", "receipt"]
    invoice = next(item for item in items if item["kind"] == "invoice")
    assert invoice["number"].startswith("INV-") and invoice["total"] == order["total"] and invoice["currency"] == "EUR"
    query = parse_qs(urlparse(invoice["download_url"]).query)
    assert int(query["X-Amz-Expires"][0]) <= 300
    receipts = [m for m in emails() if "Zahlung" in str(m["Subject"])]
    assert len(receipts) == 1
    attached = sorted(part.get_filename() for part in receipts[0].iter_attachments())
    assert attached == sorted(f"{item['number']}.pdf" for item in items)
    pdf = next(receipts[0].iter_attachments()).get_content()
    assert pdf.startswith(b"%PDF")


def test_documents_are_private(api: Api, tap: StreamTap) -> None:
    order = place(api)
    pay(api, order)
    drain(tap)
    assert documents(api, order["id"], sub="cus_mallory").status_code == 404  # type: ignore[attr-defined]
    assert documents(api, "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S").status_code == 404  # type: ignore[attr-defined]
    assert documents(api, order["id"], role="agent", sub="a").status_code == 200  # type: ignore[attr-defined]
    assert documents(api, order["id"], role="storefront", sub="web").status_code == 403  # type: ignore[attr-defined]


def test_refund_gets_a_credit_note(api: Api, tap: StreamTap) -> None:
    order = place(api)
    pay(api, order)
    drain(tap)
    raw = json.dumps(
        {"event_id": "ref-1", "order_id": order["id"], "amount": 1000, "provider_ref": "pi_1", "status": "refunded"}
    ).encode()
    header = signature_header("local-payment-webhook-secret", raw, int(time.time()))
    assert (
        api.call("POST", "/v1/webhooks/payment", raw=raw, headers={"X-OrderCare-Signature": header}).status_code == 200
    )
    drain(tap)
    items = documents(api, order["id"]).data["items"]  # type: ignore[attr-defined]
    credit = [item for item in items if item["kind"] == "credit_note"]
    assert len(credit) == 1 and credit[0]["total"] == -1000 and credit[0]["number"].startswith("CN-")
