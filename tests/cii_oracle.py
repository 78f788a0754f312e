"""The e-invoice as drafthorse's own CII model: the oracle build_cii's direct XML is compared with.

This is how chalicelib/documents/einvoice.py built the XML until it wrote the tree itself (the
same mapping, field by field); `oracle_xml` serialises it the way drafthorse does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.documents.einvoice import (
    CREDIT_NOTE_TYPE,
    CREDIT_TRANSFER,
    DISCOUNT_REASON,
    FREIGHT_REASON,
    GUIDELINE,
    INVOICE_TYPE,
    ONE,
    PAYMENT_MEANS,
    PIECE,
    UNDEFINED_MEANS,
    EDocument,
    EInvoiceOptions,
    _Amounts,
    _day,
    _lines,
    _percent,
    _sign,
    record_totals,
)
from chalicelib.documents.invoice import CreditNote, Invoice, Party, Row
from chalicelib.domain.order_numbers import legacy_reference


def oracle_xml(document: EDocument, options: EInvoiceOptions) -> bytes:
    return bytes(cii_model(document, options).serialize(schema=None))


def cii_model(document: EDocument, options: EInvoiceOptions) -> Any:
    from drafthorse.models.document import Document as CiiDocument

    cii = CiiDocument()
    amounts = _Amounts(document.currency)
    zone = ZoneInfo(options.timezone)
    cii.context.guideline_parameter.id = GUIDELINE
    cii.header.id = document.number
    cii.header.type_code = CREDIT_NOTE_TYPE if isinstance(document, CreditNote) else INVOICE_TYPE
    cii.header.issue_date_time = _day(document.issued_at, zone)
    _agreement(cii.trade.agreement, document)
    _delivery(cii.trade.delivery, document, zone)
    _settlement(cii.trade.settlement, document, options, amounts, zone)
    for index, row in enumerate(_lines(document), start=1):
        cii.trade.items.add(_line_item(index, row, document, options, amounts))
    return cii


def _party(target: Any, party: Party, *, with_contact: bool = True) -> None:
    from drafthorse.models.party import TaxRegistration

    target.name = party.name
    postal = party.postal
    if postal is not None:
        target.address.line_one = postal.line1
        if postal.line2:
            target.address.line_two = postal.line2
        target.address.postcode = postal.postal_code
        target.address.city_name = postal.city
        if postal.region:
            target.address.country_subdivision = postal.region
        target.address.country_id = postal.country.upper()
    elif party.country:
        target.address.country_id = party.country.upper()
    if with_contact and party.contact:
        target.contact.person_name = party.contact
    if party.email:
        target.electronic_address.uri_ID = ("EM", party.email)  # BT-34 / BT-49, scheme EM: e-mail
    if party.vat_id:
        target.tax_registrations.add(TaxRegistration(id=("VA", party.vat_id)))  # BT-31 / BT-48


def _agreement(agreement: Any, document: EDocument) -> None:
    if document.buyer_reference:
        agreement.buyer_reference = document.buyer_reference
    _party(agreement.seller, document.seller)
    _party(agreement.buyer, document.buyer)
    # BT-14, as the PDF prints it: the order's human number
    agreement.seller_order.issuer_assigned_id = document.order_number or legacy_reference(document.order_id)


def _delivery(delivery: Any, document: EDocument, zone: ZoneInfo) -> None:
    if document.ship_to is not None:
        _party(delivery.ship_to, document.ship_to, with_contact=False)
    if document.supplied_at is not None:
        delivery.event.occurrence = _day(document.supplied_at, zone)


def _settlement(
    settlement: Any, document: EDocument, options: EInvoiceOptions, amounts: _Amounts, zone: ZoneInfo
) -> None:
    from drafthorse.models.accounting import ApplicableTradeTax
    from drafthorse.models.payment import PaymentMeans

    totals = record_totals(document, options)
    settlement.currency_code = document.currency
    reference = document.refund_ref if isinstance(document, CreditNote) else document.payment_ref
    if reference:
        settlement.payment_reference = reference  # BT-83
    method = document.paid_with if isinstance(document, Invoice) else None
    means = PaymentMeans()
    code = PAYMENT_MEANS.get(method or "", UNDEFINED_MEANS)
    if code in CREDIT_TRANSFER and not options.seller_iban:
        code = UNDEFINED_MEANS
    means.type_code = code
    if code in CREDIT_TRANSFER:
        means.payee_account.iban = options.seller_iban
    settlement.payment_means.add(means)
    for category, rate, basis, tax in totals.vat:
        trade_tax = ApplicableTradeTax()
        trade_tax.calculated_amount = amounts(tax)
        trade_tax.type_code = "VAT"
        if options.exempt(rate):
            trade_tax.exemption_reason = options.exemption_reason
            if options.exemption_code:
                trade_tax.exemption_reason_code = options.exemption_code
        trade_tax.basis_amount = amounts(basis)
        trade_tax.category_code = category
        trade_tax.rate_applicable_percent = _percent(rate)
        settlement.trade_tax.add(trade_tax)
    sign = _sign(document)
    for row in document.rows:
        if row.kind in ("discount", "shipping"):
            settlement.allowance_charge.add(_allowance_charge(row, sign, options, amounts))
    if isinstance(document, CreditNote):
        settlement.invoice_referenced_document.issuer_assigned_id = document.invoice_number  # BT-25
        if document.invoice_issued_at is not None:
            settlement.invoice_referenced_document.issue_date_time = _day(document.invoice_issued_at, zone)  # BT-26
    summation = settlement.monetary_summation
    summation.line_total = amounts(totals.line_total)
    summation.charge_total = amounts(totals.charge_total)
    summation.allowance_total = amounts(totals.allowance_total)
    summation.tax_basis_total = amounts(totals.net_total)
    summation.tax_total = (amounts(totals.tax_total), document.currency)
    summation.grand_total = amounts(totals.grand_total)
    summation.prepaid_total = amounts(totals.paid)
    summation.due_amount = amounts(totals.due)


def _allowance_charge(row: Row, sign: int, options: EInvoiceOptions, amounts: _Amounts) -> Any:
    from drafthorse.models.accounting import CategoryTradeTax, TradeAllowanceCharge

    charge = row.kind == "shipping"
    item = TradeAllowanceCharge()
    item.indicator = charge
    item.actual_amount = amounts(abs(row.net * sign))
    item.reason_code = FREIGHT_REASON if charge else DISCOUNT_REASON
    item.reason = f"Shipping ({row.description})" if charge else f"Discount {row.description}".strip()
    tax = CategoryTradeTax()
    tax.type_code = "VAT"
    tax.category_code = options.category(row.tax_rate_bps)
    tax.rate_applicable_percent = _percent(row.tax_rate_bps)
    item.trade_tax.add(tax)
    return item


def _line_item(index: int, row: Row, document: EDocument, options: EInvoiceOptions, amounts: _Amounts) -> Any:
    from drafthorse.models.tradelines import LineItem

    sign = _sign(document)
    net = row.net * sign
    item = LineItem()
    item.document.line_id = str(index)
    if row.kind == "item":
        if row.sku:
            item.product.seller_assigned_id = row.sku
        item.product.name = row.description or row.sku or "-"
        quantity, unit, price = row.quantity or 1, PIECE, abs(row.unit_price or net)
    else:
        item.product.name = f"Refund {row.description}".strip()
        quantity, unit, price = 1, ONE, net
    item.agreement.net.amount = amounts(price)
    item.delivery.billed_quantity = (Decimal(quantity), unit)
    item.settlement.trade_tax.type_code = "VAT"
    item.settlement.trade_tax.category_code = options.category(row.tax_rate_bps)
    item.settlement.trade_tax.rate_applicable_percent = _percent(row.tax_rate_bps)
    item.settlement.monetary_summation.total_amount = amounts(net)
    return item


# --- checking ------------------------------------------------------------------------------
