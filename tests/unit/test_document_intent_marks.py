"""A document intent's PDFs are marked stored by the intent's completion, not one write each;
an attempt that fails after storing some marks those at once, so no retry renders them again."""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import Order
from chalicelib.services.document_intents import DocumentIntents
from chalicelib.services.documents import DocumentService
from chalicelib.services.intents import DOCUMENTS_LANE, DONE, Intent
from tests.document_fakes import AT, SELLER, FakePdfStore, FixedClock, InMemoryDocumentRecords, fake_render, paid_order


class _Orders:
    def __init__(self, order: Order) -> None:
        self.order = order

    def get(self, order_id: str) -> Order | None:
        return self.order if order_id == self.order.id else None


class _SecondPutFails(FakePdfStore):
    """S3 takes the invoice's PDF, then goes down for the receipt's."""

    failed = False

    def put_pdf(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None:
        if self.puts == 1 and not self.failed:
            self.failed, self.fail_puts = True, 1
        super().put_pdf(key, data, order_id=order_id, document_id=document_id, number=number)


def _setup(pdfs: FakePdfStore) -> tuple[DocumentIntents, InMemoryDocumentRecords, Intent]:
    order = paid_order()
    records = InMemoryDocumentRecords()
    service = DocumentService(records, pdfs, FixedClock(), SELLER, renderer=fake_render)
    provider_ref = order.payments[0].provider_ref
    intent = Intent(order.id, "document", f"payment#{provider_ref}", {"payment": provider_ref}, lane=DOCUMENTS_LANE)
    return DocumentIntents(service, _Orders(order)), records, intent


def test_the_outcome_carries_the_stored_documents_for_the_completion_to_mark() -> None:
    handler, records, intent = _setup(FakePdfStore())
    outcome = handler.perform(intent, AT)
    assert outcome.status == DONE
    assert sorted(d.key for d in outcome.stored) == sorted(d.key for d in records.documents.values())
    assert len(outcome.stored) == 2
    assert not any(d.pdf_stored for d in records.documents.values())  # no write of their own


def test_a_failed_attempt_marks_what_it_stored_and_the_retry_stores_only_the_rest() -> None:
    pdfs = _SecondPutFails()
    handler, records, intent = _setup(pdfs)
    with pytest.raises(ConnectionError):
        handler.perform(intent, AT)
    assert {d.kind: d.pdf_stored for d in records.documents.values()} == {"invoice": True, "receipt": False}
    outcome = handler.perform(intent, AT)
    assert [d.kind for d in outcome.stored] == ["receipt"] and pdfs.puts == 2  # the invoice not put again
