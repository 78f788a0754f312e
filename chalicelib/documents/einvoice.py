"""EN 16931 e-invoices: the CII XML of an invoice or credit note, built with drafthorse.

The XML is built from the same document record the PDF is drawn from
(`chalicelib.documents.invoice`), amounts converted from integer minor units,
never recomputed: every total in the XML is one the record already holds, so
the BR-CO sums hold by construction (rows add up to the per-rate breakdown,
the breakdown to the totals; each rate's VAT is `tax_for(net, rate)`, i.e.
basis × rate rounded half up to the cent, which is BR-CO-17).

`check_totals` reads the serialised XML back and compares its totals (BT-106,
BT-107, BT-108, BT-109, BT-110, BT-112, BT-113, BT-115, BG-23 per rate) with the
record: a document whose XML disagrees is never stored (the caller logs and
alarms). drafthorse and lxml are imported on first use only.

Mapping:
* invoice → type code 380; credit note → 381 with the invoice's number and
  date (BT-25 / BT-26); amounts of a credit note are positive, as CII wants.
* item rows → lines (unit code H87, "piece"); a partial refund's rows → one
  line per rate (C62, "one"); discounts → document allowances (BG-20, reason
  95 "discount"); shipping → document charges (BG-21, reason FC "freight"),
  one per tax rate, as the PDF shows them.
* rate > 0 → category S; rate 0 → Z (zero rated) or E (exempt, with its
  exemption reason), as the shop is configured.
* payment means from the payment method (UNTDID 4461), the payment's
  provider reference as remittance information (BT-83); the invoice is issued
  on payment, so the paid amount is the total and nothing is due (BT-115 = 0).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from chalicelib.documents.invoice import CreditNote, Invoice, Party, Row, TaxLine
from chalicelib.domain.money import exponent
from chalicelib.domain.order_numbers import legacy_reference

PROFILE = "factur-x/en16931"
GUIDELINE = "urn:cen.eu:en16931:2017"
XML_FILENAME = "factur-x.xml"
SCHEMA = "FACTUR-X_EN16931"
INVOICE_TYPE = "380"
CREDIT_NOTE_TYPE = "381"
PIECE = "H87"  # UN/ECE Rec 20: piece
ONE = "C62"  # UN/ECE Rec 20: one (a unit without dimension)
DISCOUNT_REASON = "95"  # UNTDID 5189: discount
FREIGHT_REASON = "FC"  # UNTDID 7161: freight service
# UNTDID 4461 payment means codes for our payment methods.
PAYMENT_MEANS = {"card": "48", "paypal": "68", "bank_transfer": "58", "sepa_debit": "59"}
UNDEFINED_MEANS = "1"  # instrument not defined
CREDIT_TRANSFER = ("30", "58")  # need the payee's account (BR-61)

EDocument = Invoice | CreditNote


@dataclass(frozen=True)
class EInvoiceOptions:
    """How the shop's tax situation reads in an e-invoice."""

    zero_rate_category: Literal["Z", "E"] = "Z"  # 0 % lines: zero rated (Z) or exempt (E)
    exemption_reason: str = ""  # BT-120, required with E (e.g. "Steuerfreie Umsätze nach § 4 Nr. 8 UStG")
    exemption_code: str = ""  # BT-121 (e.g. "VATEX-EU-132"), optional
    seller_iban: str = ""  # BT-84, for bank-transfer payments
    timezone: str = "Europe/Berlin"  # dates are the shop's calendar days

    def category(self, rate_bps: int) -> str:
        return "S" if rate_bps > 0 else self.zero_rate_category

    def exempt(self, rate_bps: int) -> bool:
        return self.category(rate_bps) == "E"


class EInvoiceError(Exception):
    """The e-invoice of a document is not right: the document must not be issued."""


class TotalsMismatchError(EInvoiceError):
    """The XML's totals are not the document's: the document must not be issued.

    The message names the business terms that differ, never names or addresses.
    """


@dataclass(frozen=True)
class Totals:
    """The figures both the record and the XML state, in minor units (credit notes: positive)."""

    line_total: int  # BT-106
    allowance_total: int  # BT-107
    charge_total: int  # BT-108
    net_total: int  # BT-109
    tax_total: int  # BT-110
    grand_total: int  # BT-112
    paid: int  # BT-113
    due: int  # BT-115
    vat: tuple[tuple[str, int, int, int], ...]  # BG-23: (category, rate bps, basis, tax), sorted


# --- the record's figures ------------------------------------------------------------------


def _sign(document: EDocument) -> int:
    return -1 if isinstance(document, CreditNote) else 1


def _lines(document: EDocument) -> list[Row]:
    return [row for row in document.rows if row.kind in ("item", "refund")]


def record_totals(document: EDocument, options: EInvoiceOptions) -> Totals:
    """What the document record says, in the e-invoice's terms."""
    sign = _sign(document)
    line_total = sum(row.net for row in _lines(document)) * sign
    allowances = -sum(row.net for row in document.rows if row.kind == "discount") * sign
    charges = sum(row.net for row in document.rows if row.kind == "shipping") * sign
    taxes: tuple[TaxLine, ...] = document.taxes
    net_total = sum(tax.net for tax in taxes) * sign
    tax_total = sum(tax.tax for tax in taxes) * sign
    grand = net_total + tax_total
    vat = tuple(sorted((options.category(tax.rate_bps), tax.rate_bps, tax.net * sign, tax.tax * sign) for tax in taxes))
    return Totals(line_total, allowances, charges, net_total, tax_total, grand, grand, 0, vat)


# --- building ------------------------------------------------------------------------------


def build_cii(document: EDocument, options: EInvoiceOptions) -> bytes:
    """The EN 16931 CII XML of the document, checked against the Factur-X XSD."""
    xml = _serialize(cii_model(document, options).to_etree())
    _validate_xsd(xml)
    return xml


def cii_model(document: EDocument, options: EInvoiceOptions) -> Any:
    """The document as drafthorse's CII model."""
    from drafthorse.models.document import Document as CiiDocument

    if document.seller.postal is None:  # BR-08 / BR-09: an e-invoice states where the seller is
        raise EInvoiceError("the seller's postal address (BG-5) is not configured")
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


def _serialize(root: Any) -> bytes:
    """drafthorse's `Document.serialize(schema=None)`, byte for byte, in one pass instead of three.

    drafthorse writes the tree, re-parses it to pretty-print it (lxml), parses that again and
    writes it once more, declaring its namespaces that the document does not use — half of
    building an e-invoice. The same bytes come from indenting the tree in place (the text a
    parser would read back: line ends as "\n") and writing it once; a test compares the two.
    """
    import xml.etree.ElementTree as ET  # writes our own tree; nothing is parsed here # nosec B405

    from drafthorse.models import NS_QDT, NS_RAM, NS_RSM, NS_UDT

    namespaces = {
        "rsm": NS_RSM,
        "qdt": NS_QDT,
        "ram": NS_RAM,
        "xs": "http://www.w3.org/2001/XMLSchema",
        "xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "udt": NS_UDT,
    }
    used = set()
    for element in root.iter():  # drafthorse's tree: every tag is namespaced, tails are empty
        used.add(element.tag[1 : element.tag.index("}")])
        used.update(name[1 : name.index("}")] for name in element.attrib if name[:1] == "{")
        if element.text and "\r" in element.text:
            element.text = element.text.replace("\r\n", "\n").replace("\r", "\n")
    # drafthorse looks for "xmlns:<prefix>" in what it wrote (so "xmlns:xsi" also counts as "xmlns:xs").
    declared = " ".join(f"xmlns:{prefix}" for prefix, uri in namespaces.items() if uri in used)
    ET.indent(root)
    for prefix, uri in namespaces.items():
        if f"xmlns:{prefix}" not in declared:
            root.set(f"xmlns:{prefix}", uri)
    return bytes(ET.tostring(root, "utf-8", xml_declaration=True))


class XsdError(EInvoiceError):
    """The XML does not conform to the Factur-X EN 16931 XSD."""


@functools.cache
def _xsd() -> Any:
    """drafthorse's Factur-X EN 16931 XSD, compiled once per container (drafthorse would re-read it per call)."""
    from pathlib import Path

    import drafthorse
    from lxml import etree

    path = Path(drafthorse.__file__).parent / "schema" / f"{SCHEMA.replace('FACTUR-X_', 'Factur-X_1.0.07_')}.xsd"
    return etree.XMLSchema(file=str(path))


_VALIDATING = threading.Lock()


def _validate_xsd(xml: bytes) -> None:
    from lxml import etree

    schema = _xsd()
    with _VALIDATING:  # the compiled schema is shared, and so is its error log
        valid = schema.validate(etree.fromstring(xml, parser=_parser()))
        error = None if valid else schema.error_log.last_error
    if not valid:  # its message may quote names: only where and what kind
        assert error is not None
        raise XsdError(f"e-invoice XML fails the Factur-X XSD at line {error.line} ({error.type_name})")


def _day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


class _Amounts:
    """Minor units as the decimal amounts of the currency (2 digits for EUR, 0 for JPY …)."""

    def __init__(self, currency: str):
        self.currency = currency
        self.digits = exponent(currency)

    def __call__(self, minor_units: int) -> Decimal:
        return Decimal(minor_units).scaleb(-self.digits).quantize(Decimal(1).scaleb(-self.digits))


def _percent(rate_bps: int) -> Decimal:
    return (Decimal(rate_bps) / 100).quantize(Decimal("0.01"))


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

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
_SUMMATION = _SETTLEMENT + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"


def xml_totals(xml: bytes, currency: str) -> Totals:
    """The totals the XML states, read back with lxml (minor units)."""
    from lxml import etree

    root = etree.fromstring(xml, parser=_parser())
    scale = 10 ** exponent(currency)

    def minor(text: str | None) -> int:
        if text is None:
            raise TotalsMismatchError("a total is missing from the XML")
        value = Decimal(text.strip()) * scale
        if value != value.to_integral_value():
            raise TotalsMismatchError("an amount has more digits than the currency")
        return int(value)

    def one(path: str) -> str | None:
        found = root.xpath(path + "/text()", namespaces=NS)
        return str(found[0]) if found else None

    vat = []
    for tax in root.xpath(_SETTLEMENT + "ram:ApplicableTradeTax", namespaces=NS):
        rate = Decimal(tax.findtext("ram:RateApplicablePercent", namespaces=NS) or "0")
        vat.append(
            (
                tax.findtext("ram:CategoryCode", namespaces=NS) or "",
                int(rate * 100),
                minor(tax.findtext("ram:BasisAmount", namespaces=NS)),
                minor(tax.findtext("ram:CalculatedAmount", namespaces=NS)),
            )
        )
    return Totals(
        line_total=minor(one(_SUMMATION + "ram:LineTotalAmount")),
        allowance_total=minor(one(_SUMMATION + "ram:AllowanceTotalAmount")),
        charge_total=minor(one(_SUMMATION + "ram:ChargeTotalAmount")),
        net_total=minor(one(_SUMMATION + "ram:TaxBasisTotalAmount")),
        tax_total=minor(one(_SUMMATION + "ram:TaxTotalAmount")),
        grand_total=minor(one(_SUMMATION + "ram:GrandTotalAmount")),
        paid=minor(one(_SUMMATION + "ram:TotalPrepaidAmount")),
        due=minor(one(_SUMMATION + "ram:DuePayableAmount")),
        vat=tuple(sorted(vat)),
    )


_THREAD = threading.local()


def _parser() -> Any:
    """One parser per thread (lxml parsers must not be used by two threads at once)."""
    parser = getattr(_THREAD, "parser", None)
    if parser is None:
        from lxml import etree

        parser = _THREAD.parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return parser


def check_totals(xml: bytes, document: EDocument, options: EInvoiceOptions) -> None:
    """Raise TotalsMismatchError unless the XML's totals are the record's, to the cent."""
    expected = record_totals(document, options)
    actual = xml_totals(xml, document.currency)
    differing = [name for name in Totals.__dataclass_fields__ if getattr(expected, name) != getattr(actual, name)]
    if differing:
        raise TotalsMismatchError(f"e-invoice totals differ from the document: {', '.join(differing)}")


def xmp_metadata(document: EDocument, title: str, zone: ZoneInfo) -> str:
    """The XMP packet body declaring PDF/A-3B and Factur-X EN 16931: drafthorse's Factur-X XMP
    (with the PDF/A extension schema description), dated with the issue time so renders are
    deterministic, without its xpacket wrapper (fpdf2 adds that)."""
    from xml.sax.saxutils import escape  # escape() writes XML text; nothing is parsed # nosec B406

    from drafthorse.xmp_schema import XMP_SCHEMA

    values = {
        "title": title,
        "author": document.seller.name,
        "subject": title,
        "producer": "OrderCare",
        "creator_tool": "OrderCare",
        "timestamp": document.issued_at.astimezone(zone).isoformat(timespec="seconds"),
        "urn": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
        "documenttype": "INVOICE",
        "xml_filename": XML_FILENAME,
        "version": "1.0",
        "xmp_level": "EN 16931",
    }
    packet = XMP_SCHEMA.format(**{key: escape(value) for key, value in values.items()})
    start, end = packet.index("<x:xmpmeta"), packet.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")
    return str(packet[start:end])
