"""Documents as durable intents: the invoice and receipt of each payment, a credit note per refund.

They run in the documents lane: recorded by the main stream consumer with the rest of the
change, performed by the documents function (its own package: fpdf2, drafthorse, lxml),
which then sends the emails that wait for them.

The intent is recorded with the payment (or refund) before anything is attempted;
performing it issues what is missing (`DocumentService` is idempotent by key). If
S3 is down, the number is taken and the record kept with `pdf_stored=False`; the
retry schedule performs the intent again and the PDF is stored under the same
number — no gap, no duplicate — and the receipt email, which waits for this intent,
follows with both PDFs attached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.documents.invoice import INVOICE, RECEIPT, DocumentError
from chalicelib.domain.orders import DomainEvent, Order, Refund
from chalicelib.observability import get_logger
from chalicelib.services.documents import DocumentService, IssuedDocument
from chalicelib.services.intents import DOCUMENTS_LANE, DONE, Intent, Outcome, PermanentEffectError
from chalicelib.services.ports import OrderReader

DOCUMENT = "document"  # the intent kind


def payment_intent_key(provider_ref: str) -> str:
    return f"payment#{provider_ref}"


def documents_for_payments(order: Order, provider_refs: Sequence[str]) -> tuple[list[str], list[str]]:
    """The documents a receipt email attaches (invoice, receipts) and the intents that issue them."""
    keys = [INVOICE, *(f"{RECEIPT}#{ref}" for ref in provider_refs)]
    return keys, [f"{DOCUMENT}:{payment_intent_key(ref)}" for ref in provider_refs]


@dataclass
class DocumentIntents:
    """Planner and handler of "document" intents."""

    documents: DocumentService
    orders: OrderReader
    # A provider refund a return accounts for (it marks the return refunded): the return's credit note stands.
    claimed_by_return: Callable[[Order, Refund], bool] | None = None

    def plan(self, before: Order | None, after: Order) -> list[Intent]:
        seen_payments = {p.provider_ref for p in before.payments} if before else set()
        seen_refunds = {r.event_id for r in before.refunds} if before else set()
        intents = [
            Intent(
                after.id, DOCUMENT, payment_intent_key(p.provider_ref), {"payment": p.provider_ref}, lane=DOCUMENTS_LANE
            )
            for p in after.payments
            if p.provider_ref not in seen_payments
        ]
        intents += [
            Intent(after.id, DOCUMENT, f"credit_note#{r.event_id}", {"refund": r.event_id}, lane=DOCUMENTS_LANE)
            for r in after.refunds
            if r.event_id not in seen_refunds
        ]
        return intents

    def perform(self, intent: Intent, now: datetime) -> Outcome:
        order = self.orders.get(intent.order_id)
        if order is None:
            raise PermanentEffectError("the order does not exist")
        if intent.cause_version:  # the document's timeline entry follows the change that paid or refunded
            order = replace(order, version=intent.cause_version)
        # PDFs put to S3 by this attempt: marked stored by the intent's completion, in its transaction.
        stored: list[IssuedDocument] = []
        try:
            if "refund" in intent.payload:
                refund = next((r for r in order.refunds if r.event_id == intent.payload["refund"]), None)
                if refund is None:
                    raise PermanentEffectError("the refund is not recorded on the order")
                if self.claimed_by_return is not None and self.claimed_by_return(order, refund):
                    return Outcome(DONE, None, "claimed_by_return")
                self.documents.issue_credit_note(order, refund, unmarked=stored)
            else:
                self.documents.issue_for_payment(order, unmarked=stored)
        except Exception as error:
            self._mark(stored)
            if isinstance(error, DocumentError):  # the document cannot be built: no retry changes that
                raise PermanentEffectError(str(error)) from error
            raise
        return Outcome(DONE, None, "issued", stored=tuple(stored))

    def _mark(self, stored: list[IssuedDocument]) -> None:
        """The attempt failed after storing some PDFs: mark those now, so no retry renders them again."""
        for document in stored:
            try:
                self.documents.records.mark_stored(document)
            except Exception:  # the attempt's own error is the one to report; a retry stores it again
                get_logger().warning(
                    "document stored but not marked", extra={"order_id": document.order_id, "number": document.number}
                )

    def failed(self, intent: Intent, reason: str, now: datetime) -> DomainEvent:
        return DomainEvent("document_failed", now, "documents", {"document": intent.key, "reason": reason})
