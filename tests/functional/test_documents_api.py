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


B2B_CUSTOMER = {
    "id": "cus_alice",
    "email": "einkauf@mueller.example",
    "name": "Alice Müller",
    "locale": "de-DE",
    "company": "Müller & Söhne GmbH",
    "vat_id": "de 136 695 976",
}
BILLING = {
    "name": "Müller & Söhne GmbH",
    "line1": "Hauptstraße 12",
    "city": "München",
    "postal_code": "80331",
    "country": "DE",
}


def test_a_business_buyer_gets_factur_x_documents_and_the_bare_xml(api: Api, tap: StreamTap) -> None:
    import boto3

    from chalicelib.documents import validation

    order = place(api, customer=B2B_CUSTOMER, billing_address=BILLING, buyer_reference="04011000-12345-34")
    assert order["customer"]["company"] == "Müller & Söhne GmbH"
    assert order["customer"]["vat_id"] == "DE136695976"  # checked and compacted by python-stdnum
    assert order["billing_address"]["city"] == "München" and order["buyer_reference"] == "04011000-12345-34"
    pay(api, order)
    drain(tap)
    raw = json.dumps(
        {"event_id": "ref-b2b", "order_id": order["id"], "amount": 700, "provider_ref": "re_b2b", "status": "refunded"}
    ).encode()
    header = signature_header("local-payment-webhook-secret", raw, int(time.time()))
    api.call("POST", "/v1/webhooks/payment", raw=raw, headers={"X-OrderCare-Signature": header})
    drain(tap)
    items = documents(api, order["id"]).data["items"]  # type: ignore[attr-defined]
    by_kind = {item["kind"]: item for item in items}
    assert by_kind["receipt"]["e_invoice"] is None and by_kind["receipt"]["xml_url"] is None
    s3 = boto3.client("s3")
    for kind in ("invoice", "credit_note"):
        item = by_kind[kind]
        assert item["e_invoice"] == "factur-x/en16931"
        query = parse_qs(urlparse(item["xml_url"]).query)
        assert int(query["X-Amz-Expires"][0]) <= 300 and query["response-content-type"] == ["application/xml"]
        bucket, key = _bucket_key(item["xml_url"])
        xml = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        pdf = s3.get_object(Bucket=bucket, Key=_bucket_key(item["download_url"])[1])["Body"].read()
        assert validation.embedded_xml(pdf) == ("factur-x.xml", xml)  # the bare XML is the embedded one
        assert b"DE136695976" in xml and b"04011000-12345-34" in xml and "München".encode() in xml
    # Someone else's order: no links at all.
    assert documents(api, order["id"], sub="cus_mallory").status_code == 404  # type: ignore[attr-defined]


def _bucket_key(url: str) -> tuple[str, str]:
    """Bucket and key of a presigned URL in either S3 addressing style."""
    parsed = urlparse(url)
    host_bucket = parsed.netloc.split(".s3.")[0] if ".s3." in parsed.netloc else None
    path = parsed.path.lstrip("/")
    if host_bucket:
        return host_bucket, path
    bucket, _, key = path.partition("/")
    return bucket, key


@pytest.mark.parametrize("vat_id", ["DE123456789", "XX123456", "DE12345"])
def test_a_malformed_vat_id_is_refused_at_placement(api: Api, vat_id: str) -> None:
    from tests.functional.conftest import order_body

    body = order_body(customer={**B2B_CUSTOMER, "vat_id": vat_id})
    response = api.call(
        "POST", "/v1/orders", body, role="storefront", sub="web", headers={"Idempotency-Key": f"vat-{vat_id}"}
    )
    assert response.status_code == 422, response.data
    assert response.data["error"]["details"][0]["field"] == "customer.vat_id"
