"""The credit note of a received return: one row per returned line (and shipping), totalling the refund."""

from __future__ import annotations

from datetime import datetime

from chalicelib.documents.invoice import CreditNote, DocumentError, Invoice, Party, Row, TaxLine
from chalicelib.domain.orders import Order
from chalicelib.domain.returns import Return


def build_return_credit_note(
    order: Order, ret: Return, *, invoice: Invoice, seller: Party, number: str, issued_at: datetime
) -> CreditNote:
    """Rows: each line's refund (net and tax as quoted), then shipping per rate; taxes per rate as quoted.

    The note's total is exactly minus the return's refund amount."""
    if not ret.refund_amount or not ret.refund_taxes:
        raise DocumentError(f"return {ret.id} has no refund to credit")
    rows: list[Row] = []
    goods_by_rate: dict[int, tuple[int, int]] = {}
    for line in ret.lines:
        if not line.refund_amount:
            continue
        net = line.refund_amount - line.refund_tax
        unit = net // line.quantity if line.quantity and net % line.quantity == 0 else None
        rows.append(
            Row(
                "item",
                line.name or line.sku,
                line.tax_rate_bps,
                -net,
                -line.refund_tax,
                line.sku,
                line.quantity,
                -unit if unit is not None else None,
            )
        )
        before = goods_by_rate.get(line.tax_rate_bps, (0, 0))
        goods_by_rate[line.tax_rate_bps] = (before[0] + net, before[1] + line.refund_tax)
    for rate, net, tax in ret.refund_taxes:
        goods_net, goods_tax = goods_by_rate.get(rate, (0, 0))
        if net - goods_net or tax - goods_tax:
            rows.append(Row("shipping", order.shipping_method, rate, -(net - goods_net), -(tax - goods_tax)))
    taxes = tuple(TaxLine(rate, -net, -tax) for rate, net, tax in ret.refund_taxes)
    note = CreditNote(
        number=number,
        issued_at=issued_at,
        order_id=order.id,
        currency=order.currency,
        seller=seller,
        buyer=invoice.buyer,
        invoice_number=invoice.number,
        refund_ref=ret.number,
        refunded_at=ret.received_at or issued_at,
        rows=tuple(rows),
        taxes=taxes,
        full=False,
        locale=invoice.locale,
        order_number=order.reference,
    )
    if note.total != -ret.refund_amount:  # pragma: no cover - guards the quote and the note drifting apart
        raise DocumentError(f"credit note total {note.total} differs from the refund {ret.refund_amount}")
    return note
