"""DocumentService on in-memory fakes: numbering, idempotency, retries, ownership, links."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.documents.invoice import Document, DocumentError
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.orders import Refund
from chalicelib.presentation.presenters import present_document
from chalicelib.services.documents import DocumentService, Rendered, Series
from tests.document_fakes import (
    SELLER,
    FakePdfStore,
    FixedClock,
    InMemoryDocumentRecords,
    fake_render,
    paid_order,
    refunded,
)


class CountingRenderer:
    def __init__(self) -> None:
        self.rendered: list[str] = []

    def __call__(self, document: Document) -> Rendered:
        self.rendered.append(document.number)
        return fake_render(document)


@pytest.fixture
def records() -> InMemoryDocumentRecords:
    return InMemoryDocumentRecords()


@pytest.fixture
def pdfs() -> FakePdfStore:
    return FakePdfStore()


@pytest.fixture
def renderer() -> CountingRenderer:
    return CountingRenderer()


@pytest.fixture
def service(records: InMemoryDocumentRecords, pdfs: FakePdfStore, renderer: CountingRenderer) -> DocumentService:
    return DocumentService(records, pdfs, FixedClock(), SELLER, Series("INV", "RCT", "CN"), renderer=renderer)


def test_payment_issues_an_invoice_and_a_receipt(service: DocumentService, pdfs: FakePdfStore) -> None:
    order = paid_order()
    invoice, receipt = service.issue_for_payment(order)
    assert (invoice.kind, invoice.number, invoice.total, invoice.currency) == (
        "invoice",
        "INV-2026-000001",
        order.totals.total,
        "EUR",
    )
    assert (receipt.kind, receipt.number, receipt.reference, receipt.key) == (
        "receipt",
        "RCT-2026-000001",
        "INV-2026-000001",
        "receipt#pi_3NxYz",
    )
    assert invoice.pdf_stored and receipt.pdf_stored
    assert invoice.id.startswith("doc_") and invoice.id != receipt.id
    data, metadata = pdfs.objects[invoice.s3_key]
    assert data.startswith(b"%PDF invoice INV-2026-000001")
    assert metadata == {"order-id": order.id, "document-id": invoice.id, "number": "INV-2026-000001"}


def test_replays_return_the_same_documents_without_new_numbers_or_renders(
    service: DocumentService, renderer: CountingRenderer, pdfs: FakePdfStore
) -> None:
    order = paid_order()
    first = service.issue_for_payment(order)
    for _ in range(4):
        assert service.issue_for_payment(order) == first
    assert renderer.rendered == ["INV-2026-000001", "RCT-2026-000001"]
    assert pdfs.puts == 2
    second = service.issue_for_payment(paid_order("ord_other", provider_ref="pi_other"))
    assert [doc.number for doc in second] == ["INV-2026-000002", "RCT-2026-000002"]


def test_the_email_after_its_documents_attaches_them_without_reading_them_back(
    service: DocumentService, records: InMemoryDocumentRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = paid_order()
    queried: list[str] = []
    listing = records.list_for_order

    def counted(order_id: str) -> list[Any]:
        queried.append(order_id)
        return listing(order_id)

    monkeypatch.setattr(records, "list_for_order", counted)
    invoice, receipt = service.issue_for_payment(order)
    keys = [receipt.key, invoice.key]
    expected = [
        {"filename": d.filename, "content_type": "application/pdf", "s3_key": d.s3_key} for d in (invoice, receipt)
    ]
    assert service.attachments_for(order.id, keys) == expected and queried == []  # just stored here
    other = DocumentService(records, FakePdfStore(), FixedClock(), SELLER)  # another container: one Query
    assert other.attachments_for(order.id, keys) == expected and queried == [order.id]


def test_a_failed_upload_keeps_the_number_and_is_finished_by_the_retry(
    service: DocumentService, pdfs: FakePdfStore, records: InMemoryDocumentRecords
) -> None:
    order = paid_order()
    pdfs.fail_puts = 1
    with pytest.raises(ConnectionError):
        service.issue_for_payment(order)
    (pending,) = records.list_for_order(order.id)
    assert pending.number == "INV-2026-000001" and not pending.pdf_stored
    invoice, receipt = service.issue_for_payment(order)
    assert invoice.number == "INV-2026-000001" and invoice.s3_key == pending.s3_key and invoice.pdf_stored
    assert receipt.number == "RCT-2026-000001"
    assert records.counters == {("INV", 2026): 1, ("RCT", 2026): 1}


def test_credit_notes_reference_the_invoice_and_are_negative(service: DocumentService) -> None:
    order = paid_order()
    invoice, _ = service.issue_for_payment(order)
    refund = refunded(order, 1000, "evt_r1")
    note = service.issue_credit_note(order, refund)
    assert (note.kind, note.number, note.total, note.reference, note.key) == (
        "credit_note",
        "CN-2026-000001",
        -1000,
        invoice.number,
        "credit_note#evt_r1",
    )
    assert service.issue_credit_note(order, refund) == note
    second = service.issue_credit_note(order, refunded(order, order.totals.total - 1000, "evt_r2"))
    assert second.number == "CN-2026-000002"
    assert [doc.number for doc in service.issue_for_refunds(order)] == ["CN-2026-000001", "CN-2026-000002"]


def test_a_credit_note_issues_the_missing_invoice_first(service: DocumentService) -> None:
    order = paid_order()
    note = service.issue_credit_note(order, refunded(order, order.totals.total))
    kinds = {doc.kind: doc for doc in service.list_for_order(order.id)}
    assert set(kinds) == {"invoice", "credit_note"}
    assert note.reference == kinds["invoice"].number == "INV-2026-000001"


def test_documents_that_cannot_be_built_take_no_number(
    service: DocumentService, records: InMemoryDocumentRecords
) -> None:
    order = paid_order()
    service.issue_for_payment(order)
    with pytest.raises(DocumentError):
        service.issue_credit_note(order, Refund(100, "re_x", datetime.now(UTC), "evt_unknown"))
    order.refunds.append(Refund(order.totals.total + 1, "re_big", datetime.now(UTC), "evt_big"))  # bypasses checks
    with pytest.raises(DocumentError):
        service.issue_credit_note(order, order.refunds[-1])
    assert ("CN", 2026) not in records.counters
    unpaid = paid_order("ord_unpaid")
    unpaid.payments.clear()
    with pytest.raises(DocumentError):
        service.issue_for_payment(unpaid)


def test_concurrent_workers_issue_one_set_of_gap_free_numbers(service: DocumentService) -> None:
    orders = [paid_order(f"ord_{i:02d}", provider_ref=f"pi_{i}") for i in range(20)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(service.issue_for_payment, orders + orders))
    numbers = sorted({docs[0].number for docs in results})
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 21)]


def test_year_follows_the_shop_timezone(records: InMemoryDocumentRecords, pdfs: FakePdfStore) -> None:
    clock = FixedClock(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))  # already 2027 in Berlin
    service = DocumentService(records, pdfs, clock, SELLER, renderer=CountingRenderer())
    invoice, _ = service.issue_for_payment(paid_order())
    assert invoice.number == "INV-2027-000001"


def test_customers_see_only_their_orders_documents(service: DocumentService, records: InMemoryDocumentRecords) -> None:
    order = paid_order(customer_id="cus_zoe")
    records.add_order(order.id, "cus_zoe")
    issued = service.issue_for_payment(order)
    assert service.for_customer(order.id, "cus_zoe") == service.list_for_order(order.id)
    assert len(service.for_customer(order.id, None)) == len(issued)  # staff
    with pytest.raises(NotFoundError):
        service.for_customer(order.id, "cus_mallory")
    with pytest.raises(NotFoundError):
        service.for_customer("ord_missing", None)


def test_download_links_are_short_lived_and_only_for_stored_pdfs(service: DocumentService, pdfs: FakePdfStore) -> None:
    invoice, receipt = service.issue_for_payment(paid_order())
    url = service.download_url(invoice)
    assert url is not None and "X-Amz-Expires=300" in url and "INV-2026-000001.pdf" in url
    long_lived = DocumentService(service.records, pdfs, FixedClock(), SELLER, url_seconds=3600)
    assert "X-Amz-Expires=300" in (long_lived.download_url(invoice) or "")
    from dataclasses import replace

    assert service.download_url(replace(invoice, pdf_stored=False)) is None
    xml_url = service.xml_url(invoice)
    assert xml_url is not None and "X-Amz-Expires=300" in xml_url and invoice.xml_key in xml_url
    assert xml_url.endswith("INV-2026-000001.xml") and invoice.xml_key.endswith(".xml")
    assert service.xml_url(receipt) is None and service.xml_url(replace(invoice, pdf_stored=False)) is None
    assert pdfs.get_pdf(invoice.xml_key).startswith(b"<?xml")
    body = present_document(invoice, url, xml_url)
    assert body == {
        "id": invoice.id,
        "kind": "invoice",
        "number": "INV-2026-000001",
        "issued_at": "2026-03-03T10:15:00Z",
        "total": invoice.total,
        "currency": "EUR",
        "download_url": url,
        "e_invoice": "factur-x/en16931",
        "xml_url": xml_url,
    }
    assert present_document(receipt, None)["e_invoice"] is None
    attachments = service.email_attachments([invoice, receipt])
    assert attachments == [
        {"filename": "INV-2026-000001.pdf", "content_type": "application/pdf", "s3_key": invoice.s3_key},
        {"filename": "RCT-2026-000001.pdf", "content_type": "application/pdf", "s3_key": receipt.s3_key},
    ]
    assert service.attachment_data(attachments[0]).startswith(b"%PDF invoice")


def test_the_default_renderer_makes_real_pdfs(records: InMemoryDocumentRecords, pdfs: FakePdfStore) -> None:
    service = DocumentService(records, pdfs, FixedClock(), SELLER, paper="Letter")
    invoice, receipt = service.issue_for_payment(paid_order())
    assert pdfs.get_pdf(invoice.s3_key).startswith(b"%PDF-")
    assert pdfs.get_pdf(receipt.s3_key).startswith(b"%PDF-")


def test_document_settings_from_the_environment() -> None:
    from chalicelib.settings import Settings

    settings = Settings.from_env(
        {
            "OC_SELLER_NAME": "Shop Ltd",
            "OC_SELLER_ADDRESS": "1 High St | London SW1A 1AA |United Kingdom",
            "OC_SELLER_VAT_ID": "GB123",
            "OC_PAPER_SIZE": "letter",
            "OC_INVOICE_PREFIX": "RE",
        }
    )
    assert settings.seller_name == "Shop Ltd"
    assert settings.seller_address == ("1 High St", "London SW1A 1AA", "United Kingdom")
    assert (settings.seller_vat_id, settings.paper_size, settings.invoice_prefix) == ("GB123", "Letter", "RE")
    assert (settings.credit_note_prefix, settings.receipt_prefix) == ("CN", "RCT")
    with pytest.raises(ValueError, match="A4"):
        Settings.from_env({"OC_PAPER_SIZE": "A5"})


def test_document_modules_stay_free_of_aws_and_frameworks() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "chalicelib" / "documents"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("boto3", "botocore", "pynamodb", "chalice"), (path.name, name)
