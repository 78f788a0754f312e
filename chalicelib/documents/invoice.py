"""Invoices, payment receipts and credit notes: immutable documents built from an order.

Pure arithmetic on integer minor units; every split goes through
`chalicelib.domain.money` (compute_totals, allocate, tax_for), so a document's
rows always add up to the order's totals to the cent:

* Each rate's tax is the one `compute_totals` charged on the order. Within a
  rate it is spread over the rows that make up the rate's taxable amount —
  item lines and the rate's shipping share get a positive part (allocated by
  net), the rate's discount share carries `−tax_for(discount)` — so every row
  shows roughly `net × rate` and the rows of a rate sum to that rate's tax.
* A credit note credits a refund across the rates in proportion to what is
  still uncredited (net and tax alike), so a series of partial refunds ends at
  exactly the invoice's amounts; a full refund is the invoice row by row, negated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chalicelib.domain.address import Address
from chalicelib.domain.money import allocate, tax_for
from chalicelib.domain.orders import Order, Payment, Refund

DocumentKind = Literal["invoice", "receipt", "credit_note"]
INVOICE: DocumentKind = "invoice"
RECEIPT: DocumentKind = "receipt"
CREDIT_NOTE: DocumentKind = "credit_note"
KINDS: tuple[DocumentKind, ...] = (INVOICE, RECEIPT, CREDIT_NOTE)


class DocumentError(ValueError):
    """A document cannot be built from this order (not paid, unknown refund …)."""


def format_number(prefix: str, year: int, sequence: int) -> str:
    """The printed number of a document: `INV-2026-000123`."""
    if sequence < 1:
        raise ValueError("document sequence numbers start at 1")
    return f"{prefix}-{year:04d}-{sequence:06d}"


@dataclass(frozen=True)
class Party:
    """Seller or buyer as printed on a document."""

    name: str
    address: tuple[str, ...]  # street, postal code and city …; the country separately
    vat_id: str | None = None
    email: str | None = None
    country: str | None = None  # ISO 3166 code, printed in the reader's language
    postal: Address | None = None  # the structured address the e-invoice needs (BG-5 / BG-8 / BG-15)
    contact: str | None = None  # the person at a company buyer


def buyer_of(order: Order) -> Party:
    """The buyer: the company (if any) or the customer, at the billing address (default: shipping)."""
    customer = order.customer
    billing = order.billing_address or order.shipping_address
    company = customer.company
    return Party(
        name=company or customer.name,
        address=address_lines(billing),
        vat_id=customer.vat_id,
        email=customer.email,
        country=billing.country,
        postal=billing,
        contact=customer.name if company else None,
    )


def ship_to_of(order: Order) -> Party | None:
    """The delivery address, when it is not the billing address (BG-13 / BG-15)."""
    if order.billing_address is None or order.billing_address == order.shipping_address:
        return None
    address = order.shipping_address
    return Party(name=address.name, address=address_lines(address), country=address.country, postal=address)


def supplied_at(order: Order) -> datetime:
    """The date of supply (BT-72): when dispatch started, before that the planned dispatch date.

    A shipped supply happens where and when the dispatch begins (§ 3 (6) UStG, Art. 32 VAT Directive).
    """
    return order.first_shipped_at or order.ship_by


def address_lines(address: Address) -> tuple[str, ...]:
    lines = [address.name, address.line1, address.line2 or ""]
    city = " ".join(part for part in (address.postal_code, address.city) if part)
    lines += [city, address.region or ""]
    return tuple(line for line in lines if line and line.strip())


@dataclass(frozen=True)
class Row:
    """One row of a document's table: an item line, a discount, shipping or a credited amount."""

    kind: Literal["item", "discount", "shipping", "refund"]
    description: str
    tax_rate_bps: int
    net: int
    tax: int
    sku: str | None = None
    quantity: int | None = None
    unit_price: int | None = None

    @property
    def gross(self) -> int:
        return self.net + self.tax

    def negated(self) -> Row:
        return Row(
            self.kind,
            self.description,
            self.tax_rate_bps,
            -self.net,
            -self.tax,
            self.sku,
            self.quantity,
            -self.unit_price if self.unit_price is not None else None,
        )


@dataclass(frozen=True)
class TaxLine:
    """Tax at one rate: its taxable net and the tax on it."""

    rate_bps: int
    net: int
    tax: int

    @property
    def gross(self) -> int:
        return self.net + self.tax


@dataclass(frozen=True)
class Invoice:
    number: str
    issued_at: datetime
    order_id: str
    currency: str
    seller: Party
    buyer: Party
    rows: tuple[Row, ...]
    taxes: tuple[TaxLine, ...]
    subtotal: int  # goods, before discounts
    discount_total: int
    shipping_fee: int
    tax_total: int
    total: int
    locale: str = "en"  # the customer's: wording, money and date formats
    paid_with: str | None = None  # payment method when the invoice is issued on payment
    kind: DocumentKind = INVOICE
    supplied_at: datetime | None = None  # date of supply (BT-72), printed too
    payment_ref: str | None = None  # the payment's reference (BT-83)
    buyer_reference: str | None = None  # the buyer's routing reference (BT-10), e.g. a Leitweg-ID
    ship_to: Party | None = None  # delivery address when it differs from the billing address
    order_number: str = ""  # the order's human number: what the customer knows the order by

    @property
    def net_total(self) -> int:
        return self.subtotal - self.discount_total + self.shipping_fee

    @property
    def items(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.kind == "item")


@dataclass(frozen=True)
class Receipt:
    number: str
    issued_at: datetime
    order_id: str
    currency: str
    seller: Party
    buyer: Party
    amount: int
    method: str
    provider_ref: str
    paid_at: datetime
    invoice_number: str | None = None
    locale: str = "en"  # the customer's: wording, money and date formats
    kind: DocumentKind = RECEIPT
    order_number: str = ""  # the order's human number: what the customer knows the order by

    @property
    def total(self) -> int:
        return self.amount


@dataclass(frozen=True)
class CreditNote:
    number: str
    issued_at: datetime
    order_id: str
    currency: str
    seller: Party
    buyer: Party
    invoice_number: str
    refund_ref: str
    refunded_at: datetime
    rows: tuple[Row, ...]
    taxes: tuple[TaxLine, ...]  # negative amounts
    full: bool  # the whole invoice is credited by this note alone
    locale: str = "en"  # the customer's: wording, money and date formats
    kind: DocumentKind = CREDIT_NOTE
    invoice_issued_at: datetime | None = None  # the credited invoice's date (BT-26)
    supplied_at: datetime | None = None  # the credited supply's date (BT-72)
    buyer_reference: str | None = None
    ship_to: Party | None = None
    order_number: str = ""  # the order's human number: what the customer knows the order by

    @property
    def net_total(self) -> int:
        return sum(tax.net for tax in self.taxes)

    @property
    def tax_total(self) -> int:
        return sum(tax.tax for tax in self.taxes)

    @property
    def total(self) -> int:
        return self.net_total + self.tax_total


Document = Invoice | Receipt | CreditNote


# --- invoice ------------------------------------------------------------------------------


def build_invoice(order: Order, *, seller: Party, number: str, issued_at: datetime) -> Invoice:
    """The invoice of an order; its rows and per-rate taxes add up to `order.totals` exactly."""
    totals = order.totals
    gross_by_rate: dict[int, int] = {}
    for line in order.lines:
        gross_by_rate[line.tax_rate_bps] = gross_by_rate.get(line.tax_rate_bps, 0) + line.line_total
    rates = sorted(gross_by_rate)
    goods = [gross_by_rate[rate] for rate in rates]
    # The same splits compute_totals makes (same inputs, same deterministic allocation).
    discount_shares = allocate(totals.discount_total, goods)
    shipping_shares = allocate(totals.shipping_fee, goods)
    breakdown = {tax.rate_bps: tax for tax in totals.taxes}

    item_rows: dict[int, Row] = {}  # by line index, to keep the order's line order
    discount_rows: list[Row] = []
    shipping_rows: list[Row] = []
    codes = ", ".join(discount.code for discount in order.discounts)
    for rate, value, off, ship in zip(rates, goods, discount_shares, shipping_shares, strict=True):
        rate_tax = breakdown[rate]
        if rate_tax.net != value - off + ship:  # pragma: no cover - guards against money.py drifting
            raise AssertionError("invoice splits disagree with compute_totals")
        discount_tax = tax_for(off, rate)
        positive_tax = rate_tax.tax + discount_tax
        indexes = [i for i, line in enumerate(order.lines) if line.tax_rate_bps == rate]
        weights = [order.lines[i].line_total for i in indexes] + [ship]
        shares = allocate(positive_tax, weights)
        for i, share in zip(indexes, shares, strict=False):
            line = order.lines[i]
            item_rows[i] = Row(
                "item",
                line.name or line.sku,
                rate,
                line.line_total,
                share,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
        if off:
            discount_rows.append(Row("discount", codes, rate, -off, -discount_tax))
        if ship:
            shipping_rows.append(Row("shipping", order.shipping_method, rate, ship, shares[-1]))
    rows = tuple(item_rows[i] for i in range(len(order.lines))) + tuple(discount_rows) + tuple(shipping_rows)
    payment = order.payments[-1] if order.payments else None
    return Invoice(
        number=number,
        issued_at=issued_at,
        order_id=order.id,
        currency=order.currency,
        seller=seller,
        buyer=buyer_of(order),
        rows=rows,
        taxes=tuple(TaxLine(tax.rate_bps, tax.net, tax.tax) for tax in totals.taxes),
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        shipping_fee=totals.shipping_fee,
        tax_total=totals.tax_total,
        total=totals.total,
        locale=order.customer.locale,
        paid_with=payment.method if payment else None,
        supplied_at=supplied_at(order),
        payment_ref=payment.provider_ref if payment else None,
        buyer_reference=order.buyer_reference,
        ship_to=ship_to_of(order),
        order_number=order.reference,
    )


# --- receipt ------------------------------------------------------------------------------


def build_receipt(
    order: Order,
    payment: Payment,
    *,
    seller: Party,
    number: str,
    issued_at: datetime,
    invoice_number: str | None,
) -> Receipt:
    """A receipt for one payment of the order."""
    if payment not in order.payments:
        raise DocumentError(f"payment '{payment.provider_ref}' is not a payment of order {order.id}")
    return Receipt(
        number=number,
        issued_at=issued_at,
        order_id=order.id,
        currency=order.currency,
        seller=seller,
        buyer=buyer_of(order),
        amount=payment.amount,
        method=payment.method,
        provider_ref=payment.provider_ref,
        paid_at=payment.paid_at,
        invoice_number=invoice_number,
        order_number=order.reference,
        locale=order.customer.locale,
    )


# --- credit note --------------------------------------------------------------------------


def credit_split(invoice: Invoice, refunds: Sequence[int]) -> list[tuple[TaxLine, ...]]:
    """Per refund (in order), the positive net and tax credited at each rate.

    Each refund is spread over what is still uncredited: first over the rates by
    remaining gross, then within a rate over remaining net and tax. Amounts
    credited never exceed what was invoiced, and once the refunds reach the
    invoice total, exactly the invoiced net and tax have been credited.
    """
    remaining = {tax.rate_bps: (tax.net, tax.tax) for tax in invoice.taxes}
    rates = sorted(remaining)
    result: list[tuple[TaxLine, ...]] = []
    for amount in refunds:
        left = sum(net + tax for net, tax in remaining.values())
        if amount <= 0 or amount > left:
            raise DocumentError(f"a refund of {amount} exceeds what is left to credit ({left})")
        per_rate = allocate(amount, [sum(remaining[rate]) for rate in rates])
        credited: list[TaxLine] = []
        for rate, gross in zip(rates, per_rate, strict=True):
            net_left, tax_left = remaining[rate]
            net, tax = allocate(gross, [net_left, tax_left]) if gross else (0, 0)
            remaining[rate] = (net_left - net, tax_left - tax)
            if gross:
                credited.append(TaxLine(rate, net, tax))
        result.append(tuple(credited))
    return result


def build_credit_note(
    order: Order,
    refund: Refund,
    *,
    invoice: Invoice,
    seller: Party,
    number: str,
    issued_at: datetime,
) -> CreditNote:
    """The credit note for one refund of the order, referencing its invoice."""
    position = next((i for i, r in enumerate(order.refunds) if r.event_id == refund.event_id), None)
    if position is None:
        raise DocumentError(f"refund '{refund.event_id}' is not a refund of order {order.id}")
    amounts = [r.amount for r in order.refunds[: position + 1]]
    full = position == 0 and refund.amount == invoice.total
    if full:
        rows = tuple(row.negated() for row in invoice.rows)
        taxes = tuple(TaxLine(tax.rate_bps, -tax.net, -tax.tax) for tax in invoice.taxes)
    else:
        credited = credit_split(invoice, amounts)[-1]
        taxes = tuple(TaxLine(line.rate_bps, -line.net, -line.tax) for line in credited)
        rows = tuple(Row("refund", refund.provider_ref, line.rate_bps, line.net, line.tax) for line in taxes)
    return CreditNote(
        number=number,
        issued_at=issued_at,
        order_id=order.id,
        currency=order.currency,
        seller=seller,
        buyer=invoice.buyer,
        invoice_number=invoice.number,
        refund_ref=refund.provider_ref,
        refunded_at=refund.refunded_at,
        rows=rows,
        taxes=taxes,
        full=full,
        locale=invoice.locale,
        invoice_issued_at=invoice.issued_at,
        supplied_at=invoice.supplied_at,
        buyer_reference=invoice.buyer_reference,
        ship_to=invoice.ship_to,
        order_number=order.reference,
    )
