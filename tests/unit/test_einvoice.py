"""EN 16931 e-invoices: Factur-X PDFs and CII XML checked against the official rules, the totals guard.

Each document here is checked explicitly (XSD, official Schematron, qpdf, the
embedded XML, the XMP); the session fixture checks every other e-invoice the
test run produces the same way.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from lxml import etree
from pypdf import PdfReader

from chalicelib.documents import einvoice, validation
from chalicelib.documents import pdf as pdf_module
from chalicelib.documents.einvoice import NS, EInvoiceOptions, TotalsMismatchError, check_totals
from chalicelib.documents.invoice import CreditNote, Document, Invoice, build_credit_note, build_invoice
from chalicelib.domain.address import Address
from chalicelib.domain.orders import Customer, Order, OrderLine
from chalicelib.services.documents import TOTALS_MISMATCH_METRIC, DocumentService, Rendered
from tests.cii_oracle import oracle_xml
from tests.document_fakes import AT, SELLER, FakePdfStore, FixedClock, InMemoryDocumentRecords, paid_order, refunded
from tests.einvoice_check import conformance_problems

EXEMPT = EInvoiceOptions(
    zero_rate_category="E", exemption_reason="Steuerfreie Umsätze nach § 4 Nr. 14 UStG", exemption_code="VATEX-EU-132"
)
BILLING = Address("Müller & Söhne GmbH", "Hauptstraße 12", "München", "80331", "DE", line2="Einkauf, 3. OG")


def b2b_order(**kwargs: object) -> Order:
    order = paid_order(**kwargs)  # type: ignore[arg-type]
    order.customer = Customer(
        "cus_b2b", "einkauf@mueller.example", "Jörg Müller", None, "de-DE", company="Müller & Söhne GmbH",
        vat_id="DE136695976",
    )  # fmt: skip
    order.billing_address = BILLING
    order.buyer_reference = "04011000-12345-34"
    return order


def three_rates_order() -> Order:
    return paid_order(
        lines=[
            OrderLine("MUG-1", 2, 1299, 1900, "Ceramic mug „Zoë“"),
            OrderLine("BOOK-1", 1, 2500, 700, "Cookbook: Алексей's kitchen"),
            OrderLine("CARD-1", 1, 1000, 0, "Gift wrapping 🎁"),
            OrderLine("TOWEL-1", 3, 899, 1900, "Tea towel — Müller edition"),
        ],
        discount=333,
        shipping_fee=599,
    )


def render(document: Invoice | CreditNote, options: EInvoiceOptions | None = None) -> tuple[bytes, bytes]:
    options = options or EInvoiceOptions()
    xml = einvoice.build_cii(document, options)
    data = pdf_module.render_pdf(document, pdf_module.RenderOptions(einvoice=options), xml=xml)
    return data, xml


def documents() -> dict[str, tuple[Invoice | CreditNote, EInvoiceOptions]]:
    """Several rates, a discount, shipping, credit notes (full and partial), B2B, Unicode, 0 % exempt."""
    plain = paid_order()
    plain_invoice = build_invoice(plain, seller=SELLER, number="INV-2026-000001", issued_at=AT)
    full = build_credit_note(
        plain, refunded(plain, plain_invoice.total), invoice=plain_invoice, seller=SELLER, number="CN-2026-000001",
        issued_at=AT + timedelta(days=3),
    )  # fmt: skip
    b2b = b2b_order()
    b2b_invoice = build_invoice(b2b, seller=SELLER, number="INV-2026-000002", issued_at=AT)
    partial = build_credit_note(
        b2b, refunded(b2b, 1234), invoice=b2b_invoice, seller=SELLER, number="CN-2026-000002", issued_at=AT
    )
    rates = three_rates_order()
    rates_invoice = build_invoice(rates, seller=SELLER, number="INV-2026-000003", issued_at=AT)
    no_extras = build_invoice(
        paid_order(discount=0, shipping_fee=0, locale="en"), seller=SELLER, number="INV-2026-000004", issued_at=AT
    )
    return {
        "invoice": (plain_invoice, EInvoiceOptions()),
        "full credit note": (full, EInvoiceOptions()),
        "b2b invoice": (b2b_invoice, EInvoiceOptions()),
        "b2b partial credit note": (partial, EInvoiceOptions()),
        "three rates, zero rated": (rates_invoice, EInvoiceOptions()),
        "three rates, exempt": (rates_invoice, EXEMPT),
        "no discount, no shipping": (no_extras, EInvoiceOptions()),
    }


XPATH_NS = {**NS, "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"}
DEFAULT = EInvoiceOptions()


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(value) for value in etree.fromstring(xml).xpath(path, namespaces=XPATH_NS)]


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize("name", list(documents()))
def test_every_kind_of_document_passes_the_official_rules(name: str) -> None:
    document, options = documents()[name]
    data, xml = render(document, options)
    assert conformance_problems(xml, data) == []
    check_totals(xml, document, options)
    # Not even warnings: the documents are clean, not just free of fatal errors.
    assert [failure.rule for failure in validation.schematron_failures(xml)] == []


def oracle_variants() -> dict[str, tuple[Invoice | CreditNote, EInvoiceOptions]]:
    """Every kind of document, plus every optional part present and absent."""
    found = documents()
    invoice, _ = found["invoice"]
    credit, _ = found["full credit note"]
    assert isinstance(invoice, Invoice) and isinstance(credit, CreditNote)
    region = Address("Ada GmbH", "Ring 1", "Wien", "1010", "AT", line2="Stiege 2", region="Wien")
    bare_seller = replace(invoice.seller, email=None, contact="Ops")  # the seller's VAT id stays (BR-S-02)
    lines = [OrderLine("MUG-1", 1, 1299, 1900, "Mug\r\nwith\rlid\nand <&> ' \"")]
    yen = paid_order(discount=0, shipping_fee=500)
    yen.currency = "JPY"
    return {
        **found,
        "line breaks and markup": (
            build_invoice(paid_order(lines=lines), seller=SELLER, number="INV-2026-000009", issued_at=AT),
            DEFAULT,
        ),
        "region, contact, no email": (
            replace(invoice, seller=replace(bare_seller, postal=region), buyer=replace(invoice.buyer, contact="Bo")),
            DEFAULT,
        ),
        "buyer by country only, no ship-to, no supply date": (
            replace(invoice, buyer=replace(invoice.buyer, postal=None, country="fr"), ship_to=None, supplied_at=None),
            DEFAULT,
        ),
        "bank transfer with IBAN, buyer reference, no order number": (
            replace(invoice, paid_with="bank_transfer", buyer_reference="991-1", order_number=""),
            replace(DEFAULT, seller_iban="DE02120300000000202051"),
        ),
        "bank transfer without IBAN, no payment reference": (
            replace(invoice, paid_with="bank_transfer", payment_ref=None),
            DEFAULT,
        ),
        "exempt without a code": (
            found["three rates, exempt"][0],
            replace(EXEMPT, exemption_code=""),
        ),
        "credit note without the invoice's date": (replace(credit, invoice_issued_at=None), DEFAULT),
        "yen": (
            build_invoice(yen, seller=SELLER, number="INV-2026-000010", issued_at=AT),
            DEFAULT,
        ),
    }


@pytest.mark.parametrize("name", list(oracle_variants()))
def test_the_xml_is_what_drafthorse_s_model_of_it_serialises_to_byte_for_byte(name: str) -> None:
    """build_cii writes the tree itself; drafthorse's model of the same document (tests/cii_oracle.py,
    the mapping build_cii used before) and its own three-pass serialize give the same bytes."""
    document, options = oracle_variants()[name]
    assert einvoice.build_cii(document, options) == oracle_xml(document, options)


def test_invoice_and_credit_note_types_and_the_credited_invoice() -> None:
    docs = documents()
    _, invoice_xml = render(docs["invoice"][0])
    _, note_xml = render(docs["full credit note"][0])
    assert xpath(invoice_xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["380"]
    assert xpath(note_xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    reference = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument"
    assert xpath(note_xml, reference + "/ram:IssuerAssignedID/text()") == ["INV-2026-000001"]  # BT-25
    assert xpath(note_xml, reference + "/ram:FormattedIssueDateTime/*/text()") == ["20260303"]  # BT-26
    # A credit note states positive amounts; the type code says it credits.
    assert xpath(note_xml, "//ram:GrandTotalAmount/text()") == xpath(invoice_xml, "//ram:GrandTotalAmount/text()")


def test_required_content_is_in_the_xml() -> None:
    invoice, _ = documents()["b2b invoice"]
    xml = einvoice.build_cii(invoice, EInvoiceOptions())
    seller = "//ram:SellerTradeParty"
    assert xpath(xml, seller + "/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()") == ["DE123456789"]
    assert xpath(xml, seller + "/ram:URIUniversalCommunication/ram:URIID[@schemeID='EM']/text()") == [
        "billing@ordercare.local"
    ]
    buyer = "//ram:BuyerTradeParty"
    assert xpath(xml, buyer + "/ram:Name/text()") == ["Müller & Söhne GmbH"]
    assert xpath(xml, buyer + "/ram:SpecifiedTaxRegistration/ram:ID/text()") == ["DE136695976"]
    assert xpath(xml, buyer + "/ram:PostalTradeAddress/ram:CityName/text()") == ["München"]
    assert xpath(xml, buyer + "/ram:DefinedTradeContact/ram:PersonName/text()") == ["Jörg Müller"]
    assert xpath(xml, "//ram:BuyerReference/text()") == ["04011000-12345-34"]  # BT-10
    # Billed in Munich, shipped to Madrid (BG-15), supplied on the dispatch date (BT-72).
    assert xpath(xml, "//ram:ShipToTradeParty/ram:PostalTradeAddress/ram:CountryID/text()") == ["ES"]
    assert xpath(xml, "//ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/*/text()") == ["20260303"]
    assert set(xpath(xml, "//ram:BilledQuantity/@unitCode")) == {"H87"}
    assert xpath(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()") == ["48"]  # bank card
    assert xpath(xml, "//ram:ApplicableHeaderTradeSettlement/ram:PaymentReference/text()") == ["pi_3NxYz"]
    assert xpath(xml, "//ram:DuePayableAmount/text()") == ["0.00"]  # issued on payment: nothing due
    # Discount = allowance (BG-20), shipping = charge (BG-21), one per rate, as on the PDF.
    charges = "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge"
    assert sorted(xpath(xml, charges + "/ram:ChargeIndicator/udt:Indicator/text()")) == [
        "false",
        "false",
        "true",
        "true",
    ]


def test_zero_rate_is_zero_rated_or_exempt_with_its_reason() -> None:
    invoice, _ = documents()["three rates, exempt"]
    zero_rated = einvoice.build_cii(invoice, EInvoiceOptions())
    exempt = einvoice.build_cii(invoice, EXEMPT)
    categories = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()"
    assert sorted(xpath(zero_rated, categories)) == ["S", "S", "Z"]
    assert sorted(xpath(exempt, categories)) == ["E", "S", "S"]
    assert xpath(zero_rated, "//ram:ExemptionReason/text()") == []
    assert xpath(exempt, "//ram:ExemptionReason/text()") == [EXEMPT.exemption_reason]
    assert xpath(exempt, "//ram:ExemptionReasonCode/text()") == ["VATEX-EU-132"]
    data = pdf_module.render_pdf(invoice, pdf_module.RenderOptions(einvoice=EXEMPT), xml=exempt)
    assert "§ 4 Nr. 14 UStG" in text_of(data)


def test_the_pdf_shows_what_the_xml_says() -> None:
    invoice, _ = documents()["b2b invoice"]
    data, _ = render(invoice)
    text = text_of(data)
    for expected in (
        "Lieferdatum",  # date of supply (BT-72)
        "03.03.2026",
        "Käuferreferenz",
        "04011000-12345-34",
        "Müller & Söhne GmbH",
        "z. Hd. Jörg Müller",
        "Hauptstraße 12",
        "USt-IdNr.: DE136695976",
        "LIEFERANSCHRIFT",
        "Calle Mayor 5",
        "Zahlungsreferenz: pi_3NxYz",
    ):
        assert expected in text, expected


def test_factur_x_pdfs_are_deterministic_and_receipts_stay_plain() -> None:
    invoice, _ = documents()["invoice"]
    assert render(invoice) == render(invoice)
    with pytest.raises(ValueError, match="receipts"):
        from chalicelib.documents.invoice import build_receipt

        order = paid_order()
        receipt = build_receipt(
            order, order.payments[0], seller=SELLER, number="RCT-1", issued_at=AT, invoice_number=None
        )
        pdf_module.render_pdf(receipt, xml=b"<x/>")


def test_other_currencies_use_their_own_digits() -> None:
    order = paid_order(discount=0, shipping_fee=500)
    order.currency = "JPY"
    invoice = build_invoice(order, seller=SELLER, number="INV-2026-000009", issued_at=AT)
    data, xml = render(invoice)
    assert conformance_problems(xml, data) == []
    assert xpath(xml, "//ram:ChargeTotalAmount/text()") == ["500"]


def test_the_validator_fails_closed_on_a_wrong_total() -> None:
    invoice, _ = documents()["invoice"]
    xml = einvoice.build_cii(invoice, EInvoiceOptions())
    grand = xpath(xml, "//ram:GrandTotalAmount/text()")[0]
    tampered = xml.replace(f"<ram:GrandTotalAmount>{grand}<".encode(), b"<ram:GrandTotalAmount>1.00<")
    rules = {failure.rule for failure in validation.fatal(validation.schematron_failures(tampered))}
    assert {"BR-CO-15", "BR-CO-16"} <= rules
    with pytest.raises(TotalsMismatchError, match="grand_total"):
        check_totals(tampered, invoice, EInvoiceOptions())
    assert validation.xsd_errors(xml.replace(b"<ram:TypeCode>380", b"<ram:Bogus>380</ram:Bogus><ram:TypeCode>380"))


def test_a_totals_mismatch_issues_nothing_alarms_and_a_retry_keeps_the_number() -> None:
    records, pdfs = InMemoryDocumentRecords(), FakePdfStore()
    alarms: list[str] = []
    broken = True

    def renderer(document: Document) -> Rendered:
        xml = einvoice.build_cii(document, EInvoiceOptions()) if isinstance(document, Invoice | CreditNote) else None
        if broken and xml is not None:  # a mapping bug: the XML forgets the VAT of a rate
            root = etree.fromstring(xml)
            path = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount"
            root.xpath(path, namespaces=NS)[0].text = "0.00"
            xml = etree.tostring(root)
        return Rendered(b"%PDF fake", xml)

    service = DocumentService(records, pdfs, FixedClock(), SELLER, renderer=renderer, alarm=alarms.append)
    order = paid_order()
    with pytest.raises(TotalsMismatchError):
        service.issue_for_payment(order)
    (record,) = records.documents.values()
    assert not record.pdf_stored and pdfs.puts == 0 and pdfs.xml_puts == 0
    assert alarms == [TOTALS_MISMATCH_METRIC]
    broken = False
    invoice, _receipt = service.issue_for_payment(order)
    assert invoice.number == record.number and invoice.pdf_stored
    assert pdfs.xml_puts == 1 and pdfs.puts == 2


def test_a_cold_container_s_concurrent_first_invoices_compile_the_xsd_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """libxml2's schema parser run twice at once fails ("… not a built-in type"): only one thread compiles."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    compiled: list[str] = []
    start = threading.Barrier(4)

    def slow_compile(file: str) -> object:
        compiled.append(file)
        time.sleep(0.05)  # the window in which another thread would miss the cache too
        return object()

    einvoice._compiled_xsd.cache_clear()
    monkeypatch.setattr(etree, "XMLSchema", slow_compile)
    try:
        with ThreadPoolExecutor(4) as pool:
            schemas = list(pool.map(lambda _: (start.wait(timeout=5), einvoice._xsd())[1], range(4)))
    finally:
        einvoice._compiled_xsd.cache_clear()
    assert len(compiled) == 1 and len({id(schema) for schema in schemas}) == 1


def test_the_api_function_does_not_import_xml_tooling() -> None:
    import subprocess
    import sys

    heavy = ("saxonche", "lxml", "drafthorse", "facturx", "pypdf", "stdnum")
    code = f"import sys, app; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_the_alarm_metric_is_an_emf_count_in_the_ordercare_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from chalicelib.observability import emit_count

    emit_count(TOTALS_MISMATCH_METRIC)
    emf = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "OrderCare" and directive["Dimensions"] == [["service"]]
    assert emf[TOTALS_MISMATCH_METRIC] == [1.0] and emf["service"] == "ordercare"


def test_issuing_needs_nothing_the_package_prunes() -> None:
    """Rendering an e-invoice imports neither the test tooling nor the parts of lxml the package drops."""
    import subprocess
    import sys

    code = """
import sys
from tests.document_fakes import AT, SELLER, paid_order, fake_render
from chalicelib.documents.invoice import build_invoice
from chalicelib.services.documents import _default_renderer
from chalicelib.documents.einvoice import EInvoiceOptions
invoice = build_invoice(paid_order(), seller=SELLER, number="INV-1", issued_at=AT)
rendered = _default_renderer("A4", "Europe/Berlin", EInvoiceOptions())(invoice)
assert rendered.pdf.startswith(b"%PDF") and rendered.xml
pruned = ("saxonche", "facturx", "requests", "lxml.objectify", "lxml.html", "lxml.isoschematron")
print(sorted(name for name in sys.modules if name.startswith(pruned)))
"""
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_e_invoice_settings_from_the_environment() -> None:
    from chalicelib.settings import Settings

    settings = Settings.from_env(
        {
            "OC_ZERO_RATE_CATEGORY": "e",
            "OC_VAT_EXEMPTION_REASON": "Steuerfrei nach § 4 Nr. 14 UStG",
            "OC_VAT_EXEMPTION_CODE": "VATEX-EU-132",
            "OC_SELLER_COUNTRY": "at",
            "OC_SELLER_IBAN": "DE02120300000000202051",
        }
    )
    assert (settings.zero_rate_category, settings.seller_country) == ("E", "AT")
    assert settings.vat_exemption_code == "VATEX-EU-132" and settings.seller_iban.startswith("DE02")
    assert Settings.from_env({}).zero_rate_category == "Z"
    with pytest.raises(ValueError, match="EXEMPTION_REASON"):
        Settings.from_env({"OC_ZERO_RATE_CATEGORY": "E"})
    with pytest.raises(ValueError, match=r"Z \(zero rated\) or E"):
        Settings.from_env({"OC_ZERO_RATE_CATEGORY": "X"})


def test_bank_transfers_state_the_payee_iban_or_no_instrument() -> None:
    order = paid_order()
    order.payments[0] = replace(order.payments[0], method="bank_transfer")
    invoice = build_invoice(order, seller=SELLER, number="INV-2026-000010", issued_at=AT)
    with_iban = einvoice.build_cii(invoice, EInvoiceOptions(seller_iban="DE02120300000000202051"))
    assert xpath(with_iban, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()") == ["58"]
    assert xpath(with_iban, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID/text()") == ["DE02120300000000202051"]
    without = einvoice.build_cii(invoice, EInvoiceOptions())
    assert xpath(without, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()") == ["1"]
    assert conformance_problems(with_iban) == [] and conformance_problems(without) == []
