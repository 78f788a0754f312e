"""Invoice PDF rendering: ours (fpdf2 + bundled DejaVu Sans) against WeasyPrint (what Saleor uses).

Both render the same 10-line invoice — same wording, numbers and layout blocks,
the same DejaVu Sans TTFs embedded (WeasyPrint through @font-face) — in the same
process, interleaved, after one warm-up each; the figure is the ratio of medians.

Our renderer caches the font subset per glyph set (a warm container renders most
invoices from the same letters and digits); `invoice_pdf_cold_ms` is the render
time with that cache emptied before every run, i.e. a document whose glyph set
was never seen — reported so the warm figure is not mistaken for the worst case.
"""

from __future__ import annotations

import html
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.documents.invoice import Invoice, Party, build_invoice
from chalicelib.domain.address import Address
from chalicelib.domain.orders import Customer, Discount, Order, OrderLine, OrderStatus, Payment

RUNS = 15
AT = datetime(2026, 3, 3, 10, 15, tzinfo=UTC)
SELLER = Party(
    "OrderCare Demo Shop GmbH",
    ("Musterstraße 1", "10115 Berlin", "Germany"),
    vat_id="DE123456789",
    email="billing@ordercare.local",
    country="DE",
    postal=Address("OrderCare Demo Shop GmbH", "Musterstraße 1", "Berlin", "10115", "DE"),
)
NAMES = (
    "Ceramic mug „Zoë“",
    "Cookbook: Ñúñez' kitchen",
    "Tea towel (linen) — Müller edition",
    "Алексей's notebook",
    "Espresso cups, set of 4 with saucers",
    "Gift card ₹ / ¥ / £",
    "Coffee beans 1 kg",
    "Milk frother",
    "Reusable straw",
    "Chocolate bar",
)


def sample_invoice() -> Invoice:
    """A paid order with 10 lines at 19 %, 7 % and 0 %, a discount and shipping."""
    lines = [
        OrderLine(f"SKU-{i + 1:03d}", 1 + i % 3, 499 + 731 * i, (1900, 700, 1900, 0)[i % 4], NAMES[i])
        for i in range(10)
    ]
    order = Order(
        id="ord_01JNRX4W6Q8Z2Y5V3T1M0KCBAD",
        customer=Customer("cus_1", "zoe@example.com", "Zoë Ñúñez", None, "de-DE"),
        currency="EUR",
        lines=lines,
        shipping_address=Address("Zoë Ñúñez", "Calle Mayor 5, 3º B", "Madrid", "28013", "ES"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[Discount("WELCOME10", 1000)],
        placed_at=AT,
        ship_by=AT,
        deliver_by=AT,
        status=OrderStatus.PAID,
    )
    order.payments.append(Payment(order.totals.total, "card", "pi_3NxYz", AT))
    return build_invoice(order, seller=SELLER, number="INV-2026-000123", issued_at=AT)


def invoice_html(invoice: Invoice) -> str:
    """The same invoice as an HTML page for WeasyPrint, with the same strings and fonts."""
    from chalicelib.documents.pdf import FONT_FILES, _Format

    fmt = _Format(invoice.locale, "Europe/Berlin", invoice.currency)
    e = html.escape
    seller = invoice.seller
    rows = []
    for row in invoice.rows:
        description = row.description
        if row.kind == "discount":
            description = f"{fmt.label('discount')} {row.description}"
        elif row.kind == "shipping":
            description = f"{fmt.label('shipping')} ({row.description})"
        cells = [
            row.sku or "",
            description,
            str(row.quantity or ""),
            fmt.amount(row.unit_price) if row.unit_price is not None else "",
            fmt.rate(row.tax_rate_bps),
            fmt.amount(row.net),
            fmt.amount(row.tax),
        ]
        rows.append("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in cells) + "</tr>")
    totals = [
        (fmt.label("subtotal"), fmt.amount(invoice.subtotal)),
        (fmt.label("discounts"), fmt.amount(-invoice.discount_total)),
        (fmt.label("shipping"), fmt.amount(invoice.shipping_fee)),
        (fmt.label("net_total"), fmt.amount(invoice.net_total)),
        *(
            (fmt.label("vat_on", rate=fmt.rate(t.rate_bps), net=fmt.amount(t.net)), fmt.amount(t.tax))
            for t in invoice.taxes
        ),
    ]
    total_rows = "".join(f"<tr><td>{e(label)}</td><td>{e(value)}</td></tr>" for label, value in totals)
    headers = "".join(
        f"<th>{e(fmt.label(key))}</th>"
        for key in ("sku", "description", "qty", "unit_price", "vat", "net", "vat_amount")
    )
    footer = " · ".join([seller.name, *seller.address, f"{fmt.label('vat_id')} {seller.vat_id}", seller.email or ""])
    return f"""<!doctype html><html lang="{fmt.language}"><head><meta charset="utf-8"><style>
@font-face {{ font-family: "DejaVu Sans Bench"; src: url("{FONT_FILES[""].as_uri()}"); font-weight: normal; }}
@font-face {{ font-family: "DejaVu Sans Bench"; src: url("{FONT_FILES["B"].as_uri()}"); font-weight: bold; }}
@page {{ size: A4; margin: 16mm 18mm 22mm 18mm;
  @bottom-left {{ content: "{e(footer)}"; font: 7.2pt "DejaVu Sans Bench"; color: #6c757d; }}
  @bottom-right {{ content: "Seite " counter(page) " von " counter(pages); font: 7.2pt "DejaVu Sans Bench"; }} }}
body {{ font-family: "DejaVu Sans Bench"; font-size: 9pt; color: #212529; }}
.head {{ display: flex; justify-content: space-between; }}
h1 {{ color: #1d4e89; font-size: 20pt; margin: 0; text-align: right; }}
.muted {{ color: #6c757d; }}
table {{ width: 100%; border-collapse: collapse; }}
.rows th {{ background: #f1f3f5; color: #6c757d; font-size: 8pt; text-align: left; padding: 1.2mm; }}
.rows td {{ border-bottom: 0.2mm solid #ced4da; padding: 1.2mm; font-size: 8.8pt; }}
.rows td:nth-child(n+3) {{ text-align: right; }}
.totals {{ width: 92mm; margin-left: auto; margin-top: 4mm; }}
.totals td:last-child {{ text-align: right; }}
.grand td {{ font-weight: bold; font-size: 10.5pt; border-top: 0.4mm solid #212529; }}
</style></head><body>
<div class="head"><div><b style="font-size:14pt">{e(seller.name)}</b><br>
<span class="muted">{"<br>".join(e(line) for line in seller.address)}<br>
{e(fmt.label("vat_id"))}: {e(seller.vat_id or "")}<br>{e(seller.email or "")}</span></div>
<div><h1>{e(fmt.label("invoice"))}</h1><table>
<tr><td class="muted">{e(fmt.label("invoice_no"))}</td><td><b>{e(invoice.number)}</b></td></tr>
<tr><td class="muted">{e(fmt.label("date"))}</td><td><b>{e(fmt.medium_date(invoice.issued_at))}</b></td></tr>
<tr><td class="muted">{e(fmt.label("order_no"))}</td><td><b>{e(invoice.order_id)}</b></td></tr></table></div></div>
<p><span class="muted" style="font-size:7.5pt"><b>{e(fmt.label("bill_to").upper())}</b></span><br>
<b>{e(invoice.buyer.name)}</b><br>{"<br>".join(e(line) for line in invoice.buyer.address[1:])}<br>
{e(fmt.country(invoice.buyer.country or ""))}</p>
<table class="rows"><thead><tr>{headers}</tr></thead><tbody>{"".join(rows)}</tbody></table>
<table class="totals">{total_rows}<tr class="grand"><td>{e(fmt.label("total"))}</td>
<td>{e(fmt.amount(invoice.total))}</td></tr></table>
<p class="muted">{e(fmt.label("paid_note", method=fmt.method(invoice.paid_with or "")))}<br>
{e(fmt.label("currency_note", currency=invoice.currency))}</p>
</body></html>"""


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(function: Callable[[], bytes]) -> tuple[float, bytes]:
    start = time.perf_counter()
    data = function()
    return time.perf_counter() - start, data


def run() -> list[str]:
    from chalicelib.documents import pdf

    invoice = sample_invoice()
    ours = lambda: pdf.render_pdf(invoice)  # noqa: E731
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as error:  # Pango missing: say so rather than fail the bench run
        return [f"invoice_vs_weasyprint: unavailable ({type(error).__name__}: {error})"]
    page = invoice_html(invoice)
    theirs = lambda: bytes(HTML(string=page).write_pdf())  # noqa: E731

    def cold() -> bytes:
        pdf._subset_font.cache_clear()
        return pdf.render_pdf(invoice)

    from chalicelib.documents.einvoice import EInvoiceOptions, build_cii, check_totals

    options = EInvoiceOptions()

    def facturx() -> bytes:
        """What issuing costs: the CII XML (XSD-checked), the totals cross-check, the PDF/A-3 embedding it."""
        xml = build_cii(invoice, options)
        check_totals(xml, invoice, options)
        return pdf.render_pdf(invoice, xml=xml)

    _, our_pdf = _time(ours)  # warm-up: imports, parsed fonts
    _, their_pdf = _time(theirs)
    _, facturx_pdf = _time(facturx)
    our_times: list[float] = []
    their_times: list[float] = []
    cold_times: list[float] = []
    facturx_times: list[float] = []
    for _ in range(RUNS):
        our_times.append(_time(ours)[0])
        their_times.append(_time(theirs)[0])
        cold_times.append(_time(cold)[0])
        facturx_times.append(_time(facturx)[0])
    ours_ms, theirs_ms, cold_ms = _median_ms(our_times), _median_ms(their_times), _median_ms(cold_times)
    facturx_ms = _median_ms(facturx_times)
    return [
        f"invoice_facturx_ms: {facturx_ms:.1f} (CII XML + totals check + PDF/A-3 with factur-x.xml embedded)",
        f"invoice_facturx_vs_weasyprint: {facturx_ms / theirs_ms:.3f} (bar <= 0.1)",
        f"invoice_facturx_bytes: {len(facturx_pdf)}",
        f"invoice_pdf_ms: {ours_ms:.1f}",
        f"invoice_pdf_cold_ms: {cold_ms:.1f} (font subset not cached)",
        f"invoice_weasyprint_ms: {theirs_ms:.1f}",
        f"invoice_vs_weasyprint: {ours_ms / theirs_ms:.3f} (bar <= 0.1)",
        f"invoice_vs_weasyprint_cold: {cold_ms / theirs_ms:.3f}",
        f"invoice_pdf_bytes: {len(our_pdf)}",
        f"invoice_weasyprint_bytes: {len(their_pdf)}",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
