"""Document numbers on a real DynamoDB engine: gap-free and unique under concurrent writers,
exactly one invoice per order under replays; the same contract on the in-memory fake."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.documents.invoice import Document
from chalicelib.services.documents import DocumentService, NewDocument, Rendered
from chalicelib.services.ports import DocumentRecords
from tests.document_fakes import AT, SELLER, FakePdfStore, FixedClock, InMemoryDocumentRecords, fake_render, paid_order

pytestmark = pytest.mark.timeout(240)
THREADS = 20


def _render(document: Document) -> Rendered:
    return fake_render(document)


@pytest.fixture
def dynamo_records(
    dynamodb_local_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DocumentRecords]:
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.documents import DynamoDocumentRecords

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    models.configure(table_name, "eu-central-1")
    yield DynamoDocumentRecords()


@pytest.fixture(params=["fake", "dynamodb_local"])
def records(request: pytest.FixtureRequest) -> DocumentRecords:
    if request.param == "fake":
        return InMemoryDocumentRecords()
    records: DocumentRecords = request.getfixturevalue("dynamo_records")
    return records


def _service(records: DocumentRecords, pdfs: FakePdfStore | None = None) -> DocumentService:
    return DocumentService(records, pdfs or FakePdfStore(), FixedClock(), SELLER, renderer=_render)


def _new(order_id: str, key: str = "invoice", prefix: str = "INV") -> NewDocument:
    return NewDocument(
        id=f"doc_{order_id}_{key}",
        order_id=order_id,
        kind="invoice",
        key=key,
        prefix=prefix,
        year=2026,
        issued_at=AT,
        total=1234,
        currency="EUR",
        s3_key=f"documents/{order_id}/{key}.pdf",
    )


# --- the contract, on the fake and on DynamoDB Local ------------------------------------------


def test_records_contract(records: DocumentRecords) -> None:
    first = records.issue(_new("ord_a"))
    assert first.number == "INV-2026-000001" and not first.pdf_stored
    assert records.issue(_new("ord_a")) == first  # same key: the existing record, no new number
    assert records.get("ord_a", "invoice") == first
    assert records.get("ord_a", "receipt#x") is None
    second = records.issue(_new("ord_b"))
    assert second.number == "INV-2026-000002"
    assert records.issue(_new("ord_b", "credit_note#e1", "CN")).number == "CN-2026-000001"
    other_year = records.issue(NewDocument(**{**_new("ord_c").__dict__, "year": 2027}))
    assert other_year.number == "INV-2027-000001"
    stored = records.mark_stored(first)
    assert stored.pdf_stored and records.get("ord_a", "invoice") == stored
    assert [doc.key for doc in records.list_for_order("ord_b")] == ["credit_note#e1", "invoice"]


def test_concurrent_invoices_for_different_orders_are_gap_free(records: DocumentRecords) -> None:
    service = _service(records)
    orders = [paid_order(f"ord_{i:02d}", provider_ref=f"pi_{i}") for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def issue(order: Any) -> list[Any]:
        barrier.wait()
        return service.issue_for_payment(order)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(issue, orders))
    invoices = sorted(docs[0].number for docs in results)
    receipts = sorted(docs[1].number for docs in results)
    assert invoices == [f"INV-2026-{n:06d}" for n in range(1, THREADS + 1)]
    assert receipts == [f"RCT-2026-{n:06d}" for n in range(1, THREADS + 1)]
    for order, docs in zip(orders, results, strict=True):
        assert [doc.number for doc in records.list_for_order(order.id) if doc.kind == "invoice"] == [docs[0].number]


def test_concurrent_workers_on_the_same_order_issue_one_invoice(records: DocumentRecords) -> None:
    pdfs = FakePdfStore()
    service = _service(records, pdfs)
    order = paid_order("ord_same")
    barrier = threading.Barrier(THREADS)

    def issue(_: int) -> list[Any]:
        barrier.wait()
        return service.issue_for_payment(order)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(issue, range(THREADS)))
    assert {docs[0].number for docs in results} == {"INV-2026-000001"}
    assert {docs[1].number for docs in results} == {"RCT-2026-000001"}
    documents = records.list_for_order(order.id)
    assert sorted(doc.kind for doc in documents) == ["invoice", "receipt"]
    assert all(doc.pdf_stored for doc in documents)
    # the next order continues the series: no number was burnt by the losers
    assert service.issue_for_payment(paid_order("ord_next", provider_ref="pi_next"))[0].number == "INV-2026-000002"


def test_replays_give_one_invoice_per_paid_order(records: DocumentRecords) -> None:
    service = _service(records)
    orders = [paid_order(f"ord_replay_{i}", provider_ref=f"pi_r{i}") for i in range(5)]
    for _ in range(3):
        for order in orders:
            service.issue_for_payment(order)
    numbers = []
    for order in orders:
        documents = records.list_for_order(order.id)
        assert sorted(doc.kind for doc in documents) == ["invoice", "receipt"]
        numbers += [doc.number for doc in documents if doc.kind == "invoice"]
    assert sorted(numbers) == [f"INV-2026-{n:06d}" for n in range(1, 6)]


# --- DynamoDB only: the single read behind the API route, and real PDFs ------------------------


def test_owner_and_documents_in_one_query(
    dynamodb_local_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.dynamo.documents import DynamoDocumentRecords
    from chalicelib.domain.orders import Payment
    from chalicelib.services.orders import IdempotentRequest
    from tests.integration.test_order_store import _container, _place

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    container = _container(table_name)
    order_id = _place(container)["id"]
    order = container.orders.get(order_id)
    payment = Payment(order.totals.total, "card", "pi_it", AT)
    container.orders.pay(order_id, payment, IdempotentRequest("web", "k1", {}), "storefront:web", lambda o: {})
    order = container.orders.get(order_id)
    container.orders.timeline(order_id, customer_id=None, limit=5, cursor=None)  # EVENT# items exist

    records = DynamoDocumentRecords()
    service = DocumentService(records, FakePdfStore(), FixedClock(), SELLER)  # real PDFs
    issued = service.issue_for_payment(order)
    calls: list[str] = []
    with _calls_on_the_shared_client(records, calls):
        found = records.for_order(order_id)
    assert calls == ["Query"]
    assert found.customer_id == "cus_it"
    assert [doc.number for doc in found.documents] == sorted(doc.number for doc in issued)
    assert records.for_order("ord_missing").customer_id is None
    # issuing is on the order's timeline, written in the same transaction, once
    service.issue_for_payment(order)
    entries, _ = container.orders.timeline(order_id, customer_id="cus_it", limit=100, cursor=None)
    issued_entries = [entry.data for entry in entries if entry.kind == "document_issued"]
    assert sorted(entry["number"] for entry in issued_entries) == sorted(doc.number for doc in issued)


@contextmanager
def _calls_on_the_shared_client(records: Any, calls: list[str]) -> Iterator[None]:
    """Record the DynamoDB operations made meanwhile (on the process's one client), then stop."""
    client = records.connection().client

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", record, unique_id="test-calls")
    try:
        yield
    finally:
        client.meta.events.unregister("before-call.dynamodb", unique_id="test-calls")


def test_issue_reads_nothing_first_and_a_stale_guess_costs_no_number(dynamo_records: DocumentRecords) -> None:
    """The counter is read once per series and container; a record that exists comes back with the
    failed condition (no read); another container's numbers make the guess stale, never a gap."""
    from chalicelib.adapters.dynamo.documents import DocumentItem, DynamoDocumentRecords, SequenceItem

    records = dynamo_records
    assert isinstance(records, DynamoDocumentRecords)
    calls: list[str] = []  # one client serves the repository's transactions and the models' reads
    client = records.connection().client
    assert all(model._get_connection().connection.client is client for model in (DocumentItem, SequenceItem))
    with _calls_on_the_shared_client(records, calls):
        first = records.issue(_new("ord_g1"))
        assert first.number == "INV-2026-000001"
        assert calls == ["GetItem", "TransactWriteItems"]  # the series' counter, read once
        assert records.issue(_new("ord_g2")).number == "INV-2026-000002"
        assert calls[2:] == ["TransactWriteItems"]
        assert records.issue(_new("ord_g1")) == first  # the record, handed back by the cancelled transaction
        assert calls[3:] == ["TransactWriteItems"]

    other = DynamoDocumentRecords()  # another container takes the next numbers meanwhile
    assert [other.issue(_new(f"ord_o{i}")).number for i in range(2)] == ["INV-2026-000003", "INV-2026-000004"]
    assert records.issue(_new("ord_g3")).number == "INV-2026-000005"  # a stale guess: retried from the counter
    numbers = sorted(doc.number for i in range(1, 4) for doc in records.list_for_order(f"ord_g{i}"))
    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000005"]


def test_an_intents_completion_marks_its_documents_stored_in_the_same_write(dynamo_records: DocumentRecords) -> None:
    from datetime import timedelta

    from chalicelib.adapters.dynamo.intents import DynamoIntentRecords
    from chalicelib.services.intents import DOCUMENTS_LANE, DONE, Attempt, Intent

    intents = DynamoIntentRecords()
    invoice, receipt = dynamo_records.issue(_new("ord_m")), dynamo_records.issue(_new("ord_m", "receipt#pi", "RCT"))
    intent = Intent("ord_m", "document", "payment#pi", {"payment": "pi"}, lane=DOCUMENTS_LANE)
    intents.record([intent], now=AT, give_up_at=AT + timedelta(days=1))
    attempt = Attempt(intent, 0, AT, AT + timedelta(days=1))
    intents.complete(attempt, DONE, None, now=AT, stored=[invoice])
    assert intents.statuses("ord_m", [intent.id]) == {intent.id: DONE}
    assert [(d.key, d.pdf_stored) for d in dynamo_records.list_for_order("ord_m")] == [
        ("invoice", True),
        ("receipt#pi", False),  # not named: left as it is
    ]
    # Ended by another worker meanwhile: the PDFs this attempt put are marked all the same.
    intents.complete(attempt, DONE, None, now=AT, stored=[receipt])
    assert all(d.pdf_stored for d in dynamo_records.list_for_order("ord_m"))
