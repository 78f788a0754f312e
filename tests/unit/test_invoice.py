"""Invoice, receipt and credit-note arithmetic: every row adds up to the order's totals to the cent."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.documents.invoice import (
    DocumentError,
    Invoice,
    build_credit_note,
    build_invoice,
    build_receipt,
    credit_split,
    format_number,
)
from chalicelib.domain.orders import Order, OrderLine, Refund
from tests.document_fakes import AT, SELLER, paid_order, refunded


def invoice_of(order: Order) -> Invoice:
    return build_invoice(order, seller=SELLER, number="INV-2026-000001", issued_at=AT)


def assert_reconciles(order: Order, invoice: Invoice) -> None:
    totals = order.totals
    assert sum(row.net for row in invoice.rows) == totals.subtotal - totals.discount_total + totals.shipping_fee
    assert sum(row.tax for row in invoice.rows) == totals.tax_total
    assert sum(row.gross for row in invoice.rows) == totals.total == invoice.total
    assert invoice.net_total + invoice.tax_total == invoice.total
    for tax in invoice.taxes:
        at_rate = [row for row in invoice.rows if row.tax_rate_bps == tax.rate_bps]
        assert sum(row.net for row in at_rate) == tax.net
        assert sum(row.tax for row in at_rate) == tax.tax


def test_format_number() -> None:
    assert format_number("INV", 2026, 123) == "INV-2026-000123"
    assert format_number("CN", 2026, 7) == "CN-2026-000007"
    with pytest.raises(ValueError, match="start at 1"):
        format_number("INV", 2026, 0)


def test_single_rate_invoice_lines() -> None:
    order = paid_order(lines=[OrderLine("MUG-1", 2, 1299, 1900, "Mug")], discount=0, shipping_fee=0)
    invoice = invoice_of(order)
    (row,) = invoice.rows
    assert (row.sku, row.description, row.quantity, row.unit_price, row.tax_rate_bps) == ("MUG-1", "Mug", 2, 1299, 1900)
    assert (row.net, row.tax) == (2598, 494)  # 25.98 × 19 % = 4.9362 → 4.94
    assert invoice.total == 3092 == order.totals.total
    assert invoice.seller == SELLER
    assert invoice.buyer.name == "Zoë Ñúñez" and invoice.buyer.country == "ES"
    assert invoice.buyer.address == ("Zoë Ñúñez", "Calle Mayor 5, 3º B", "28013 Madrid")
    assert invoice.paid_with == "card"
    assert_reconciles(order, invoice)


def test_line_taxes_are_allocated_so_they_sum_to_the_rate_tax() -> None:
    # Three lines of 0.05 at 19 %: each alone would round 0.0095 → 0.01 (0.03 in all), but the
    # rate's tax is 19 % of 0.15 = 0.0285 → 0.03; with 0.10 lines the naive sum would drift.
    lines = [OrderLine(f"S{i}", 1, 5, 1900, f"Item {i}") for i in range(7)]
    order = paid_order(lines=lines, discount=0, shipping_fee=0)
    invoice = invoice_of(order)
    assert order.totals.tax_total == 7  # 0.35 × 19 % = 0.0665 → 0.07
    assert [row.tax for row in invoice.rows] == [1, 1, 1, 1, 1, 1, 1]
    assert_reconciles(order, invoice)
    lines = [OrderLine(f"S{i}", 1, 2, 1900, f"Item {i}") for i in range(3)]  # 0.38 % each → 0
    order = paid_order(lines=lines, discount=0, shipping_fee=0)
    invoice = invoice_of(order)
    assert order.totals.tax_total == 1  # 0.06 × 19 % = 0.0114 → 0.01
    assert sum(row.tax for row in invoice.rows) == 1
    assert_reconciles(order, invoice)


def test_half_cent_rounds_up() -> None:
    order = paid_order(lines=[OrderLine("A", 1, 50, 1000, "A")], discount=0, shipping_fee=0)  # 0.50 × 10 % = 0.05
    assert invoice_of(order).rows[0].tax == 5
    order = paid_order(lines=[OrderLine("A", 1, 25, 1000, "A")], discount=0, shipping_fee=0)  # 0.025 → 0.03
    assert invoice_of(order).rows[0].tax == 3


def test_discount_is_split_across_rates_with_its_tax() -> None:
    order = paid_order(
        lines=[OrderLine("A", 1, 10000, 1900, "A"), OrderLine("B", 1, 5000, 700, "B")],
        discount=1500,
        shipping_fee=0,
    )
    invoice = invoice_of(order)
    discounts = [row for row in invoice.rows if row.kind == "discount"]
    # 15.00 off 150.00 of goods: 10.00 at 19 %, 5.00 at 7 % (in proportion to the goods)
    assert [(row.tax_rate_bps, row.net, row.tax) for row in discounts] == [(700, -500, -35), (1900, -1000, -190)]
    assert [row.description for row in discounts] == ["WELCOME", "WELCOME"]
    taxes = {tax.rate_bps: (tax.net, tax.tax) for tax in invoice.taxes}
    assert taxes == {700: (4500, 315), 1900: (9000, 1710)}
    items = {row.sku: row.tax for row in invoice.items}
    assert items == {"A": 1900, "B": 350}  # item rows keep their own (undiscounted) tax
    assert_reconciles(order, invoice)


def test_zero_tax_lines() -> None:
    order = paid_order(
        lines=[OrderLine("BOOK-UK", 2, 1000, 0, "Book"), OrderLine("MUG", 1, 1000, 2000, "Mug")],
        discount=300,
        shipping_fee=600,
    )
    invoice = invoice_of(order)
    zero = [row for row in invoice.rows if row.tax_rate_bps == 0]
    assert zero and all(row.tax == 0 for row in zero)
    assert {tax.rate_bps: tax.tax for tax in invoice.taxes}[0] == 0
    assert_reconciles(order, invoice)


def test_shipping_follows_the_goods_and_carries_their_tax() -> None:
    order = paid_order(
        lines=[OrderLine("A", 1, 3000, 1900, "A"), OrderLine("B", 1, 1000, 700, "B")],
        discount=0,
        shipping_fee=499,
    )
    invoice = invoice_of(order)
    shipping = [row for row in invoice.rows if row.kind == "shipping"]
    assert sum(row.net for row in shipping) == 499
    assert [(row.tax_rate_bps, row.net) for row in shipping] == [(700, 125), (1900, 374)]
    assert [row.tax for row in shipping] == [9, 71]  # 1.25 × 7 % = 0.0875, 3.74 × 19 % = 0.7106
    assert all(row.description == "standard" for row in shipping)
    assert_reconciles(order, invoice)


def test_free_items_and_shipping_only() -> None:
    order = paid_order(lines=[OrderLine("GIFT", 1, 0, 1900, "Gift")], discount=0, shipping_fee=499)
    invoice = invoice_of(order)
    assert invoice.total == order.totals.total == 499 + 95
    assert_reconciles(order, invoice)


def test_receipt() -> None:
    order = paid_order()
    payment = order.payments[0]
    receipt = build_receipt(
        order, payment, seller=SELLER, number="RCT-2026-000001", issued_at=AT, invoice_number="INV-2026-000001"
    )
    assert (receipt.amount, receipt.method, receipt.provider_ref, receipt.paid_at) == (
        order.totals.total,
        "card",
        "pi_3NxYz",
        AT,
    )
    assert receipt.total == payment.amount and receipt.invoice_number == "INV-2026-000001"
    other = paid_order(provider_ref="pi_other").payments[0]
    with pytest.raises(DocumentError):
        build_receipt(order, other, seller=SELLER, number="R", issued_at=AT, invoice_number=None)


def test_full_refund_credit_note_is_the_exact_negative_of_the_invoice() -> None:
    order = paid_order()
    invoice = invoice_of(order)
    refund = refunded(order, invoice.total)
    note = build_credit_note(order, refund, invoice=invoice, seller=SELLER, number="CN-2026-000001", issued_at=AT)
    assert note.full and note.invoice_number == "INV-2026-000001" and note.refund_ref == "re_1"
    assert note.rows == tuple(row.negated() for row in invoice.rows)
    assert [(t.rate_bps, t.net, t.tax) for t in note.taxes] == [(t.rate_bps, -t.net, -t.tax) for t in invoice.taxes]
    assert note.total == -invoice.total
    assert note.tax_total == -invoice.tax_total


def test_partial_refunds_credit_proportionally_and_end_exactly_at_the_invoice() -> None:
    order = paid_order()
    invoice = invoice_of(order)
    first = refunded(order, 1000, "evt_1", "re_1")
    second = refunded(order, invoice.total - 1000, "evt_2", "re_2")
    notes = [
        build_credit_note(order, refund, invoice=invoice, seller=SELLER, number=f"CN-{i}", issued_at=AT)
        for i, refund in enumerate((first, second))
    ]
    assert [note.total for note in notes] == [-1000, -(invoice.total - 1000)]
    assert not notes[0].full and not notes[1].full
    for rate in invoice.taxes:
        credited = [t for note in notes for t in note.taxes if t.rate_bps == rate.rate_bps]
        assert sum(t.net for t in credited) == -rate.net
        assert sum(t.tax for t in credited) == -rate.tax
    # the first refund is spread over both rates roughly by their share of the invoice
    shares = {t.rate_bps: -(t.net + t.tax) for t in notes[0].taxes}
    gross = {t.rate_bps: t.gross for t in invoice.taxes}
    for rate_bps, amount in shares.items():
        assert abs(Fraction(amount) - Fraction(1000 * gross[rate_bps], invoice.total)) <= 1
    assert all(row.kind == "refund" and row.description == "re_1" for row in notes[0].rows)


def test_credit_note_for_an_unknown_refund_or_too_much() -> None:
    order = paid_order()
    invoice = invoice_of(order)
    with pytest.raises(DocumentError):
        build_credit_note(
            order, Refund(100, "re_x", AT, "evt_x"), invoice=invoice, seller=SELLER, number="CN", issued_at=AT
        )
    with pytest.raises(DocumentError):
        credit_split(invoice, [invoice.total + 1])
    with pytest.raises(DocumentError):
        credit_split(invoice, [0])


# --- properties -----------------------------------------------------------------------------

RATES = st.sampled_from([0, 500, 700, 1000, 1300, 1900, 2000, 2100, 2500])
LINES = st.lists(
    st.builds(
        lambda i, quantity, price, rate: OrderLine(f"SKU-{i}", quantity, price, rate, f"Item {i}"),
        st.integers(0, 999),
        st.integers(1, 50),
        st.integers(0, 250_000),
        RATES,
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    lines = draw(LINES)
    subtotal = sum(line.line_total for line in lines)
    discount = draw(st.integers(0, subtotal))
    shipping = draw(st.integers(0, 5_000))
    return paid_order(lines=lines, discount=discount, shipping_fee=shipping)


@settings(max_examples=400, deadline=None)
@given(orders())
def test_invoice_always_reconciles_with_the_order_total(order: Order) -> None:
    invoice = invoice_of(order)
    assert_reconciles(order, invoice)
    for row in invoice.rows:
        # every row's tax is its own net × rate to within two cents (rounding plus allocation)
        assert abs(Fraction(row.net * row.tax_rate_bps, 10_000) - row.tax) <= 2
        if row.kind == "item":
            assert row.net == (row.quantity or 0) * (row.unit_price or 0)
        assert (row.tax <= 0 if row.net <= 0 else row.tax >= 0) or row.tax_rate_bps == 0


@settings(max_examples=300, deadline=None)
@given(orders(), st.lists(st.integers(1, 10_000), min_size=1, max_size=6), st.booleans())
def test_credit_notes_never_exceed_and_finally_equal_the_invoice(order: Order, parts: list[int], finish: bool) -> None:
    invoice = invoice_of(order)
    if invoice.total == 0:
        return
    amounts: list[int] = []
    left = invoice.total
    for weight in parts:
        amount = max(1, left * weight // 20_000)
        if amount > left:
            break
        amounts.append(amount)
        left -= amount
        if left == 0:
            break
    if finish and left:
        amounts.append(left)
    for i, amount in enumerate(amounts):
        refunded(order, amount, f"evt_{i}", f"re_{i}")
    notes = [
        build_credit_note(order, refund, invoice=invoice, seller=SELLER, number=f"CN-{i}", issued_at=AT)
        for i, refund in enumerate(order.refunds)
    ]
    invoiced = {t.rate_bps: (t.net, t.tax) for t in invoice.taxes}
    credited = {rate: [0, 0] for rate in invoiced}
    for note, amount in zip(notes, amounts, strict=True):
        assert note.total == -amount
        assert sum(row.gross for row in note.rows) == -amount
        for t in note.taxes:
            assert t.net <= 0 and t.tax <= 0
            credited[t.rate_bps][0] -= t.net
            credited[t.rate_bps][1] -= t.tax
    for rate, (net, tax) in invoiced.items():
        assert credited[rate][0] <= net and credited[rate][1] <= tax
    if sum(amounts) == invoice.total:
        assert {rate: tuple(values) for rate, values in credited.items()} == invoiced
