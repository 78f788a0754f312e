"""In-memory fakes of the document ports, and sample orders, shared by the document tests."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.documents import einvoice
from chalicelib.documents.invoice import CreditNote, Document, Invoice, Party, format_number
from chalicelib.domain.address import Address
from chalicelib.domain.orders import Customer, Discount, Order, OrderLine, OrderStatus, Payment, Refund
from chalicelib.services.documents import IssuedDocument, NewDocument, OrderDocuments, Rendered

SELLER = Party(
    "OrderCare Demo Shop GmbH",
    ("Musterstraße 1", "10115 Berlin", "Germany"),
    vat_id="DE123456789",
    email="billing@ordercare.local",
    country="DE",
    postal=Address("OrderCare Demo Shop GmbH", "Musterstraße 1", "Berlin", "10115", "DE"),
)
AT = datetime(2026, 3, 3, 10, 15, tzinfo=UTC)


def fake_render(document: Document) -> Rendered:
    """A stand-in PDF (cheap, readable in asserts) with the document's real e-invoice XML."""
    pdf = f"%PDF {document.kind} {document.number} {document.total}".encode()
    xml = (
        einvoice.build_cii(document, einvoice.EInvoiceOptions()) if isinstance(document, Invoice | CreditNote) else None
    )
    return Rendered(pdf, xml)


class FixedClock:
    def __init__(self, now: datetime = AT):
        self.moment = now

    def now(self) -> datetime:
        return self.moment


class InMemoryDocumentRecords:
    """The DocumentRecords contract with a lock standing in for the transaction."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.documents: dict[tuple[str, str], IssuedDocument] = {}
        self.counters: dict[tuple[str, int], int] = {}
        self.owners: dict[str, str] = {}
        self.issue_calls = 0

    def add_order(self, order_id: str, customer_id: str) -> None:
        self.owners[order_id] = customer_id

    def get(self, order_id: str, key: str) -> IssuedDocument | None:
        return self.documents.get((order_id, key))

    def issue(self, new: NewDocument) -> IssuedDocument:
        with self.lock:
            self.issue_calls += 1
            existing = self.documents.get((new.order_id, new.key))
            if existing is not None:
                return existing
            sequence = self.counters.get((new.prefix, new.year), 0) + 1
            self.counters[(new.prefix, new.year)] = sequence
            document = IssuedDocument(
                id=new.id,
                order_id=new.order_id,
                kind=new.kind,
                key=new.key,
                number=format_number(new.prefix, new.year, sequence),
                issued_at=new.issued_at,
                total=new.total,
                currency=new.currency,
                s3_key=new.s3_key,
                pdf_stored=False,
                reference=new.reference,
            )
            self.documents[(new.order_id, new.key)] = document
            return document

    def mark_stored(self, document: IssuedDocument) -> IssuedDocument:
        with self.lock:
            current = self.documents[(document.order_id, document.key)]
            assert current.s3_key == document.s3_key
            stored = replace(current, pdf_stored=True)
            self.documents[(document.order_id, document.key)] = stored
            return stored

    def by_id(self, document_id: str) -> IssuedDocument | None:
        return next((doc for doc in self.documents.values() if doc.id == document_id), None)

    def list_for_order(self, order_id: str) -> list[IssuedDocument]:
        return [doc for (owner, key), doc in sorted(self.documents.items()) if owner == order_id]

    def for_order(self, order_id: str) -> OrderDocuments:
        return OrderDocuments(self.owners.get(order_id), self.list_for_order(order_id))


class FakePdfStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.fail_puts = 0
        self.puts = 0
        self.xml_puts = 0
        self._keys = 0
        self.lock = threading.Lock()

    def new_key(self, order_id: str) -> str:
        with self.lock:
            self._keys += 1
            return f"documents/{order_id}/key{self._keys:04d}.pdf"

    def put_pdf(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None:
        with self.lock:
            if self.fail_puts:
                self.fail_puts -= 1
                raise ConnectionError("S3 is unavailable (injected)")
            self.puts += 1
            self.objects[key] = (data, {"order-id": order_id, "document-id": document_id, "number": number})

    def put_xml(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None:
        with self.lock:
            self.xml_puts += 1
            self.objects[key] = (data, {"order-id": order_id, "document-id": document_id, "number": number})

    def get_pdf(self, key: str) -> bytes:
        return self.objects[key][0]

    def presigned_url(
        self, key: str, *, filename: str, expires_in: int = 300, content_type: str = "application/pdf"
    ) -> str:
        assert 0 < expires_in <= 300
        return f"https://documents.invalid/{key}?X-Amz-Expires={expires_in}&filename={filename}"


def paid_order(
    order_id: str = "ord_01JNRX4W6Q8Z2Y5V3T1M0KCBAD",
    *,
    lines: list[OrderLine] | None = None,
    discount: int = 200,
    shipping_fee: int = 499,
    locale: str = "de-DE",
    name: str = "Zoë Ñúñez",
    customer_id: str = "cus_zoe",
    provider_ref: str = "pi_3NxYz",
) -> Order:
    """A paid order with lines at 19 % and 7 %, a discount and shipping."""
    order = Order(
        id=order_id,
        customer=Customer(customer_id, "zoe@example.com", name, None, locale),
        currency="EUR",
        lines=lines
        if lines is not None
        else [
            OrderLine("MUG-1", 2, 1299, 1900, "Ceramic mug „Zoë“"),
            OrderLine("BOOK-1", 1, 2500, 700, "Cookbook: Алексей's kitchen"),
            OrderLine("TOWEL-1", 3, 899, 1900, "Tea towel — Müller edition"),
        ],
        shipping_address=Address(name, "Calle Mayor 5, 3º B", "Madrid", "28013", "ES"),
        shipping_method="standard",
        shipping_fee=shipping_fee,
        discounts=[Discount("WELCOME", discount)] if discount else [],
        placed_at=AT,
        ship_by=AT,
        deliver_by=AT,
        status=OrderStatus.PAID,
        number="K7QM-R3TE",
    )
    order.payments.append(Payment(order.totals.total, "card", provider_ref, AT))
    order.paid_at = AT
    return order


def refunded(order: Order, amount: int, event_id: str = "evt_refund_1", ref: str = "re_1") -> Refund:
    refund = Refund(amount, ref, AT, event_id)
    order.refunds.append(refund)
    return refund
