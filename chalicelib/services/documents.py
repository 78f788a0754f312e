"""Issue, store and hand out invoices, receipts and credit notes — once per business event.

Flow for each document: take the next number of its series and write its record
in one transaction (`DocumentRecords.issue`: one record per order for the invoice,
one per payment for a receipt, one per refund event for a credit note; an existing
record is returned instead, so nothing is read first); then, if the record says the PDF is not stored yet,
render it and put it to S3 under the key the record already holds, and mark it
stored. A retry or a replayed stream record at any point finds the record and
only finishes what is missing, so numbers are never burnt or duplicated and a
document is never issued twice.

The content is validated (built once with a placeholder number) before a number
is taken, so a document that cannot be built never consumes a number.

Invoices and credit notes are also EN 16931 e-invoices: the renderer returns
the CII XML with the PDF (which embeds it, Factur-X), both from the same
document. Before anything is stored the XML's totals are compared with the
document's; on a mismatch nothing is stored, the record stays unstored (a
retry after the fix issues it under the same number), the error is logged
without personal data and the `EInvoiceTotalsMismatch` metric fires the alarm.
The bare XML is stored next to the PDF (same random key, `.xml`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.documents.einvoice import PROFILE, EInvoiceError, EInvoiceOptions, TotalsMismatchError
from chalicelib.documents.invoice import (
    CREDIT_NOTE,
    INVOICE,
    RECEIPT,
    CreditNote,
    Document,
    DocumentError,
    DocumentKind,
    Invoice,
    Party,
    build_credit_note,
    build_invoice,
    build_receipt,
)
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.ids import has_prefix, new_id
from chalicelib.domain.orders import Order, Payment, Refund
from chalicelib.domain.returns import Return
from chalicelib.services.ports import MAX_URL_SECONDS, Clock, DocumentRecords, PdfStore

PDF = "application/pdf"
XML = "application/xml"
TOTALS_MISMATCH_METRIC = "EInvoiceTotalsMismatch"
E_INVOICE_KINDS = (INVOICE, CREDIT_NOTE)


@dataclass(frozen=True)
class IssuedDocument:
    """The stored record of an issued document (immutable apart from `pdf_stored`)."""

    id: str
    order_id: str
    kind: DocumentKind
    key: str  # unique per order: "invoice", "receipt#<provider ref>", "credit_note#<refund event id>"
    number: str
    issued_at: datetime
    total: int  # minor units; negative for a credit note
    currency: str
    s3_key: str
    pdf_stored: bool = False
    reference: str | None = None  # the invoice number a receipt or credit note refers to

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"

    @property
    def e_invoice(self) -> str | None:
        """The e-invoice profile of invoices and credit notes; receipts are none."""
        return PROFILE if self.kind in E_INVOICE_KINDS else None

    @property
    def xml_key(self) -> str:
        return xml_key(self.s3_key)


def xml_key(pdf_key: str) -> str:
    """The bare XML lives next to its PDF, under the same unguessable name."""
    return pdf_key.removesuffix(".pdf") + ".xml"


@dataclass(frozen=True)
class Rendered:
    """A rendered document: the PDF and, for e-invoices, the CII XML it embeds."""

    pdf: bytes
    xml: bytes | None = None


@dataclass(frozen=True)
class NewDocument:
    """What to record when a document is issued; the number is assigned by the records."""

    id: str
    order_id: str
    kind: DocumentKind
    key: str
    prefix: str
    year: int
    issued_at: datetime
    total: int
    currency: str
    s3_key: str
    reference: str | None = None
    cause_version: int = 0  # the order version whose change issued it: its timeline entry follows that change


@dataclass(frozen=True)
class OrderDocuments:
    """An order's owner (None: no such order) and its documents, from one read."""

    customer_id: str | None
    documents: list[IssuedDocument]


class DocumentNumberingError(Exception):
    """The next number could not be taken after many conflicting attempts; retry later."""


@dataclass(frozen=True)
class Series:
    invoice: str = "INV"
    receipt: str = "RCT"
    credit_note: str = "CN"


RECENT_PDFS = 32  # PDFs kept in memory after storing them, for the email that attaches them next
_RECENT_LOCK = threading.Lock()


def _default_renderer(paper: str, timezone: str, einvoice: EInvoiceOptions) -> Callable[[Document], Rendered]:
    def render(document: Document) -> Rendered:
        # fpdf2, drafthorse and lxml only when a document is made
        from chalicelib.documents.einvoice import build_cii
        from chalicelib.documents.pdf import RenderOptions, render_pdf

        options = RenderOptions(paper=paper, timezone=timezone, einvoice=einvoice)
        if isinstance(document, Invoice | CreditNote):
            xml = build_cii(document, einvoice)
            return Rendered(render_pdf(document, options, xml=xml), xml)
        return Rendered(render_pdf(document, options))

    return render


def _check_totals(document: Document, rendered: Rendered, einvoice: EInvoiceOptions) -> None:
    if not isinstance(document, Invoice | CreditNote):
        return
    from chalicelib.documents.einvoice import check_totals

    if rendered.xml is None:
        raise TotalsMismatchError("an invoice or credit note was rendered without its e-invoice XML")
    check_totals(rendered.xml, document, einvoice)


def _alarm_metric(name: str) -> None:
    from chalicelib.observability import emit_count

    emit_count(name)


@dataclass
class DocumentService:
    records: DocumentRecords
    pdfs: PdfStore
    clock: Clock
    seller: Party
    series: Series = Series()
    timezone: str = "Europe/Berlin"
    paper: str = "A4"
    renderer: Callable[[Document], Rendered] | None = None
    url_seconds: int = MAX_URL_SECONDS
    einvoice: EInvoiceOptions = field(default_factory=EInvoiceOptions)
    alarm: Callable[[str], None] = _alarm_metric
    _recent: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)  # s3 key -> PDF, oldest first
    # (order id, key) -> its stored record, oldest first: the attachments of the email that follows
    _recent_records: dict[tuple[str, str], IssuedDocument] = field(default_factory=dict, init=False, repr=False)

    def render(self, document: Document) -> Rendered:
        renderer = self.renderer or _default_renderer(self.paper, self.timezone, self.einvoice)
        return renderer(document)

    # --- issuing ------------------------------------------------------------------------

    def issue_for_payment(self, order: Order, *, unmarked: list[IssuedDocument] | None = None) -> list[IssuedDocument]:
        """The invoice and one receipt per payment of a paid order (existing ones are returned).

        `unmarked`: see `_ensure`."""
        if not order.payments:
            raise DocumentError(f"order {order.id} has no payment to invoice")
        invoice = self._ensure_invoice(order, unmarked)
        return [invoice, *(self._ensure_receipt(order, payment, invoice, unmarked) for payment in order.payments)]

    def issue_credit_note(
        self, order: Order, refund: Refund, *, unmarked: list[IssuedDocument] | None = None
    ) -> IssuedDocument:
        """The credit note for one refund, referencing the order's invoice (issued first if missing).

        `unmarked`: see `_ensure`."""
        if not any(existing.event_id == refund.event_id for existing in order.refunds):
            raise DocumentError(f"refund '{refund.event_id}' is not recorded on order {order.id}")
        invoice_record = self._ensure_invoice(order, unmarked)
        invoice = self._invoice(order, invoice_record)

        def build(number: str, issued_at: datetime) -> Document:
            return build_credit_note(
                order, refund, invoice=invoice, seller=self.seller, number=number, issued_at=issued_at
            )

        return self._ensure(
            order,
            kind=CREDIT_NOTE,
            key=f"{CREDIT_NOTE}#{refund.event_id}",
            prefix=self.series.credit_note,
            total=-refund.amount,
            reference=invoice_record.number,
            build=build,
            unmarked=unmarked,
        )

    def issue_return_credit_note(self, order: Order, ret: Return) -> IssuedDocument:
        """The credit note for a received return's refund (one per return), referencing the invoice."""
        from chalicelib.documents.return_credit import build_return_credit_note

        invoice_record = self._ensure_invoice(order)
        invoice = self._invoice(order, invoice_record)

        def build(number: str, issued_at: datetime) -> Document:
            return build_return_credit_note(
                order, ret, invoice=invoice, seller=self.seller, number=number, issued_at=issued_at
            )

        return self._ensure(
            order,
            kind=CREDIT_NOTE,
            key=f"{CREDIT_NOTE}#{ret.id}",
            prefix=self.series.credit_note,
            total=-(ret.refund_amount or 0),
            reference=invoice_record.number,
            build=build,
        )

    def issue_for_refunds(self, order: Order) -> list[IssuedDocument]:
        """A credit note for every refund of the order (for replays and sweeps)."""
        return [self.issue_credit_note(order, refund) for refund in order.refunds]

    def _ensure_invoice(self, order: Order, unmarked: list[IssuedDocument] | None = None) -> IssuedDocument:
        def build(number: str, issued_at: datetime) -> Document:
            return build_invoice(order, seller=self.seller, number=number, issued_at=issued_at)

        return self._ensure(
            order,
            kind=INVOICE,
            key=INVOICE,
            prefix=self.series.invoice,
            total=order.totals.total,
            reference=None,
            build=build,
            unmarked=unmarked,
        )

    def _ensure_receipt(
        self, order: Order, payment: Payment, invoice: IssuedDocument, unmarked: list[IssuedDocument] | None
    ) -> IssuedDocument:
        def build(number: str, issued_at: datetime) -> Document:
            return build_receipt(
                order, payment, seller=self.seller, number=number, issued_at=issued_at, invoice_number=invoice.number
            )

        return self._ensure(
            order,
            kind=RECEIPT,
            key=f"{RECEIPT}#{payment.provider_ref}",
            prefix=self.series.receipt,
            total=payment.amount,
            reference=invoice.number,
            build=build,
            unmarked=unmarked,
        )

    def _invoice(self, order: Order, record: IssuedDocument) -> Invoice:
        return build_invoice(order, seller=self.seller, number=record.number, issued_at=record.issued_at)

    def _ensure(
        self,
        order: Order,
        *,
        kind: DocumentKind,
        key: str,
        prefix: str,
        total: int,
        reference: str | None,
        build: Callable[[str, datetime], Document],
        unmarked: list[IssuedDocument] | None = None,
    ) -> IssuedDocument:
        """Issue (or find) the document and store its PDF if the record says it is not stored yet.

        `unmarked` given: a PDF put to S3 here is not marked stored on its record; the record is
        appended to `unmarked` instead and returned as stored, for the caller to mark in a write
        of its own (the document intent's completion). Until then a retry renders it again and
        puts it under the same key, as after a failed `mark_stored`."""
        now = self.clock.now()
        try:
            build("PENDING", now)  # raises before a number is taken if the document cannot be built
        except DocumentError:
            found = self.records.get(order.id, key)  # issued before: finish it as it is (or fail as before)
            if found is None:
                raise
            record = found
        else:
            # No read first: `issue` hands back the record if there is one (a retry, a replay, another worker).
            record = self.records.issue(
                NewDocument(
                    id=new_id("doc", now),
                    order_id=order.id,
                    kind=kind,
                    key=key,
                    prefix=prefix,
                    year=now.astimezone(ZoneInfo(self.timezone)).year,
                    issued_at=now,
                    total=total,
                    currency=order.currency,
                    s3_key=self.pdfs.new_key(order.id),
                    reference=reference,
                    cause_version=order.version,
                )
            )
        if not record.pdf_stored:
            document = build(record.number, record.issued_at)
            try:
                rendered = self.render(document)
                _check_totals(document, rendered, self.einvoice)
            except EInvoiceError as error:
                from chalicelib.observability import get_logger

                # No names, addresses or amounts: the order id, the number and which totals differ.
                get_logger().error(
                    "e-invoice check failed: document not issued",
                    extra={"order_id": order.id, "number": record.number, "kind": kind, "error": str(error)},
                )
                self.alarm(TOTALS_MISMATCH_METRIC)
                raise
            ids = {"order_id": order.id, "document_id": record.id, "number": record.number}
            if rendered.xml is not None:
                self.pdfs.put_xml(record.xml_key, rendered.xml, **ids)
            self.pdfs.put_pdf(record.s3_key, rendered.pdf, **ids)
            self._just_stored(record.s3_key, rendered.pdf)
            if unmarked is None:
                record = self.records.mark_stored(record)
            else:
                unmarked.append(record)
                record = replace(record, pdf_stored=True)
        self._seen(record)
        return record

    # --- reading ------------------------------------------------------------------------

    def list_for_order(self, order_id: str) -> list[IssuedDocument]:
        """Every document of an order (one Query), invoice first, then by key."""
        return self.records.list_for_order(order_id)

    def for_customer(self, order_id: str, customer_id: str | None) -> list[IssuedDocument]:
        """The documents of an order its caller may see (customer_id None: staff); else 404.

        One read: the order item and its documents come from the same Query.
        """
        if not has_prefix(order_id, "ord"):
            raise NotFoundError("order not found")
        found = self.records.for_order(order_id)
        if found.customer_id is None or (customer_id is not None and found.customer_id != customer_id):
            raise NotFoundError("order not found")
        return found.documents

    def download_url(self, document: IssuedDocument) -> str | None:
        """A presigned GET valid for at most 300 s; None while the PDF is not stored yet.

        Call it only after the ownership check (`for_customer`)."""
        if not document.pdf_stored:
            return None
        seconds = min(self.url_seconds, MAX_URL_SECONDS)
        return self.pdfs.presigned_url(document.s3_key, filename=document.filename, expires_in=seconds)

    def xml_url(self, document: IssuedDocument) -> str | None:
        """A presigned GET (≤ 300 s) of the bare CII XML of an invoice or credit note; None otherwise.

        Call it only after the ownership check (`for_customer`)."""
        if not document.pdf_stored or document.e_invoice is None:
            return None
        seconds = min(self.url_seconds, MAX_URL_SECONDS)
        return self.pdfs.presigned_url(
            document.xml_key, filename=f"{document.number}.xml", expires_in=seconds, content_type=XML
        )

    def email_attachments(self, documents: list[IssuedDocument]) -> list[dict[str, str]]:
        """Attachment references for a notification payload: S3 keys, not bytes (items stay small)."""
        return [
            {"filename": document.filename, "content_type": PDF, "s3_key": document.s3_key}
            for document in documents
            if document.pdf_stored
        ]

    def attachments_for(self, order_id: str, keys: Sequence[str]) -> list[dict[str, str]]:
        """Attachment references for the stored documents of an order among `keys` (one Query, none
        when this container has just issued and stored them all: the receipt email follows its documents)."""
        with _RECENT_LOCK:
            known = [self._recent_records.get((order_id, key)) for key in dict.fromkeys(keys)]
        if all(document is not None and document.pdf_stored for document in known):
            # by key, as the Query returns them
            return self.email_attachments(sorted((d for d in known if d is not None), key=lambda d: d.key))
        wanted = set(keys)
        return self.email_attachments([d for d in self.records.list_for_order(order_id) if d.key in wanted])

    def attachment_data(self, reference: dict[str, str]) -> bytes:
        """The PDF bytes behind an attachment reference (for the mailer, at send time).

        A PDF this container stored a moment ago (the receipt email follows its documents)
        is not read back from S3: the bytes are the ones stored, keys are never reused."""
        with _RECENT_LOCK:
            data = self._recent.get(reference["s3_key"])
        return data if data is not None else self.pdfs.get_pdf(reference["s3_key"])

    def _seen(self, record: IssuedDocument) -> None:
        """Keep a stored record at hand (records never change once stored; keys are never reused)."""
        if not record.pdf_stored:
            return
        with _RECENT_LOCK:
            self._recent_records.pop((record.order_id, record.key), None)
            self._recent_records[(record.order_id, record.key)] = record
            while len(self._recent_records) > RECENT_PDFS:
                self._recent_records.pop(next(iter(self._recent_records)))  # the oldest

    def _just_stored(self, key: str, data: bytes) -> None:
        with _RECENT_LOCK:
            self._recent[key] = data
            while len(self._recent) > RECENT_PDFS:
                self._recent.pop(next(iter(self._recent)))  # the oldest
