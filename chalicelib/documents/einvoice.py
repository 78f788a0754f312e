"""EN 16931 e-invoices: the CII XML of an invoice or credit note.

The XML is the tree drafthorse's CII model of the document serialises to, byte for byte
(tests/cii_oracle.py keeps that model as the tests' oracle), written directly: drafthorse's
per-field objects and its three serialisation passes were most of the time an e-invoice took.
drafthorse still provides the Factur-X XSD and the XMP template.

The XML is built from the same document record the PDF is drawn from
(`chalicelib.documents.invoice`), amounts converted from integer minor units,
never recomputed: every total in the XML is one the record already holds, so
the BR-CO sums hold by construction (rows add up to the per-rate breakdown,
the breakdown to the totals; each rate's VAT is `tax_for(net, rate)`, i.e.
basis × rate rounded half up to the cent, which is BR-CO-17).

`check_totals` reads the serialised XML back and compares its totals (BT-106,
BT-107, BT-108, BT-109, BT-110, BT-112, BT-113, BT-115, BG-23 per rate) with the
record: a document whose XML disagrees is never stored (the caller logs and
alarms). lxml is imported on first use only.

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
from xml.etree import ElementTree  # writes our own tree; it parses nothing # nosec B405
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
    xml = _serialize(_cii_tree(document, options))
    _validate_xsd(xml)
    return xml


def _serialize(root: Any) -> bytes:
    """drafthorse's `Document.serialize(schema=None)` output, byte for byte, in one pass.

    drafthorse writes its tree, re-parses it to pretty-print it (lxml), parses that again and
    writes it once more, declaring its namespaces that the document does not use. The same
    bytes come from indenting the tree in place (with the text a parser would read back: line
    ends as "\\n") and writing it once.
    """
    used = set()
    for element in root.iter():  # every tag is namespaced, tails are empty
        used.add(element.tag[1 : element.tag.index("}")])
        if element.text and "\r" in element.text:
            element.text = element.text.replace("\r\n", "\n").replace("\r", "\n")
    # drafthorse looks for "xmlns:<prefix>" in what it wrote (so "xmlns:xsi" also counts as "xmlns:xs").
    declared = " ".join(f"xmlns:{prefix}" for prefix, uri in NAMESPACES.items() if uri in used)
    ElementTree.indent(root)
    for prefix, uri in NAMESPACES.items():
        if f"xmlns:{prefix}" not in declared:
            root.set(f"xmlns:{prefix}", uri)
    return bytes(ElementTree.tostring(root, "utf-8", xml_declaration=True))


# --- the CII tree ----------------------------------------------------------------------------
# Written directly in the element order of drafthorse's models (the XSD's), an element only
# when it has content: the bytes drafthorse's own model serialises to (a test compares them for
# every kind of document), without its per-field objects (most of the time building an e-invoice).

NAMESPACES = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
_RSM, _RAM, _UDT, _QDT = ("{" + NAMESPACES[prefix] + "}" for prefix in ("rsm", "ram", "udt", "qdt"))


def _cii_tree(document: EDocument, options: EInvoiceOptions) -> Any:
    """The document's CrossIndustryInvoice element (ElementTree)."""
    if document.seller.postal is None:  # BR-08 / BR-09: an e-invoice states where the seller is
        raise EInvoiceError("the seller's postal address (BG-5) is not configured")
    for prefix, uri in NAMESPACES.items():  # as drafthorse's Document does: the prefixes ET writes
        ElementTree.register_namespace(prefix, uri)
    amounts = _Amounts(document.currency)
    zone = ZoneInfo(options.timezone)
    root = ElementTree.Element(_RSM + "CrossIndustryInvoice")
    context = _add(_add(root, _RSM + "ExchangedDocumentContext"), _RAM + "GuidelineSpecifiedDocumentContextParameter")
    _add(context, _RAM + "ID", GUIDELINE)
    header = _add(root, _RSM + "ExchangedDocument")
    _add(header, _RAM + "ID", document.number)
    _add(header, _RAM + "TypeCode", CREDIT_NOTE_TYPE if isinstance(document, CreditNote) else INVOICE_TYPE)
    _date(header, _RAM + "IssueDateTime", _day(document.issued_at, zone))
    trade = _add(root, _RSM + "SupplyChainTradeTransaction")
    for index, row in enumerate(_lines(document), start=1):
        _line_item(trade, index, row, document, options, amounts)
    _agreement(_add(trade, _RAM + "ApplicableHeaderTradeAgreement"), document)
    _delivery(_add(trade, _RAM + "ApplicableHeaderTradeDelivery"), document, zone)
    _settlement(_add(trade, _RAM + "ApplicableHeaderTradeSettlement"), document, options, amounts, zone)
    return root


def _add(parent: Any, tag: str, text: object = None, **attributes: str) -> Any:
    element = ElementTree.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = str(text)
    return element


def _text(parent: Any, tag: str, value: str | None, **attributes: str) -> None:
    """A text element, left out when empty (as drafthorse leaves out an unset or empty field)."""
    if value:
        _add(parent, tag, value, **attributes)


def _date(parent: Any, tag: str, day: date, namespace: str = _UDT) -> None:
    _add(_add(parent, tag), namespace + "DateTimeString", day.strftime("%Y%m%d"), format="102")


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


def _prune(parent: Any, element: Any) -> None:
    """Drop an optional aggregate that ended up empty (drafthorse writes only required ones empty)."""
    if not len(element) and not element.text:
        parent.remove(element)


def _party(parent: Any, tag: str, party: Party, *, with_contact: bool = True, required: bool = True) -> None:
    element = _add(parent, tag)
    _text(element, _RAM + "Name", party.name)
    if with_contact and party.contact:
        _add(_add(element, _RAM + "DefinedTradeContact"), _RAM + "PersonName", party.contact)
    postal = party.postal
    if postal is not None or party.country:
        address = _add(element, _RAM + "PostalTradeAddress")
        if postal is not None:
            _text(address, _RAM + "PostcodeCode", postal.postal_code)
            _text(address, _RAM + "LineOne", postal.line1)
            _text(address, _RAM + "LineTwo", postal.line2)
            _text(address, _RAM + "CityName", postal.city)
        _text(address, _RAM + "CountryID", (postal.country if postal is not None else party.country or "").upper())
        if postal is not None:
            _text(address, _RAM + "CountrySubDivisionName", postal.region)
        _prune(element, address)
    if party.email:  # BT-34 / BT-49, scheme EM: e-mail
        _add(_add(element, _RAM + "URIUniversalCommunication"), _RAM + "URIID", party.email, schemeID="EM")
    if party.vat_id:  # BT-31 / BT-48
        _add(_add(element, _RAM + "SpecifiedTaxRegistration"), _RAM + "ID", party.vat_id, schemeID="VA")
    if not required:
        _prune(parent, element)


def _agreement(agreement: Any, document: EDocument) -> None:
    _text(agreement, _RAM + "BuyerReference", document.buyer_reference)
    _party(agreement, _RAM + "SellerTradeParty", document.seller)
    _party(agreement, _RAM + "BuyerTradeParty", document.buyer)
    # BT-14, as the PDF prints it: the order's human number
    order = _add(agreement, _RAM + "SellerOrderReferencedDocument")
    _text(order, _RAM + "IssuerAssignedID", document.order_number or legacy_reference(document.order_id))
    _prune(agreement, order)


def _delivery(delivery: Any, document: EDocument, zone: ZoneInfo) -> None:
    if document.ship_to is not None:
        _party(delivery, _RAM + "ShipToTradeParty", document.ship_to, with_contact=False, required=False)
    if document.supplied_at is not None:
        event = _add(delivery, _RAM + "ActualDeliverySupplyChainEvent")
        _date(event, _RAM + "OccurrenceDateTime", _day(document.supplied_at, zone))


def _trade_tax(parent: Any, tag: str, category: str, rate_bps: int) -> Any:
    tax = _add(parent, tag)
    _add(tax, _RAM + "TypeCode", "VAT")
    _add(tax, _RAM + "CategoryCode", category)
    _add(tax, _RAM + "RateApplicablePercent", _percent(rate_bps))
    return tax


def _settlement(
    settlement: Any, document: EDocument, options: EInvoiceOptions, amounts: _Amounts, zone: ZoneInfo
) -> None:
    totals = record_totals(document, options)
    reference = document.refund_ref if isinstance(document, CreditNote) else document.payment_ref
    _text(settlement, _RAM + "PaymentReference", reference)  # BT-83
    _text(settlement, _RAM + "InvoiceCurrencyCode", document.currency)
    method = document.paid_with if isinstance(document, Invoice) else None
    code = PAYMENT_MEANS.get(method or "", UNDEFINED_MEANS)
    if code in CREDIT_TRANSFER and not options.seller_iban:
        code = UNDEFINED_MEANS
    means = _add(settlement, _RAM + "SpecifiedTradeSettlementPaymentMeans")
    _add(means, _RAM + "TypeCode", code)
    if code in CREDIT_TRANSFER:
        _add(_add(means, _RAM + "PayeePartyCreditorFinancialAccount"), _RAM + "IBANID", options.seller_iban)
    for category, rate, basis, tax_amount in totals.vat:
        tax = _add(settlement, _RAM + "ApplicableTradeTax")
        _add(tax, _RAM + "CalculatedAmount", amounts(tax_amount))
        _add(tax, _RAM + "TypeCode", "VAT")
        exempt = options.exempt(rate)
        if exempt:
            _text(tax, _RAM + "ExemptionReason", options.exemption_reason)
        _add(tax, _RAM + "BasisAmount", amounts(basis))
        _add(tax, _RAM + "CategoryCode", category)
        if exempt:
            _text(tax, _RAM + "ExemptionReasonCode", options.exemption_code)
        _add(tax, _RAM + "RateApplicablePercent", _percent(rate))
    sign = _sign(document)
    for row in document.rows:
        if row.kind in ("discount", "shipping"):
            _allowance_charge(settlement, row, sign, options, amounts)
    summation = _add(settlement, _RAM + "SpecifiedTradeSettlementHeaderMonetarySummation")
    _add(summation, _RAM + "LineTotalAmount", amounts(totals.line_total))
    _add(summation, _RAM + "ChargeTotalAmount", amounts(totals.charge_total))
    _add(summation, _RAM + "AllowanceTotalAmount", amounts(totals.allowance_total))
    _add(summation, _RAM + "TaxBasisTotalAmount", amounts(totals.net_total))
    _add(summation, _RAM + "TaxTotalAmount", amounts(totals.tax_total), currencyID=document.currency)
    _add(summation, _RAM + "GrandTotalAmount", amounts(totals.grand_total))
    _add(summation, _RAM + "TotalPrepaidAmount", amounts(totals.paid))
    _add(summation, _RAM + "DuePayableAmount", amounts(totals.due))
    if isinstance(document, CreditNote) and (document.invoice_number or document.invoice_issued_at is not None):
        invoice = _add(settlement, _RAM + "InvoiceReferencedDocument")
        _text(invoice, _RAM + "IssuerAssignedID", document.invoice_number)  # BT-25
        if document.invoice_issued_at is not None:  # BT-26
            _date(invoice, _RAM + "FormattedIssueDateTime", _day(document.invoice_issued_at, zone), _QDT)


def _allowance_charge(parent: Any, row: Row, sign: int, options: EInvoiceOptions, amounts: _Amounts) -> None:
    charge = row.kind == "shipping"
    item = _add(parent, _RAM + "SpecifiedTradeAllowanceCharge")
    _add(_add(item, _RAM + "ChargeIndicator"), _UDT + "Indicator", "true" if charge else "false")
    _add(item, _RAM + "ActualAmount", amounts(abs(row.net * sign)))
    _add(item, _RAM + "ReasonCode", FREIGHT_REASON if charge else DISCOUNT_REASON)
    _text(item, _RAM + "Reason", f"Shipping ({row.description})" if charge else f"Discount {row.description}".strip())
    _trade_tax(item, _RAM + "CategoryTradeTax", options.category(row.tax_rate_bps), row.tax_rate_bps)


def _line_item(
    trade: Any, index: int, row: Row, document: EDocument, options: EInvoiceOptions, amounts: _Amounts
) -> None:
    sign = _sign(document)
    net = row.net * sign
    item = _add(trade, _RAM + "IncludedSupplyChainTradeLineItem")
    _add(_add(item, _RAM + "AssociatedDocumentLineDocument"), _RAM + "LineID", index)
    product = _add(item, _RAM + "SpecifiedTradeProduct")
    if row.kind == "item":
        _text(product, _RAM + "SellerAssignedID", row.sku)
        _text(product, _RAM + "Name", row.description or row.sku or "-")
        quantity, unit, price = row.quantity or 1, PIECE, abs(row.unit_price or net)
    else:
        _text(product, _RAM + "Name", f"Refund {row.description}".strip())
        quantity, unit, price = 1, ONE, net
    price_element = _add(_add(item, _RAM + "SpecifiedLineTradeAgreement"), _RAM + "NetPriceProductTradePrice")
    _add(price_element, _RAM + "ChargeAmount", amounts(price))
    _add(_add(item, _RAM + "SpecifiedLineTradeDelivery"), _RAM + "BilledQuantity", Decimal(quantity), unitCode=unit)
    settlement = _add(item, _RAM + "SpecifiedLineTradeSettlement")
    _trade_tax(settlement, _RAM + "ApplicableTradeTax", options.category(row.tax_rate_bps), row.tax_rate_bps)
    _add(
        _add(settlement, _RAM + "SpecifiedTradeSettlementLineMonetarySummation"), _RAM + "LineTotalAmount", amounts(net)
    )


class XsdError(EInvoiceError):
    """The XML does not conform to the Factur-X EN 16931 XSD."""


_COMPILING = threading.Lock()


def _xsd() -> Any:
    """drafthorse's Factur-X EN 16931 XSD, compiled once per container (drafthorse would re-read it per call)
    and by one thread: libxml2's schema parser is not safe to run twice at once (a cold container's first
    invoices in concurrent lanes failed with "xmlSchemaPValAttrNodeValue … not a built-in type"), and
    functools.cache lets every thread that misses compute."""
    with _COMPILING:
        return _compiled_xsd()


@functools.cache
def _compiled_xsd() -> Any:
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
