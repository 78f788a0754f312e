"""Document records and their number series in the single table.

  ORDER#<order id> / DOC#invoice                       the order's invoice
  ORDER#<order id> / DOC#receipt#<provider ref>        a payment receipt
  ORDER#<order id> / DOC#credit_note#<refund event>    a credit note
  SEQ#<prefix>#<year> / #SEQ                            a series' last number
A document is also in GSI2 as DOCUMENT#<doc id> / DOCUMENT, so the portal's download
link (which names only the document) finds it, and its order, in one Query.

A number is taken in the same TransactWriteItems that writes the record (and
its `document_issued` timeline entry): the counter moves from n to n+1 only if
it still holds n, and the record is put only if it does not exist. Either both happen or neither, so numbers are
gap-free and unique, and a retry (or a second worker) never takes a second one.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.conditions import CONFLICT, Guarded, cancellation_codes
from chalicelib.adapters.dynamo.models import TableItem, Transactional
from chalicelib.adapters.dynamo.repositories import ORDER_SK, follow_up_key, order_pk, timeline_item
from chalicelib.adapters.dynamo.schema import GSI2
from chalicelib.documents.invoice import KINDS, DocumentKind, format_number
from chalicelib.domain.orders import DomainEvent
from chalicelib.services.documents import (
    DocumentNumberingError,
    IssuedDocument,
    NewDocument,
    OrderDocuments,
)

DOC_PREFIX = "DOC#"
DOC_END = "DOC$"  # '$' sorts right after '#': the upper bound of every DOC# key
SEQ_SK = "#SEQ"
MAX_ATTEMPTS = 200
MAX_BACKOFF_SECONDS = 0.25


class ByDocumentIdIndex(GlobalSecondaryIndex["DocumentItem"]):
    class Meta:
        index_name = GSI2
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


def document_id_pk(document_id: str) -> str:
    return f"DOCUMENT#{document_id}"


class DocumentItem(TableItem):
    """An issued document: pk ORDER#<order id>, sk DOC#<key>. Written once, then only marked stored."""

    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_id = ByDocumentIdIndex()

    id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    key = UnicodeAttribute()
    number = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    total = NumberAttribute()
    currency = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    pdf_stored = BooleanAttribute(default=False)
    reference = UnicodeAttribute(null=True)


class SequenceItem(TableItem):
    """The last number issued in a series: pk SEQ#<prefix>#<year>, sk #SEQ."""

    prefix = UnicodeAttribute(null=True)
    year = NumberAttribute(null=True)
    last = NumberAttribute(null=True)


DOCUMENT_MODELS: tuple[type[TableItem], ...] = (DocumentItem, SequenceItem)


def sequence_pk(prefix: str, year: int) -> str:
    return f"SEQ#{prefix}#{year:04d}"


def document_sk(key: str) -> str:
    return f"{DOC_PREFIX}{key}"


def _document(item: DocumentItem) -> IssuedDocument:
    kind: DocumentKind = next(k for k in KINDS if k == item.kind)
    return IssuedDocument(
        id=item.id,
        order_id=item.order_id,
        kind=kind,
        key=item.key,
        number=item.number,
        issued_at=item.issued_at,
        total=int(item.total),
        currency=item.currency,
        s3_key=item.s3_key,
        pdf_stored=bool(item.pdf_stored),
        reference=item.reference,
    )


def _issued_event(new: NewDocument, number: str) -> DomainEvent:
    """The timeline entry written in the same transaction as the document."""
    data = {"kind": new.kind, "number": number, "document_id": new.id, "total": new.total, "currency": new.currency}
    if new.reference:
        data["reference"] = new.reference
    return DomainEvent("document_issued", new.issued_at, "documents", data)


def stored_update(document: IssuedDocument) -> tuple[DocumentItem, list[Action], Condition]:
    """The update that marks a document's PDF stored, alone or in another write's transaction:
    conditional on the S3 key the record holds."""
    item = DocumentItem(pk=order_pk(document.order_id), sk=document_sk(document.key))
    return item, [DocumentItem.pdf_stored.set(True)], DocumentItem.s3_key == document.s3_key


class _Issued(Exception):
    """The document's record exists already."""


class _NumberTaken(Exception):
    """The series' counter is no longer at the number the transaction was built on."""


class DynamoDocumentRecords(Transactional):
    def __init__(self) -> None:
        # The last number this container saw each series at: the guess its next number is taken with.
        self._series: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        for model in DOCUMENT_MODELS:  # the table may have been re-configured since the last container
            model._connection = None

    def get(self, order_id: str, key: str) -> IssuedDocument | None:
        try:
            return _document(DocumentItem.get(order_pk(order_id), document_sk(key), consistent_read=True))
        except DocumentItem.DoesNotExist:
            return None

    def _last(self, prefix: str, year: int) -> int:
        try:
            item = SequenceItem.get(sequence_pk(prefix, year), SEQ_SK, consistent_read=True)
        except SequenceItem.DoesNotExist:
            return 0
        return int(item.last or 0)

    def issue(self, new: NewDocument) -> IssuedDocument:
        """Next number + record in one transaction, nothing read first on the usual path.

        The counter's condition names the number this container last saw the series at (read once,
        then kept up to date by its own writes), and a failed condition hands back the item as it is:
        the record itself (a retry, another worker — returned as it is) or the counter moved on by
        someone else (the transaction retried with the number after it). Whatever the guess, a number
        is taken only if the counter still held the one before it, so the series stays gap-free."""
        series = (new.prefix, new.year)
        with self._lock:
            last = self._series.get(series)
        if last is None:
            last = self._last(new.prefix, new.year)
        for attempt in range(MAX_ATTEMPTS):
            number = format_number(new.prefix, new.year, last + 1)
            item = DocumentItem(
                pk=order_pk(new.order_id),
                sk=document_sk(new.key),
                type="document",
                gsi2pk=document_id_pk(new.id),
                gsi2sk="DOCUMENT",
                id=new.id,
                order_id=new.order_id,
                kind=new.kind,
                key=new.key,
                number=number,
                issued_at=new.issued_at,
                total=new.total,
                currency=new.currency,
                s3_key=new.s3_key,
                pdf_stored=False,
                reference=new.reference,
            )
            counter = SequenceItem(pk=sequence_pk(new.prefix, new.year), sk=SEQ_SK)
            try:
                with self.transaction() as transaction:
                    guarded = Guarded(transaction)
                    guarded.update(
                        counter,
                        [
                            SequenceItem.last.set(last + 1),
                            SequenceItem.type.set("document_sequence"),
                            SequenceItem.prefix.set(new.prefix),
                            SequenceItem.year.set(new.year),
                        ],
                        condition=(SequenceItem.last == last) if last else SequenceItem.pk.does_not_exist(),
                        error=_NumberTaken,
                        return_old=True,
                    )
                    guarded.save(item, condition=DocumentItem.pk.does_not_exist(), error=_Issued, return_old=True)
                    guarded.save(
                        timeline_item(
                            new.order_id,
                            _issued_event(new, number),
                            follow_up_key(new.cause_version, new.issued_at, f"doc#{new.key}"),
                        )
                    )
            except TransactWriteError as error:
                failed = guarded.failed_items(error)
                issued = [raw for failure, raw in failed if isinstance(failure, _Issued)]
                if issued:  # the record exists: a retry, or another worker got there first
                    existing = _document(DocumentItem.from_raw_data(issued[0])) if issued[0] else None
                    found = existing or self.get(new.order_id, new.key)
                    if found is not None:
                        return found
                    continue  # not readable yet (it cannot be deleted): try again
                taken = [raw for failure, raw in failed if isinstance(failure, _NumberTaken)]
                if taken:  # someone else took that number: go on from the counter as it is now
                    raw = taken[0]
                    last = int(raw["last"]["N"]) if raw and "last" in raw else self._last(new.prefix, new.year)
                    self._saw(series, last)
                    continue
                if CONFLICT not in cancellation_codes(error):
                    raise
                # Another transaction on the counter or this record is in flight: back off, read again.
                time.sleep(random.uniform(0, min(MAX_BACKOFF_SECONDS, 0.004 * 2 ** min(attempt, 8))))  # noqa: S311 - back-off jitter, not cryptography # nosec B311
                last = self._last(new.prefix, new.year)
                continue
            self._saw(series, last + 1)
            return _document(item)
        raise DocumentNumberingError(f"could not take a number in series {new.prefix}-{new.year}")

    def _saw(self, series: tuple[str, int], last: int) -> None:
        """Remember where a series stands (numbers only grow: the highest sight wins)."""
        with self._lock:
            self._series[series] = max(last, self._series.get(series, 0))

    def mark_stored(self, document: IssuedDocument) -> IssuedDocument:
        """Record that the PDF is in S3 (conditional on the key the record holds)."""
        item, actions, condition = stored_update(document)
        item.update(actions=actions, condition=condition)
        return replace(document, pdf_stored=True)

    def by_id(self, document_id: str) -> IssuedDocument | None:
        """One Query on GSI2: the document with this id, wherever its order is."""
        for item in DocumentItem.by_id.query(document_id_pk(document_id), limit=1):
            return _document(item)
        return None

    def list_for_order(self, order_id: str) -> list[IssuedDocument]:
        """One Query: pk ORDER#<id>, sk begins_with DOC#."""
        return [
            _document(item) for item in DocumentItem.query(order_pk(order_id), DocumentItem.sk.startswith(DOC_PREFIX))
        ]

    def for_order(self, order_id: str) -> OrderDocuments:
        """One Query from #ORDER to DOC$: the order item (its owner) and its documents together.

        '#ORDER' < 'DOC#…' < 'DOC$' < 'EVENT#…', so timeline entries are not read."""
        client = self.connection().client
        kwargs: dict[str, Any] = {
            "TableName": TableItem.Meta.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": order_pk(order_id)},
                ":low": {"S": ORDER_SK},
                ":high": {"S": DOC_END},
            },
        }
        customer_id: str | None = None
        documents: list[IssuedDocument] = []
        while True:
            response = client.query(**kwargs)
            for raw in response.get("Items", []):
                sk = raw["sk"]["S"]
                if sk == ORDER_SK:
                    customer_id = raw["customer_id"]["S"]
                elif sk.startswith(DOC_PREFIX):
                    documents.append(_document(DocumentItem.from_raw_data(raw)))
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return OrderDocuments(customer_id=customer_id, documents=documents)
